"""Values the course script itself would refuse (reading/script_refusals): said at their line as errors of the script,
with what grader did instead, and the group still graded."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.reading import course_script, script_refusals, validate
from tests.conftest import EXAMPLES


def test_string_rank_and_precision_are_refused_and_replaced() -> None:
    found = course_script.parse(
        'LR = "2e-4"\nLORA_R = -8\nBATCH = "2"\n'
        "args = TrainingArguments(output_dir='o', bf16=True, fp16=True, learning_rate=LR)\n"
    )
    said = script_refusals.refuse(found)
    by_line = {line: message for line, message, _ in said}
    assert "LR = '2e-4' is a string where the course script needs a number" in by_line[1]
    assert "raises TypeError" in by_line[1] and by_line[1].endswith("grader read it as the number 0.0002")
    assert by_line[2].endswith("grader trained with the course default r = 16")
    assert "BATCH = '2'" in by_line[3]
    assert "bf16 and fp16 are both True" in by_line[4] and by_line[4].endswith("grader used bf16, as the course does")
    values = {k: v.value for k, v in found.values.items()}
    assert values["learning_rate"] == 0.0002 and values["lora_r"] == 16 and values["per_device_train_batch_size"] == 2
    assert values["fp16"] is False and values["bf16"] is True


def test_a_group_whose_script_says_lr_as_a_string_is_graded_and_told(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "course-group-lfs", group)
    text = (group / "train_lora.py").read_text(encoding="utf-8")
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("LR ="))
    lines[n] = 'LR = "2e-4"'
    (group / "train_lora.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = validate.run(group, "g")
    refused = [p for p in record.problems if p.code == "script-refused"]
    assert [(p.file, p.line, p.severity) for p in refused] == [("train_lora.py", n + 1, "error")]
    assert record.status == "ok" and record.config.learning_rate == 0.0002
