"""What a group's files can make grader do is bounded by grader's caps, not by the files: logs are thinned at read
time, tables shown bounded, forged TensorBoard records and adapter configs that PEFT would choke on are refused with
the field named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader import adapter
from tests.conftest import EXAMPLES, pdf_text, report_data


def test_a_huge_trainer_state_is_thinned_when_read_and_said(tmp_path: Path) -> None:
    group = tmp_path / "g"
    group.mkdir()
    history = [{"step": s, "loss": 3.0 - s * 1e-5, "learning_rate": 2e-4} for s in range(1, 50_001)]
    state = {"global_step": 50_000, "logging_steps": 1, "log_history": [*history, {"step": 50_000, "train_loss": 2.5}]}
    (group / "trainer_state.json").write_text(json.dumps(state))
    logs = adapter.group_logs(group)
    assert len(logs.log) == adapter.MAX_LOG_POINTS and logs.log[0].step == 1 and logs.log[-1].step == 50_000
    assert logs.train_loss == 2.5
    assert any("logs 50,001 entries: 2,000 of them, evenly spaced, are kept" in s for s in logs.sources)
    assert len(logs.model_dump_json()) < 200_000  # the record stays small whatever the file held


def test_the_reports_step_table_is_bounded(tmp_path: Path) -> None:
    from grader import render
    from grader.layout import Layout

    data = report_data(tmp_path, steps=500)
    render.run(data, Layout(tmp_path / "out"), "g")
    text = " ".join(pdf_text(tmp_path / "out" / "g" / "report.pdf").split())
    assert "… 440 more logged steps: every one is in the plot above and in train.json" in text


def test_tensorboard_records_with_a_bad_checksum_are_not_evidence(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "course-group" / "W5_materials" / "logs", group / "logs")
    events = next((group / "logs").iterdir())
    good = adapter.tfevents_scalars(events, group)
    assert good.get("train/train_loss")
    data = bytearray(events.read_bytes())
    data[-1] ^= 0xFF  # the last record's data checksum: what a hand-made file gets wrong
    events.write_bytes(bytes(data))
    forged = adapter.tfevents_scalars(events, group)
    assert adapter.BAD_CHECKSUM in forged
    logs = adapter.group_logs(group)
    assert any("fails TensorBoard's checksum" in s and "not read as evidence" in s for s in logs.sources)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("lora_dropout", 5, "lora_dropout = 5 is not a number >= 0 and < 1"),
        ("lora_alpha", 1e30, "lora_alpha = 1e+30 is not a number > 0 and <= 4096"),
        ("use_rslora", "yes", "use_rslora = 'yes' is not true or false"),
        ("bias", "all", "bias = 'all': only 'none' is loaded"),
        ("use_dora", True, "DoRA adapters carry magnitude vectors"),
        ("modules_to_save", ["lm_head"], "modules_to_save is set"),
        ("r", 0, "r = 0 is not an integer between 1 and 1024"),
    ],
)
def test_adapter_config_values_are_checked_field_by_field(tmp_path: Path, field: str, value: object, said: str) -> None:
    folder = tmp_path / "g" / "adapter"
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj"]}
    (folder / "adapter_config.json").write_text(json.dumps({**config, field: value}))
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 2048)  # never reached: the config is refused first
    with pytest.raises(adapter.AdapterRefused, match=r"adapter_config\.json: ") as refused:
        adapter.check(folder, tmp_path / "g", None)
    assert said in str(refused.value)
    committed = adapter.committed(tmp_path / "g")
    assert committed is not None and not committed.usable and said in committed.problem
