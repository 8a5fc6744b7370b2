"""Groups that handed in nothing (reading/submitted): their own status, a short report, and a run that still exits 0."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from grader.cli import app
from grader.reading import discover, submitted

TEMPLATE = "# Week 5\n\nThis repository was created by GitHub Classroom. Push your work here.\n"


def test_empty_and_readme_only_folders_hold_no_work(tmp_path: Path) -> None:
    empty, readme, report = tmp_path / "empty", tmp_path / "readme", tmp_path / "report"
    for folder in (empty, readme, report):
        folder.mkdir()
    (readme / "README.md").write_text(TEMPLATE)
    (report / "README.md").write_text("## Part A\n" + "learning_rate controls the step size. " * 100)
    assert submitted.why_not(discover.find_parts(empty), empty).startswith("not submitted: the folder holds no")
    said = submitted.why_not(discover.find_parts(readme), readme)
    assert said.startswith(f"not submitted: only README.md ({len(TEMPLATE)} bytes)")
    assert submitted.why_not(discover.find_parts(report), report) == ""  # long enough to be the group's report
    (readme / "data.jsonl").write_text("{}\n")
    assert submitted.why_not(discover.find_parts(readme), readme) == ""  # broken data is work: invalid, not this


def test_a_class_run_with_groups_that_sent_nothing_exits_0(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "g-empty").mkdir(parents=True)
    (subs / "g-readme").mkdir()
    (subs / "g-readme" / "README.md").write_text(TEMPLATE)
    result = CliRunner().invoke(app, ["grade", str(subs), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        rows = {r["group"]: r for r in csv.DictReader(fh)}
    assert {g: r["status"] for g, r in rows.items()} == {"g-empty": "not-submitted", "g-readme": "not-submitted"}
    assert rows["g-readme"]["total"] == "0.0" and rows["g-readme"]["max_total"] == "19.0"
    assert (out / "g-empty" / "report.pdf").is_file()
