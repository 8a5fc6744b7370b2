"""gradebook: every group's outcome -> reports/gradebook.csv and gradebook.json, one row per group, always.

With a roster that names students (`github_username`), also `classroom.csv`: one row per student with their group's
points, in the columns GitHub Classroom's grade export uses (`github_username`, `group_name`, `points_awarded`,
`points_available`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.config import PART_A
from grader.layout import Layout
from grader.limits import DEFAULTS
from grader.measure import metrics
from grader.measure.metrics import HEADLINE
from grader.outputs import exports
from grader.records import GradeRecord, GroupStatus, Results, ValidationRecord
from grader.storage import write_atomic


@dataclass
class Row:
    group: str
    status: GroupStatus
    reason: str
    total: float = 0.0
    max_total: float = 0.0
    items: dict[str, float] = field(default_factory=dict)
    rouge_l_gain: float | None = None
    commit: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    base_model: str = ""  # the model behind every number of the row ('demo' is the tiny local one)
    data_files: list[str] = field(default_factory=list)
    n_samples: int = 0
    n_tests: int = 0
    params: dict[str, Any] = field(default_factory=dict)  # the Part A values used
    sources: dict[str, str] = field(default_factory=dict)  # where each value came from
    class_rouge_l_gain: float | None = None  # on the instructor's class-wide test set (--tests), when given
    folder: str = ""  # the group's output folder under the output folder (unique; see Layout.assign)
    flags: list[str] = field(default_factory=list)  # claims and measurements that disagree: for the instructor
    pending: list[str] = field(default_factory=list)  # items only the instructor's run on the real model measures
    data_flags: list[str] = field(default_factory=list)  # for the instructor (off-domain data); no points taken
    gains: dict[str, float] = field(default_factory=dict)  # the mean gain of every other metric the gradebook shows
    overrides: list[str] = field(default_factory=list)  # the instructor's manual points: "reflections 0 -> 2: why"
    adjustments: list[str] = field(default_factory=list)  # penalties and bonuses: "late -2: 3 days late"


def row(
    group: str,
    status: GroupStatus,
    reason: str,
    grade: GradeRecord | None,
    gain: float | None,
    commit: str | None,
    *,
    base_model: str = "",
    validation: ValidationRecord | None = None,
    class_gain: float | None = None,
    folder: str = "",
    folder_note: str = "",
    gains: dict[str, float] | None = None,
) -> Row:
    items = {i.id: i.points for i in grade.items} if grade else {}
    gains = gains or {}
    config = validation.config if validation else None
    return Row(
        group=group,
        status=status,
        reason="; ".join(part for part in (reason, folder_note) if part),
        total=grade.total if grade else 0.0,
        max_total=grade.max_total if grade else 0.0,
        items=items,
        rouge_l_gain=gain,
        commit=commit,
        base_model=base_model,
        data_files=validation.data_files if validation else [],
        n_samples=validation.n_samples if validation else 0,
        n_tests=validation.n_tests if validation else 0,
        params={k: plain(getattr(config, k)) for k in PART_A} if config else {},
        sources=dict(validation.config_sources) if validation else {},
        class_rouge_l_gain=class_gain,
        folder=folder,
        flags=list(grade.flags) if grade else [],
        pending=[i.id for i in grade.items if i.pending] if grade else [],
        data_flags=list(validation.data_flags) if validation else [],
        gains={m.key: gains[m.key] for m in metrics.shown("gradebook") if m.key != HEADLINE and m.key in (gains or {})},
        overrides=overridden(grade),
        adjustments=[a.shown() for a in grade.adjustments] if grade else [],
    )


def overridden(grade: GradeRecord | None) -> list[str]:
    """The items whose points the instructor set by hand, with the automatic points they replaced."""
    if grade is None:
        return []
    return [f"{i.id} {i.automatic:g} -> {i.points:g}" for i in grade.items if i.automatic is not None]


def _four(gain: float | None) -> str:
    return "" if gain is None else f"{gain:.4f}"


def plain(value: Any) -> Any:
    """A whole number as a whole number: num_train_epochs is 3 for a group whose config says 3.0 as for one whose
    script says 3, so the column reads the same for every group."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def from_results(path: Path) -> Row | None:
    """The row of a group graded in an earlier run, from its results.json (None when there is none)."""
    results = read_results(path)
    if results is None:
        return None
    return row(
        results.group,
        results.status,
        results.reason,
        results.grade,
        results.score.delta_mean.get(HEADLINE) if results.score else None,
        results.discover.commit if results.discover else None,
        base_model=results.base_model,
        validation=results.validation,
        class_gain=results.score_class.delta_mean.get(HEADLINE) if results.score_class else None,
        gains=results.score.delta_mean if results.score else None,
    )


