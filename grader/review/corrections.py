"""The instructor's corrections, saved in the formats `grader grade` reads: overrides.csv (points of one rubric item,
grade.load_overrides), part_a_cells.csv (one Part A cell, grader.review.cells), and review.json (which groups the
instructor has looked at; read by the review only). Every write is atomic (temp file + rename) and checked by the
loader that the next run uses, so a saved file is always one `grader grade` accepts.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

from grader.layout import Layout
from grader.measure import grade
from grader.review import cells
from grader.storage import write_atomic


def load_overrides(out: Path, rubric: list[grade.RubricItem], groups: list[str]) -> grade.Overrides:
    path = Layout(out).overrides_csv
    return grade.load_overrides(path, rubric, groups) if path.is_file() else {}


def set_points(
    out: Path,
    rubric: list[grade.RubricItem],
    groups: list[str],
    group: str,
    item: str,
    points: float | None,
    comment: str,
) -> grade.Overrides:
    """Set (or, `points` None, remove) the manual points of one item; returns the overrides now in force."""
    found = load_overrides(out, rubric, groups)
    found.pop((group, item), None)
    if points is not None:
        found[(group, item)] = grade.Override(group=group, item=item, points=points, comment=comment)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["group", "item", "points", "comment"])
    for o in sorted(found.values(), key=lambda o: (o.group, o.item)):
        writer.writerow([o.group, o.item, f"{o.points:g}", o.comment])
    path = Layout(out).overrides_csv
    _checked_write(path, buffer.getvalue().encode(), lambda p: grade.load_overrides(p, rubric, groups))
    return found


def load_cells(out: Path, groups: list[str]) -> cells.Cells:
    path = Layout(out).part_a_cells_csv
    return cells.load(path, groups) if path.is_file() else {}


def set_cell(out: Path, groups: list[str], cell: cells.Cell | None, group: str, parameter: str, question: str) -> None:
    """Save one cell's correction (`cell`), or remove it (None: the automatic reading counts again)."""
    found = load_cells(out, groups)
    mine = found.setdefault(group, {})
    mine.pop((parameter, question), None)
    if cell is not None:
        mine[(parameter, question)] = cell
    _checked_write(Layout(out).part_a_cells_csv, cells.dump(found), lambda p: cells.load(p, groups))


def _checked_write(path: Path, data: bytes, check: Any) -> None:
    """Written beside, read back by the loader the next run uses, then moved in place: never a file it refuses."""
    trial = path.with_name(f".{path.name}.check")
    trial.write_bytes(data)
    try:
        check(trial)
    finally:
        trial.unlink(missing_ok=True)
    write_atomic(path, data)


def reviewed(out: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(Layout(out).review_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def mark(out: Path, group: str, done: bool) -> dict[str, dict[str, Any]]:
    marks = reviewed(out)
    if done:
        marks[group] = {"reviewed": True, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    else:
        marks.pop(group, None)
    write_atomic(Layout(out).review_json, json.dumps(marks, indent=2, ensure_ascii=False).encode())
    return marks
