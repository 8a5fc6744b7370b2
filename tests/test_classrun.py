"""`grader grade` with the class engine (the default) gives the gradebook of the per-group engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from tests.conftest import EXAMPLES


@pytest.mark.slow
def test_class_and_per_group_engines_give_the_same_gradebook(tmp_path: Path, grader_cache: Path) -> None:
    books = {}
    for engine in ("per-group", "class"):
        out = tmp_path / engine
        result = CliRunner().invoke(app, ["grade", str(EXAMPLES), "--out", str(out), "--quiet", "--engine", engine])
        assert result.exit_code == 1, result.output  # the broken group fails on purpose
        books[engine] = (out / "gradebook.csv").read_text(encoding="utf-8")
        notes = json.loads((out / "batch.json").read_text())["notes"]
        if engine == "class":  # the class engine really ran: not a per-group run compared with itself
            assert any(n.startswith("co-trained 2 group(s) on one base model") for n in notes), notes
            assert any("committed adapter is checked" in n for n in notes), notes  # the fallback, with its reason
            assert any(n.startswith("answered 2 group(s) in shared mixed-adapter batches") for n in notes), notes
        else:
            assert not any("co-trained" in n for n in notes), notes
    assert books["class"] == books["per-group"]


@pytest.mark.slow
def test_a_broken_shared_run_sends_every_group_the_per_group_way(
    tmp_path: Path, copy_example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory in a co-training round: the class falls back to one group after another, graded all the
    same, and batch.json says what happened."""
    import torch

    from grader.config import RunSettings
    from grader.llm import cotrain_pass
    from grader.running import pipeline
    from tests.test_pipeline import small_class

    subs = small_class(tmp_path, copy_example, {"a": "good-group", "b": "weak-group"})

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(cotrain_pass, "shared_round", out_of_memory)  # a round of the shared run (cotrain.py)
    rows = {r.group: r for r in pipeline.run(subs, RunSettings(out=tmp_path / "out", max_new_tokens=8))}
    assert {r.status for r in rows.values()} == {"graded"}
    notes = json.loads((tmp_path / "out" / "batch.json").read_text())["notes"]
    assert any(n.startswith("co-training stopped (OutOfMemoryError") for n in notes), notes
    assert not any(n.startswith("co-trained") for n in notes), notes


@pytest.mark.slow
def test_a_run_killed_while_co_training_keeps_the_groups_that_had_finished(tmp_path: Path, copy_example) -> None:
    """SIGKILL while two groups still co-train: the group that had left the shared run keeps its adapter and
    record, and the same command again trains only the other two."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from grader.config import RunSettings
    from grader.running import pipeline
    from tests.test_pipeline import SMALL, small_class

    subs = small_class(tmp_path, copy_example, {"a1": "good-group", "b2": "good-group", "c3": "good-group"})
    for name in ("b2", "c3"):  # long enough that the kill lands while they train
        (subs / name / "config.yaml").write_text(
            "num_train_epochs: 40\nper_device_train_batch_size: 2\ngradient_accumulation_steps: 1\nmax_length: 256\n"
        )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--quiet"]
    process = subprocess.Popen(
        [*command, "--max-new-tokens", "8"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while not (out / "a1" / "train.json").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (out / "a1" / "train.json").is_file() and not (out / "b2" / "train.json").exists()
    # the groups still in the shared run lost their progress: their markers say so to the next run
    assert [(out / n / "cotraining.json").is_file() for n in ("a1", "b2", "c3")] == [False, True, True]
    kept = {p: (out / "a1" / p).stat().st_mtime_ns for p in ("train.json", "adapter/adapter_model.safetensors")}
    for name in ("b2", "c3"):
        (subs / name / "config.yaml").write_text(SMALL)
    rows = pipeline.run(subs, RunSettings(out=out, max_new_tokens=8))
    assert [r.status for r in rows] == ["graded"] * 3
    assert {p: (out / "a1" / p).stat().st_mtime_ns for p in kept} == kept  # not trained again
    notes = json.loads((out / "batch.json").read_text())["notes"]
    assert any(n.startswith("co-trained 2 group(s)") for n in notes), notes  # b2 and c3 only
    assert "b2, c3: an earlier run stopped (killed) while they co-trained, before they finished" in " ".join(notes)
    assert not any((out / n / "cotraining.json").exists() for n in ("a1", "b2", "c3"))


@pytest.mark.slow
def test_a_base_changed_during_the_shared_run_is_caught_and_every_group_redone(
    tmp_path: Path, copy_example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tripwire after the class engine's shared run: if the base's weights changed there, nothing of that run
    is kept; each group trains and answers again on a reloaded base."""
    import torch

    from grader.config import RunSettings
    from grader.llm import cotrain
    from grader.running import pipeline
    from tests.test_pipeline import small_class

    subs = small_class(tmp_path, copy_example, {"a": "good-group", "b": "weak-group"})
    real = cotrain.run

    def tampering(jobs, runtime, *args, **kwargs):  # type: ignore[no-untyped-def]
        results = real(jobs, runtime, *args, **kwargs)
        with torch.no_grad():
            runtime.model.get_input_embeddings().weight.mul_(0.5)
        return results

    monkeypatch.setattr(cotrain, "run", tampering)
    rows = {r.group: r for r in pipeline.run(subs, RunSettings(out=tmp_path / "out", max_new_tokens=8))}
    assert {r.status for r in rows.values()} == {"graded"}
    info = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert info["model_loads"] == 2, info
    assert any("changed while the class engine's shared run" in n for n in info["notes"]), info["notes"]


