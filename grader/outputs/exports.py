"""exports: the gradebook rows and the roster -> one grade per student, in the files LMSs import without editing.

- `students.csv`: the plain per-student file (every roster column grader knows, the group, status, points, override
  and adjustments, the reason).
- `canvas.csv`: Canvas' gradebook import. Its first columns are `Student, ID, SIS User ID, SIS Login ID, Section`
  (Canvas matches a row by ID, SIS User ID or SIS Login ID), then one column named after the assignment, and the
  optional `Points Possible` row Canvas' own export has. Canvas reads every other column as one more assignment,
  so this file carries no override or reason column: those are in students.csv and moodle.csv's feedback.
- `moodle.csv`: Moodle's grade import (CSV): `Email address` and `ID number` (map "Identify user by" to either), the
  assignment column, and a `Feedback` column (map it to the item's feedback).
- `classroom.csv` (GitHub Classroom's export columns) is written by gradebook with an `override` column.

A student whose row gives an LMS nothing to match them by is left out of that LMS's file and said, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.storage import write_atomic

if TYPE_CHECKING:
    from grader.outputs.gradebook import Row

CANVAS_FIXED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas' own export spells it (leading spaces included)
MOODLE_FIXED = ("Email address", "ID number")


@dataclass(frozen=True)
class StudentGrade:
    """One student's grade: their group's row, as the roster names them."""

    identifier: str
    github_username: str
    email: str
    name: str
    group: str
    status: str
    points: float
    max_points: float
    override: str
    adjustments: str
    reason: str
    canvas: tuple[str, str, str, str]  # ID, SIS User ID, SIS Login ID, Section, when the roster came from Canvas


def points(value: float) -> str:
    """A grade as every LMS parses it: a plain decimal with a '.', at most two places, no exponent."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def students(rows: list[Row], roster: list[dict[str, str]]) -> list[StudentGrade]:
    """One grade per roster row, carrying its group's points (0 of the maximum for a missing group)."""
    by_group = {r.group: r for r in rows}
    out = []
    for entry in roster:
        r = by_group.get(entry["group"])
        out.append(
            StudentGrade(
                identifier=entry.get("identifier") or entry.get("roster_identifier", ""),
                github_username=entry.get("github_username", ""),
                email=entry.get("email", ""),
                name=entry.get("name", ""),
                group=entry["group"],
                status=r.status if r else "missing",
                points=r.total if r else 0.0,
                max_points=r.max_total if r else max((x.max_total for x in rows), default=0.0),
                override=" | ".join(r.overrides) if r else "",
                adjustments=" | ".join(r.adjustments) if r else "",
                reason=r.reason if r else "on the roster, but no group row",
                canvas=(
                    entry.get("id", ""),
                    entry.get("sis user id", "") or entry.get("identifier", ""),
                    entry.get("sis login id", ""),
                    entry.get("section", ""),
                ),
            )
        )
    return out


def write(rows: list[Row], roster: list[dict[str, str]], out: Path, assignment: str) -> list[str]:
    """students.csv, canvas.csv and moodle.csv in `out`; returns what was left out of which file, and why."""
    grades = students(rows, roster)
    write_atomic(out / "students.csv", plain_csv(grades))
    canvas, left_canvas = canvas_csv(grades, assignment)
    moodle, left_moodle = moodle_csv(grades, assignment)
    write_atomic(out / "canvas.csv", canvas)
    write_atomic(out / "moodle.csv", moodle)
    notes = []
    if left_canvas:
        notes.append(
            f"canvas.csv leaves out {len(left_canvas)} student(s) the roster gives no Canvas ID, SIS User ID or SIS "
            f"Login ID (add an 'identifier' column): {', '.join(left_canvas)}"
        )
    if left_moodle:
        notes.append(
            f"moodle.csv leaves out {len(left_moodle)} student(s) the roster gives no email or ID number: "
            + ", ".join(left_moodle)
        )
    return notes


def plain_csv(grades: list[StudentGrade]) -> bytes:
    header = ["identifier", "github_username", "email", "name", "group", "status", "points", "max_points"]
    header += ["override", "adjustments", "reason"]
    table = [
        [
            *(g.identifier, g.github_username, g.email, g.name, g.group, g.status),
            *(points(g.points), points(g.max_points), g.override, g.adjustments, g.reason),
        ]
        for g in grades
    ]
    return _csv(header, table)


def canvas_csv(grades: list[StudentGrade], assignment: str) -> tuple[bytes, list[str]]:
    """Canvas' gradebook import; the students it could not match are returned, not written."""
    top = max((g.max_points for g in grades), default=0.0)
    table: list[list[str]] = [[CANVAS_POINTS_ROW, "", "", "", "", points(top)]]
    left = []
    for g in grades:
        canvas_id, sis_user, sis_login, section = g.canvas
        if not (canvas_id or sis_user or sis_login):
            left.append(_label(g))
            continue
        table.append([g.name or g.github_username, canvas_id, sis_user, sis_login, section, points(g.points)])
    return _csv([*CANVAS_FIXED, assignment], table), left


def moodle_csv(grades: list[StudentGrade], assignment: str) -> tuple[bytes, list[str]]:
    """Moodle's grade import: identified by email or ID number, the grade, and the feedback that explains it."""
    table, left = [], []
    for g in grades:
        if not (g.email or g.identifier):
            left.append(_label(g))
            continue
        feedback = "; ".join(
            part
            for part in (
                f"{g.status}: {points(g.points)}/{points(g.max_points)} ({g.group})",
                g.adjustments and f"adjustments: {g.adjustments}",
                g.override and f"manual override: {g.override}",
                g.reason,
            )
            if part
        )
        table.append([g.email, g.identifier, points(g.points), feedback])
    return _csv([*MOODLE_FIXED, assignment, "Feedback"], table), left


def _label(g: StudentGrade) -> str:
    return g.name or g.github_username or g.email or g.identifier or f"a student of {g.group}"


def _csv(header: list[str], table: list[list[str]]) -> bytes:
    from grader.outputs.gradebook import (
        csv_bytes,  # gradebook imports this module: its CSV writer is reached at call time
    )

    return csv_bytes(header, table)
