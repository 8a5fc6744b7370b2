"""Rosters as schools and GitHub Classroom hand them out, and the per-student files LMSs import (grader.outputs.roster,
grader.outputs.exports), checked with the column rules Canvas and Moodle document for their grade imports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from grader.errors import ConfigError
from grader.layout import Layout
from grader.outputs import exports, gradebook, roster
from grader.reading import discover

GROUPS = [f"Group{n:02d}" for n in range(1, 30)] + ["Team Alpha"]  # 30 folders


def class_roster(tmp_path: Path) -> Path:
    """3 students per group for the 30 folders (one spelled 'Team alpha') and 2 groups that sent nothing."""
    lines = ["identifier,github_username,email,name,group"]
    n = 0
    for group in [*GROUPS[:-1], "Team alpha", "Group31", "Group32"]:
        for _ in range(3):
            n += 1
            lines.append(f"2024{n:03d},student{n},s{n}@uni.example,Student {n},{group}")
    path = tmp_path / "roster.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def a_class(tmp_path: Path) -> Path:
    subs = tmp_path / "subs"
    for group in GROUPS:
        (subs / group).mkdir(parents=True)
    return subs


def test_a_class_with_three_students_per_group_is_30_plus_2_groups(tmp_path: Path) -> None:
    rows = discover.read_roster(class_roster(tmp_path))
    groups = discover.run(a_class(tmp_path), rows)
    assert len(groups) == 32 and len({g.group for g in groups}) == 32
    missing = [g for g in groups if g.roster_only]
    assert [g.group for g in missing] == ["Group31", "Group32"]  # once each, not once per student
    assert "3 student(s): Student 91, Student 92, Student 93" in missing[0].message
    layout = Layout(tmp_path / "out")
    assert layout.assign([g.group for g in groups]) == {}  # no Group31-3/ folders
    alpha = [r for r in rows if r["roster_group"] == "Team alpha"]
    assert len(alpha) == 3 and {r["group"] for r in alpha} == {"Team Alpha"}  # joined to the folder, not missing
    assert rows[0]["roster_identifier"] == "2024001"


def test_unmatched_names_say_did_you_mean(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    for group in ("group-07", "group-08"):
        (subs / group).mkdir(parents=True)
    path = tmp_path / "r.csv"
    path.write_text("group_name,identifier\ngroup 7,a\ngroup-08,b\n", encoding="utf-8")
    groups = {g.group: g for g in discover.run(subs, discover.read_roster(path))}
    # "group 7" and "group-07" differ by more than case and spacing: missing, with the folder as a hint
    assert groups["group 7"].roster_only and "did you mean the folder 'group-07'?" in groups["group 7"].message


def test_bad_rosters_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("group,name\nA,kim\n,lee\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"r\.csv:3: 'group' is empty"):
        roster.read(path)
    path.write_bytes("group\n\xff\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        roster.read(path)


# --- the LMS files, read back with the rules of the systems that import them ------------------------------------


def canvas_rules(text: str, assignment: str) -> dict[str, float]:
    """Canvas' gradebook import: Student, ID, SIS User ID, SIS Login ID, Section first; an optional Points Possible
    row; every student row identified by ID, SIS User ID or SIS Login ID; grades numeric. Returns id -> grade."""
    table = list(csv.reader(io.StringIO(text)))
    header, rows = table[0], table[1:]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert header[5:] == [assignment]  # any other column would be imported as one more assignment
    if rows and rows[0][0].strip() == "Points Possible":
        float(rows[0][5])
        rows = rows[1:]
    grades = {}
    for row in rows:
        assert len(row) == len(header)
        key = row[1] or row[2] or row[3]
        assert key, row
        grades[key] = float(row[5])
    return grades


def moodle_rules(text: str, assignment: str) -> dict[str, float]:
    """Moodle's CSV grade import: a header row, one column mapped to email or ID number (unique per row), a grade
    column of plain decimals; other columns mapped (feedback) or ignored. Returns email -> grade."""
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames and {"Email address", "ID number", assignment} <= set(reader.fieldnames)
    grades = {}
    for row in reader:
        assert row["Email address"] and row["Email address"] not in grades
        grades[row["Email address"]] = float(row[assignment])
        assert "e" not in row[assignment].lower()
    return grades


def class_rows(groups: list[str]) -> list[gradebook.Row]:
    rows = []
    for n, group in enumerate(groups):
        if group in ("Group31", "Group32"):
            rows.append(gradebook.Row(group, "missing", "on the roster, but no submission folder", max_total=19))
        else:
            rows.append(gradebook.Row(group, "graded", "", total=10 + n % 9 + 0.5, max_total=19))
    rows[0].overrides = ["reflections 0 -> 2"]
    rows[0].adjustments = ["late -2: 3 days late"]
    return rows


def test_every_student_gets_their_group_grade_in_files_canvas_and_moodle_import(tmp_path: Path) -> None:
    entries = discover.read_roster(class_roster(tmp_path))
    groups = discover.run(a_class(tmp_path), entries)
    rows = class_rows([g.group for g in groups])
    layout = Layout(tmp_path / "out")
    assert gradebook.write(rows, layout, [], entries, "Week 5 LoRA") == []
    by_group = {r.group: r.total for r in rows}
    expected = {e["email"]: by_group[e["group"]] for e in entries}
    assert len(expected) == 96
    canvas = canvas_rules((layout.out / "canvas.csv").read_text(encoding="utf-8"), "Week 5 LoRA")
    assert canvas == {e["identifier"]: by_group[e["group"]] for e in entries}
    moodle = moodle_rules((layout.out / "moodle.csv").read_text(encoding="utf-8"), "Week 5 LoRA")
    assert moodle == expected
    assert moodle["s91@uni.example"] == 0  # a student of a missing group: 0, said as missing
    with (layout.out / "students.csv").open(encoding="utf-8") as fh:
        students = list(csv.DictReader(fh))
    alpha = [s for s in students if s["group"] == "Team Alpha"]
    assert len(alpha) == 3 and all(s["status"] == "graded" for s in alpha)
    assert students[0]["override"] == "reflections 0 -> 2" and students[0]["adjustments"].startswith("late -2")
    with (layout.out / "classroom.csv").open(encoding="utf-8") as fh:
        classroom = list(csv.DictReader(fh))
    assert classroom[0]["roster_identifier"] == "2024001" and classroom[0]["override"] == "reflections 0 -> 2"
    with layout.gradebook_csv.open(encoding="utf-8") as fh:
        book = list(csv.DictReader(fh))
    assert len(book) == 32 and book[0]["adjustments"] == "late -2: 3 days late"


def test_students_no_lms_can_match_are_left_out_and_said(tmp_path: Path) -> None:
    entries = [{"group": "a", "github_username": "kim"}, {"group": "a", "email": "lee@x", "identifier": "7"}]
    notes = exports.write([gradebook.Row("a", "graded", "", total=3, max_total=19)], entries, tmp_path, "W5")
    assert len(notes) == 2 and all("kim" in n for n in notes)
    assert canvas_rules((tmp_path / "canvas.csv").read_text(), "W5") == {"7": 3}
    assert moodle_rules((tmp_path / "moodle.csv").read_text(), "W5") == {"lee@x": 3}


def test_a_roster_exported_from_canvas_keeps_its_ids(tmp_path: Path) -> None:
    path = tmp_path / "canvas-roster.csv"
    path.write_text('Student,ID,SIS User ID,SIS Login ID,Section,group\n"Kim, Ji",1234,S1,kim,Sec 1,a\n')
    entries = roster.read(path)
    exports.write([gradebook.Row("a", "graded", "", total=12.25, max_total=19)], entries, tmp_path, "W5")
    table = list(csv.reader(io.StringIO((tmp_path / "canvas.csv").read_text(encoding="utf-8"))))
    assert table[2] == ["Kim, Ji", "1234", "S1", "kim", "Sec 1", "12.25"]


def test_points_are_plain_decimals() -> None:
    assert [exports.points(v) for v in (19.0, 12.5, 1 / 3, 0.0, -0.0, 1e-9)] == ["19", "12.5", "0.33", "0", "0", "0"]
