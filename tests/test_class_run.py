"""A class run end to end with a roster of several students per group, adjustments and --only: no model runs (the
groups committed their answers and logs, so `preview` grades them from those), so it takes seconds per group."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import pdf_text
from tests.test_classroom import recorded_group

FILES = ("gradebook.csv", "students.csv", "canvas.csv", "moodle.csv", "classroom.csv")


def a_class(tmp_path: Path) -> tuple[Path, Path]:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("Team Alpha", "team-b"):
        shutil.move(recorded_group(tmp_path, name), subs / name)
    roster = tmp_path / "roster.csv"
    lines = ["identifier,github_username,email,name,group"]
    for n, group in enumerate(["Team alpha"] * 3 + ["team-b"] * 3 + ["team-c"] * 3):
        lines.append(f"{n},gh{n},s{n}@uni.example,Student {n},{group}")
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return subs, roster


@pytest.mark.slow
def test_a_class_with_a_roster_adjustments_and_only(tmp_path: Path) -> None:
    from grader.config import RunSettings
    from grader.running import pipeline

    subs, roster = a_class(tmp_path)
    out = tmp_path / "out"
    settings = RunSettings(out=out, preview=True)
    rows = {r.group: r for r in pipeline.run(subs, settings, roster=roster)}
    assert {g: r.status for g, r in rows.items()} == {"Team Alpha": "graded", "team-b": "graded", "team-c": "missing"}
    assert rows["team-c"].max_total == 19 and sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "Team_Alpha",
        "team-b",
        "team-c",
    ]
    notes = json.loads((out / "batch.json").read_text())["notes"]
    assert "roster group 'Team alpha' is the folder 'Team Alpha' (the names differ only in case or spacing)" in notes
    with (out / "students.csv").open(encoding="utf-8") as fh:
        students = {s["email"]: s for s in csv.DictReader(fh)}
    assert students["s0@uni.example"]["points"] == f"{rows['Team Alpha'].total:g}"
    assert students["s6@uni.example"]["status"] == "missing" and students["s6@uni.example"]["max_points"] == "19"
    assert json.loads((out / "batch.json").read_text())["graded_now"] == 3
    before = {name: (out / name).read_bytes() for name in FILES}

    (out / "adjustments.csv").write_text("group,kind,points,reason\nteam-b,late,-2,submitted 3 days late\n")
    only = {r.group: r for r in pipeline.run(subs, settings.model_copy(update={"only": ("team-b",)}), roster=roster)}
    assert only["team-b"].total == pytest.approx(rows["team-b"].total - 2)
    assert only["team-b"].adjustments == ["late -2: submitted 3 days late"]
    for name in FILES:
        old = _by_group(before[name].decode(), name)
        new = _by_group((out / name).read_text(encoding="utf-8"), name)
        changed = {g for g in old.keys() | new.keys() if old.get(g) != new.get(g)}
        assert changed == {"team-b"}, (name, changed)
    results = json.loads((out / "team-b" / "results.json").read_text())
    assert results["grade"]["adjustments"][0]["where"] == "adjustments.csv:2"
    assert "adjustment: late" in pdf_text(out / "team-b" / "report.pdf")
    assert json.loads((out / "batch.json").read_text())["graded_now"] == 1

    pipeline.run(subs, settings.model_copy(update={"only": ("Team Alpha",)}), roster=roster)  # nothing changed
    batch = json.loads((out / "batch.json").read_text())
    assert (batch["graded_now"], batch["reused"]) == (0, 1)  # its stored report stands: not counted as graded now


def _by_group(text: str, name: str) -> dict[str, list[str]]:
    """The lines of an output file by the group they belong to (students' files: by the student's group)."""
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    student_group = {f"s{n}@uni.example": g for n, g in enumerate(["Team Alpha"] * 3 + ["team-b"] * 3 + ["team-c"] * 3)}
    found: dict[str, list[str]] = {}
    for line in lines[1:]:
        row = dict(zip(header, next(csv.reader(io.StringIO(line))), strict=True))
        if name == "canvas.csv":
            points_row = row["Student"].strip() == "Points Possible"
            group = "points-row" if points_row else student_group[f"s{row['SIS User ID']}@uni.example"]
        elif name == "moodle.csv":
            group = student_group[row["Email address"]]
        else:
            group = row.get("group") or row.get("group_name") or ""
        found.setdefault(group, []).append(line)
    return found
