"""The course's training script, read as data: values with their lines, never run."""

from __future__ import annotations

from pathlib import Path

from grader.reading import course_script
from tests.conftest import EXAMPLES

COURSE_SCRIPT = EXAMPLES / "course-group" / "W5_materials" / "LoRA_fine_Tuning.py"


def test_the_course_scripts_constants_and_training_arguments() -> None:
    found = course_script.parse(COURSE_SCRIPT.read_text(encoding="utf-8"))
    values = {k: (v.value, v.line) for k, v in found.values.items()}
    lines = COURSE_SCRIPT.read_text(encoding="utf-8").splitlines()
    assert values["include_mlp"][0] is True and lines[values["include_mlp"][1] - 1] == "INCLUDE_MLP = True"
    assert values["learning_rate"][0] == 3e-4 and lines[values["learning_rate"][1] - 1] == "LR = 3e-4"
    assert values["lora_r"][0] == 8 and values["max_length"][0] == 1024
    assert values["gradient_accumulation_steps"][0] == 16 and values["per_device_train_batch_size"][0] == 1
    # literal keywords of TrainingArguments(...) and the closing smoke test's generate(...)
    assert values["logging_steps"][0] == 20 and values["warmup_ratio"][0] == 0.03 and values["bf16"][0] is True
    assert values["lr_scheduler_type"][0] == "cosine" and values["max_new_tokens"][0] == 200
    assert "warmup_ratio=0.03" in lines[values["warmup_ratio"][1] - 1]
    assert values["load_in_4bit"][0] is True
    # Windows paths of the student's PC: only their last component is used
    assert found.paths["DATA_PATH"][0] == "all.jsonl" and found.paths["OUT_ADAPT"][0] == "week5_lora_v01"
    assert found.problems == [] and found.conflicts == []


def test_computed_values_are_named_not_guessed_and_nothing_runs(tmp_path: Path) -> None:
    canary = tmp_path / "ran"
    source = (
        f"import pathlib\npathlib.Path({str(canary)!r}).write_text('x')\n"
        "base = 1e-4\nLR = base * 2\nLORA_R = 8\n"
        "args = TrainingArguments(learning_rate=LR, logging_steps=5, num_train_epochs=int('3'))\n"
    )
    found = course_script.parse(source)
    assert not canary.exists()
    assert "learning_rate" not in found.values and found.values["lora_r"].value == 8
    assert found.values["logging_steps"].value == 5
    messages = {line: message for line, message, _ in found.problems}
    assert "LR = base * 2 is computed" in messages[4]
    assert any("num_train_epochs=int('3')" in m for m in messages.values())


def test_a_literal_keyword_wins_over_the_constant_and_says_so() -> None:
    found = course_script.parse("LR = 2e-4\nTrainingArguments(learning_rate=5e-5)\n")
    assert found.values["learning_rate"].value == 5e-5 and found.values["learning_rate"].line == 2
    assert "learning_rate" in found.conflicts[0][1] and "5e-05" in found.conflicts[0][1]


def test_broken_python_is_one_problem() -> None:
    found = course_script.parse("LR = 2e-4\ndef broken(:\n")
    assert found.values == {} and len(found.problems) == 1
    line, message, _ = found.problems[0]
    assert line == 2 and "not valid Python" in message
    assert course_script.parse("[" * 100_000).problems  # deep nesting: a message, not a crash


def test_the_value_python_would_use_and_every_unsure_place_said() -> None:
    """`LR *= 10`, `if True:`, `**{...}` are certain and worked out as Python would; a value set under a real condition,
    `**kwargs`, a star import or a constant changed after the call that used it is said as unsure, with its line."""
    from grader.reading import course_script

    source = "\n".join(
        [
            "LR = 2e-4",  # 1
            "EPOCHS = 1",  # 2
            "BATCH = 1",  # 3
            "if True:",  # 4
            "    EPOCHS = 5",  # 5
            "if torch.cuda.is_available():",  # 6
            "    BATCH = 4",  # 7
            "LR *= 10",  # 8
            "from course_config import *",  # 9
            'args = TrainingArguments(learning_rate=LR, **{"logging_steps": 7})',  # 10
            "LORA_R = 8",  # 11
            "cfg = LoraConfig(r=LORA_R, **extra)",  # 12
            "LORA_R = 32",  # 13
        ]
    )
    found = course_script.parse(source)
    values = {k: (v.value, v.line) for k, v in found.values.items()}
    assert values["learning_rate"] == (2e-3, 8) and values["num_train_epochs"] == (5, 5)
    assert values["per_device_train_batch_size"] == (1, 3) and values["logging_steps"] == (7, 10)
    assert values["lora_r"] == (8, 11)  # what LoraConfig saw at line 12, not the later 32
    unsure = dict(found.unsure)
    assert unsure[7].startswith("unsure: BATCH is also set inside the if block at line 6 (line 7); grader uses 1")
    assert "`from course_config import *` may set any constant" in unsure[9]
    assert "LoraConfig(**extra) at line 12: its values cannot be read" in unsure[12]
    assert "LORA_R changes to 32 at line 13, after LoraConfig(...) at line 12 used it" in unsure[13]
    assert (8, "LR becomes 0.002 at line 8 (as Python computes it)") in found.notes


def test_a_script_bomb_is_said_with_a_reason_and_thousands_of_conflicts_are_folded(tmp_path) -> None:
    from grader.reading import course_script, part_a_values
    from grader.records import Parts, Problem

    bomb = course_script.parse("x = " + "(" * 5000 + ")" * 5000)
    assert bomb.problems and bomb.problems[0][1].startswith("is not valid Python (") and "()" not in bomb.problems[0][1]
    many = "\n".join(f"a{i} = TrainingArguments(learning_rate={i + 1}e-5)" for i in range(3000))
    (tmp_path / "train_lora.py").write_text(many)
    problems: list[Problem] = []
    part_a_values.collect(tmp_path, Parts(scripts=["train_lora.py"]), problems)
    said = [p for p in problems if p.code == "script"]
    assert len(said) == course_script.MAX_UNSURE + 1 and said[-1].message.startswith("and 2949 more conflicting values")


def test_a_main_block_runs_and_a_later_computed_value_is_said() -> None:
    from grader.reading import course_script

    found = course_script.parse(
        'EPOCHS = 3\nEPOCHS = int(os.environ.get("EPOCHS", 5))\nif __name__ == "__main__":\n    LR = 1e-4\n'
        "    args = TrainingArguments(learning_rate=LR)\n"
    )
    assert found.values["learning_rate"].value == 1e-4 and found.values["num_train_epochs"].value == 3
    assert found.unsure == [
        (
            2,
            'unsure: EPOCHS is computed again at line 2 (`int(os.environ.get("EPOCHS", 5))`), which cannot be worked '
            "out without running the script; grader uses 3 from line 1",
        )
    ]
