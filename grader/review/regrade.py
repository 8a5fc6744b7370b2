"""Re-render one group after a correction: grade + render from its stored records (no model, no submission folder),
then the gradebook row, the class summary and the dashboard follow.

The other groups' rows are kept as gradebook.json has them (roster columns, output folders, reasons); classroom.csv
is rewritten from its own student list, so a student's points follow their group's.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from grader.config import RunSettings
from grader.errors import GraderError
from grader.layout import Layout
from grader.limits import DEFAULTS
from grader.measure import adjust, grade
from grader.outputs import gradebook
from grader.outputs.gradebook import Row
from grader.review import corrections, pages
from grader.running import pipeline
from grader.running.batch import Batch
from grader.storage import exclusive


def regrade(out: Path, group: str, rubric: Path | None = None) -> Row:
    """The group's new gradebook row, after its grade and report were made again with every saved correction.
    Holds the output folder's lock: a `grader grade` running into it meanwhile is said, not raced."""
    with exclusive(out):
        return _regrade(out, group, rubric)


def _regrade(out: Path, group: str, rubric: Path | None) -> Row:
    rows = pages.read_rows(out)
    layout = pages.layout_of(out, rows)
    names = [r.group for r in rows]
    if group not in names:
        raise GraderError(f"no group '{group}' in {layout.gradebook_json}")
    results = gradebook.read_results(layout.results(group))
    if results is None or results.discover is None:
        raise GraderError(f"{layout.results(group)} is missing or unreadable: run `grader grade` for this group first")
    items = grade.load_rubric(rubric)
    batch = Batch(
        settings=RunSettings.model_validate({"out": out, "base_model": results.base_model or DEFAULTS.base_model}),
        layout=layout,
        rubric=items,
        overrides=corrections.load_overrides(out, items, names),
        cells=corrections.load_cells(out, names),
        # the penalties and bonuses of the run stay with a corrected group (a default-path file only: the run's flag
        # is not known here)
        adjustments=adjust.load(layout.out / adjust.FILE, names) if (layout.out / adjust.FILE).is_file() else {},
    )
    # whether this run's measurements could decide points was settled by the run that measured them
    real_base = bool(results.grade and results.grade.measured_counts)
    outcome = pipeline.regrade(results, batch, real_base)
    new = outcome.records.grade
    assert new is not None
    at = names.index(group)
    rows[at] = dataclasses.replace(
        rows[at],
        total=new.total,
        max_total=new.max_total,
        items={i.id: i.points for i in new.items},
        flags=list(new.flags),
        pending=[i.id for i in new.items if i.pending],
    )
    gradebook.write(rows, layout, [item.id for item in items], _students(out))
    if len(rows) > 1:  # as `grader grade` does: a class summary of one group says nothing
        from grader.outputs import summary

        summary.write(rows, layout)
    pages.write_static(layout)
    return rows[at]


def _students(out: Path) -> list[dict[str, str]] | None:
    """The student list of classroom.csv (github_username, group, roster_identifier), when the run wrote one."""
    try:
        with Layout(out).classroom_csv.open(encoding="utf-8", newline="") as fh:
            return [
                {
                    "group": r["group_name"],
                    "github_username": r.get("github_username", ""),
                    "roster_identifier": r.get("roster_identifier", ""),
                }
                for r in csv.DictReader(fh)
            ]
    except (OSError, KeyError, csv.Error):
        return None
