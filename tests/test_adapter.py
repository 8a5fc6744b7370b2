"""Committed adapters: loaded when they fit the base model, refused (and never unpickled) otherwise."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from grader.config import RunSettings, TrainConfig
from grader.layout import Layout
from grader.llm import adapter, train
from grader.running.pipeline import run as grade_batch
from tests.conftest import EXAMPLES, TINY_TRAIN, example_samples, pdf_text


@pytest.fixture(scope="module")
def trained(runtime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real adapter trained on the demo model, as a group would commit it (with its trainer_state.json)."""
    out = tmp_path_factory.mktemp("trained")
    samples = example_samples()[:8]
    cfg = TrainConfig(**TINY_TRAIN)
    train.run("g", samples, cfg, runtime, Layout(out))
    return out / "g"


def group_with(tmp_path: Path, trained: Path) -> Path:
    subs = tmp_path / "subs"
    group = subs / "team"
    shutil.copytree(EXAMPLES / "good-group", group)
    shutil.copytree(trained / "adapter", group / "week5_lora_v01")
    shutil.copy(trained / "trainer_state.json", group / "week5_lora_v01" / "trainer_state.json")
    (group / "train_results.json").write_text(json.dumps({"train_loss": 1.2345}))
    return subs


def test_matching_adapter_is_loaded_not_retrained(tmp_path: Path, trained: Path, runtime) -> None:
    subs = group_with(tmp_path, trained)
    before = sorted(p.relative_to(subs) for p in subs.rglob("*"))
    rows = grade_batch(subs, RunSettings(out=tmp_path / "out", cache_dir=None))
    record = json.loads((tmp_path / "out" / "team" / "train.json").read_text())
    assert rows[0].status == "graded" and record["source"] == "loaded"
    assert record["train_loss"] == 1.2345 and record["log"] and record["loss_includes_prompt"]
    assert any("week5_lora_v01/ loaded" in n for n in record["notes"])
    assert (tmp_path / "out" / "team" / "adapter" / "adapter_model.safetensors").is_file()
    assert sorted(p.relative_to(subs) for p in subs.rglob("*")) == before  # nothing written into the submission
    answers = json.loads((tmp_path / "out" / "team" / "generate.json").read_text())["answers"]
    assert len(answers) == 6
    pdf = " ".join(pdf_text(tmp_path / "out" / "team" / "report.pdf").split())
    assert "committed adapter was loaded, not retrained" in pdf and "1.234" in pdf


def test_pickle_adapter_is_refused_and_never_unpickled(tmp_path: Path, trained: Path, runtime) -> None:
    subs = group_with(tmp_path, trained)
    folder = subs / "team" / "week5_lora_v01"
    (folder / "adapter_model.safetensors").unlink()
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.write_text, (marker, "unpickled"))

    (folder / "adapter_model.bin").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(adapter.AdapterRefused, match="never loaded"):
        adapter.check(folder, subs / "team", runtime.model)
    rows = grade_batch(subs, RunSettings(out=tmp_path / "out", cache_dir=None))
    record = json.loads((tmp_path / "out" / "team" / "train.json").read_text())
    assert rows[0].status == "graded" and record["source"] == "trained"
    assert any("not used" in n and "pickle" in n for n in record["notes"])
    assert not marker.exists()


def test_adapter_for_another_base_model_is_refused(tmp_path: Path, runtime) -> None:
    folder = tmp_path / "g" / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 16, "target_modules": ["q_proj"]})
    )
    save_file(
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(16, 4096)},
        str(folder / "adapter_model.safetensors"),
    )
    with pytest.raises(adapter.AdapterRefused, match="another base model"):
        adapter.check(folder, tmp_path / "g", runtime.model)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 100000}))
    with pytest.raises(adapter.AdapterRefused, match="rank"):
        adapter.check(folder, tmp_path / "g", runtime.model)


