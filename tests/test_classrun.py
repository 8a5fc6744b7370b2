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