@pytest.mark.slow
def test_a_group_past_its_timeout_in_the_shared_run_is_timed_out_not_trained_again(
    tmp_path: Path, copy_example, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.config import RunSettings
    from grader.llm import cotrain, train
    from grader.running import pipeline
    from tests.test_pipeline import small_class

    subs = small_class(tmp_path, copy_example, {"a": "weak-group", "b": "good-group"})
    (subs / "b" / "config.yaml").write_text("num_train_epochs: 3\nper_device_train_batch_size: 8\nmax_length: 256\n")
    monkeypatch.setattr(cotrain, "_out_of_time", lambda m: m.name == "b")
    alone: list[str] = []
    solo = train.run

    def watched(name: str, *args: object, **kwargs: object) -> object:
        alone.append(name)
        return solo(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train, "run", watched)
    rows = {r.group: r for r in pipeline.run(subs, RunSettings(out=tmp_path / "out", max_new_tokens=8))}
    notes = json.loads((tmp_path / "out" / "batch.json").read_text())["notes"]
    assert rows["a"].status == "graded", notes
    assert rows["b"].status == "timeout", (notes, alone)
    assert "train did not finish within the per-group limit" in rows["b"].reason
    assert alone == []  # b's time was spent in the shared run: it is not trained again one by one
    assert any("b reached --timeout there" in n for n in notes), notes


def test_a_kill_is_said_only_for_the_training_it_lost(tmp_path: Path) -> None:
    """The marker a co-training group leaves when the run is killed: said when the group trains again (its
    config may have changed since); dropped without a word when its train record was saved after all."""
    from types import SimpleNamespace

    from grader.layout import Layout
    from grader.records import TrainRecord
    from grader.running import classrun
    from grader.storage import save, write_atomic

    layout = Layout(tmp_path)
    works = [SimpleNamespace(name=n, train_key=f"key-{n}") for n in ("lost", "saved", "changed", "clean")]
    for work in works[:3]:
        write_atomic(layout.cotraining(work.name), json.dumps({"train_key": f"key-{work.name}"}).encode())
    write_atomic(layout.cotraining("changed"), json.dumps({"train_key": "an older key"}).encode())
    save(TrainRecord(group="saved", digest="key-saved"), layout.record("saved", "train"))
    layout.adapter("saved").mkdir(parents=True)
    (layout.adapter("saved") / "adapter_model.safetensors").write_bytes(b"")

    assert classrun._interrupted(works, SimpleNamespace(layout=layout)) == ["lost", "changed"]  # type: ignore[arg-type]
    assert not any(layout.cotraining(w.name).exists() for w in works)