def test_group_logs_from_loss_log_csv(tmp_path: Path) -> None:
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "loss_log.csv").write_text(
        "step,epoch,loss,learning_rate\n1,0.5,2.5,0.0002\nN/A,,N/A,\n2,1.0,2.1,0.0001\n"
    )
    reported = adapter.group_logs(tmp_path)
    assert [e.loss for e in reported.log] == [2.5, 2.1] and "run1/loss_log.csv" in reported.sources[0]
    assert reported.train_loss == 2.1 and "last logged step" in reported.sources[-1]


def test_the_course_runs_logs_give_its_final_loss_and_step_count() -> None:
    """The course's 2-step run with logging_steps 20: no per-step loss anywhere, a final train_loss in three files."""
    reported = adapter.group_logs(EXAMPLES / "course-group")
    assert reported.log == [] and reported.train_loss == 2.4187
    assert reported.steps == 2 and reported.logging_steps == 20
    assert reported.sources == ["final train loss read from W5_materials/train_results.json"]
    events = next((EXAMPLES / "course-group" / "W5_materials" / "logs").glob("events.out.tfevents.*"))
    scalars = adapter.tfevents_scalars(events, EXAMPLES / "course-group")
    assert scalars["train/train_loss"] == [(2, pytest.approx(2.4187, abs=1e-4))]


def test_tensorboard_events_are_read_when_they_are_all_there_is(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "logs")) as writer:
        for step, loss in enumerate([3.1, 2.7, 2.2], start=1):
            writer.add_scalar("train/loss", loss, step)
    (tmp_path / "logs" / "events.out.tfevents.broken").write_bytes(b"\xff" * 64)  # a damaged file is skipped
    reported = adapter.group_logs(tmp_path)
    assert [round(e.loss or 0, 3) for e in reported.log] == [3.1, 2.7, 2.2]
    assert reported.train_loss == pytest.approx(2.2) and "TensorBoard" in reported.sources[0]


def test_weightless_and_lfs_adapters_are_refused_with_the_reason(tmp_path: Path, runtime) -> None:
    course = EXAMPLES / "course-group" / "W5_materials" / "week5_lora_v01"
    with pytest.raises(adapter.AdapterRefused, match="100 MB file limit"):
        adapter.check(course, EXAMPLES / "course-group", runtime.model)
    lfs = EXAMPLES / "course-group-lfs" / "week5_lora_v01"
    with pytest.raises(adapter.AdapterRefused, match="Git LFS pointer"):
        adapter.check(lfs, EXAMPLES / "course-group-lfs", None)


def test_an_adapter_without_data_is_graded_an_lfs_pointer_alone_is_invalid(tmp_path: Path, trained: Path) -> None:
    subs = tmp_path / "subs"
    only = subs / "adapter-only"
    shutil.copytree(trained / "adapter", only / "week5_lora_v01")
    (only / "train_results.json").write_text(json.dumps({"train_loss": 1.5}))
    empty = subs / "nothing"
    empty.mkdir()
    (empty / "README.md").write_text("# Week5-Assignment\n")
    lfs_only = subs / "lfs-only"
    shutil.copytree(EXAMPLES / "course-group-lfs" / "week5_lora_v01", lfs_only / "week5_lora_v01")
    rows = {r.group: r for r in grade_batch(subs, RunSettings(out=tmp_path / "out", cache_dir=None))}
    assert rows["adapter-only"].status == "graded" and rows["adapter-only"].items["adapter"] == 2
    assert rows["adapter-only"].items["data_valid"] == 0 and rows["adapter-only"].items["loss"] == 2
    assert "training data" in rows["adapter-only"].reason
    # a folder with the template README only has handed in nothing: its own status (issue 29), not a failure
    assert rows["nothing"].status == "not-submitted" and "not submitted" in rows["nothing"].reason
    assert rows["lfs-only"].status == "invalid" and "no training data" in rows["lfs-only"].reason