def read_results(path: Path) -> Results | None:
    """A group's results.json, or None when it is missing, unreadable or from an incompatible version."""
    try:
        return Results.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


# the roster columns the gradebook shows, in this order; the rest (line numbers, Canvas ids) go to the exports
ROSTER_COLUMNS = ("name", "github_username", "email", "roster_identifier")


def roster_extras(roster: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """group -> its roster columns; several students of one group are joined with ';'."""
    extras: dict[str, dict[str, list[str]]] = {}
    for entry in roster:
        columns = extras.setdefault(entry["group"], {})
        for key in ROSTER_COLUMNS:
            value = entry.get(key, "")
            if value and value not in columns.setdefault(key, []):
                columns[key].append(value)
    return {group: {k: ";".join(v) for k, v in columns.items() if v} for group, columns in extras.items()}


def write(
    rows: list[Row],
    layout: Layout,
    item_ids: list[str],
    roster: list[dict[str, str]] | None = None,
    assignment: str = DEFAULTS.assignment,
) -> list[str]:
    """gradebook.csv/json; with a roster, the per-student files too (classroom.csv and grader.outputs.exports' files).
    Returns what the exports had to leave out, for the run's notes."""
    extra_keys = sorted({k for r in rows for k in r.extra})
    header = ["group", "status", "reason", "flags", *item_ids, "total", "max_total"]
    gains = metrics.shown("gradebook")
    header += ["points_awarded", "points_available", *(m.column for m in gains), "class_rouge_l_gain", "commit"]
    header += ["base_model"]
    header += ["folder", "data_files", "n_samples", "n_tests", *PART_A, "param_sources", "data_flags"]
    header += ["override", "adjustments", *extra_keys]
    table = []
    for r in rows:
        items = [r.items.get(i, 0.0) for i in item_ids]
        table.append(
            [r.group, r.status, r.reason, " | ".join(r.flags), *items, r.total, r.max_total, r.total, r.max_total]
            + [_four(r.rouge_l_gain if m.key == HEADLINE else r.gains.get(m.key)) for m in gains]
            + [_four(r.class_rouge_l_gain), r.commit or ""]
            + [r.base_model, r.folder, ";".join(r.data_files), r.n_samples, r.n_tests]
            + [r.params.get(k, "") for k in PART_A]
            + ["; ".join(f"{k}={v}" for k, v in r.sources.items() if v != "course default")]
            + ["; ".join(r.data_flags), " | ".join(r.overrides), " | ".join(r.adjustments)]
            + [r.extra.get(k, "") for k in extra_keys]
        )
    write_atomic(layout.gradebook_csv, csv_bytes(header, table))
    data: list[dict[str, Any]] = [asdict(r) for r in rows]
    write_atomic(layout.gradebook_json, json.dumps(data, indent=2, ensure_ascii=False).encode())
    if not roster:
        return []
    if any(entry.get("github_username") for entry in roster):
        write_atomic(layout.classroom_csv, classroom_csv(rows, roster))
    return exports.write(rows, roster, layout.out, assignment)


def classroom_csv(rows: list[Row], roster: list[dict[str, str]]) -> bytes:
    """One row per roster entry (a student), carrying the points of the student's group."""
    by_group = {r.group: r for r in rows}
    header = ["github_username", "group_name", "roster_identifier", "points_awarded", "points_available", "status"]
    header += ["override"]
    table = []
    for entry in roster:
        r = by_group.get(entry["group"])
        table.append(
            [
                entry.get("github_username", ""),
                entry["group"],
                entry.get("roster_identifier") or entry.get("identifier", ""),
                r.total if r else 0.0,
                r.max_total if r else "",
                r.status if r else "missing",
                " | ".join(r.overrides) if r else "",
            ]
        )
    return csv_bytes(header, table)


def cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (=HYPERLINK(...), +cmd, @SUM) gets a leading quote;
    numbers stay numbers. Group names, reasons and file names come from students."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)  # "-0.0123", a gain, is a number
        except ValueError:
            return "'" + value
    return value


def csv_bytes(header: list[str], table: list[list[Any]]) -> bytes:
    """A CSV file's bytes, every cell through `cell` (what a spreadsheet would run is shown, never run)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell(v) for v in row] for row in table)
    return buffer.getvalue().encode()
