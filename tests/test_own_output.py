"""A group's repository after `grader preview .`: git sees nothing new, and `grader validate .` and discovery read
only the group's work, whatever the output folder is called (grader.reading.own_output)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.reading import discover, own_output
from tests.test_classroom import recorded_group


def test_output_folders_are_known_by_their_records(tmp_path: Path) -> None:
    run = tmp_path / "anything"
    (run / "g").mkdir(parents=True)
    assert not own_output.holds_output(run)
    (run / "g" / "results.json").write_text(json.dumps({"grader_version": "0.1.0", "group": "g"}))
    (run / "g" / "discover.json").write_text("{}")
    assert own_output.is_output(run / "g") and own_output.holds_output(run)  # a run killed before batch.json
    (run / "batch.json").write_text(json.dumps({"graded_now": 1, "model_loads": 0}))
    assert own_output.is_output(run)
    student = tmp_path / "results"
    student.mkdir()
    (student / "results.json").write_text(json.dumps({"accuracy": 0.9}))  # a group's own results: theirs
    (student / "discover.json").write_text("{}")
    assert not own_output.holds_output(student)


@pytest.mark.slow
def test_preview_then_validate_reports_only_the_groups_own_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = recorded_group(tmp_path)
    git = shutil.which("git")
    if git:
        for args in (["init", "-q"], ["add", "."], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "w"]):
            subprocess.run([git, *args], cwd=group, check=True, capture_output=True)
    monkeypatch.chdir(group)
    runner = CliRunner()
    before = runner.invoke(app, ["validate", "."])
    preview = runner.invoke(app, ["preview", ".", "-q"], env={"CUDA_VISIBLE_DEVICES": ""})
    assert preview.exit_code == 0, preview.output
    assert "rubric:" in preview.output and "first fix: " in preview.output
    assert (group / "reports" / "team-7" / "report.pdf").is_file()
    after = runner.invoke(app, ["validate", "."])
    assert after.output == before.output and after.exit_code == before.exit_code == 0
    assert "group folders" not in after.output and "reports/" not in after.output
    shutil.move(group / "reports", group / "my-preview")  # recognised by its records, not by its name
    assert runner.invoke(app, ["validate", "."]).output == before.output
    parts = discover.find_parts(group)
    assert not [p for p in (*parts.data, *parts.deliverables, *parts.logs) if p.startswith("my-preview/")]
    if git:
        status = subprocess.run([git, "status", "--porcelain"], cwd=group, capture_output=True, text=True, check=True)
        assert status.stdout == ""  # the output folder's own .gitignore keeps it out
