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

    from grader import cotrain, pipeline
    from grader.config import RunSettings
    from tests.test_pipeline import small_class

    subs = small_class(tmp_path, copy_example, {"a": "good-group", "b": "weak-group"})

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(cotrain, "_round", out_of_memory)
    rows = {r.group: r for r in pipeline.run(subs, RunSettings(out=tmp_path / "out", max_new_tokens=8))}
    assert {r.status for r in rows.values()} == {"graded"}
    notes = json.loads((tmp_path / "out" / "batch.json").read_text())["notes"]
    assert any(n.startswith("co-training stopped (OutOfMemoryError") for n in notes), notes
    assert not any(n.startswith("co-trained") for n in notes), notes
