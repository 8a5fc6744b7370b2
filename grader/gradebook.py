"""gradebook: every group's outcome -> reports/gradebook.csv and gradebook.json, one row per group, always."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from grader.layout import Layout
from grader.records import GradeRecord, write_atomic


@dataclass
class Row:
    group: str
    status: str
    reason: str
    total: float = 0.0
    max_total: float = 0.0
    items: dict[str, float] = field(default_factory=dict)
    rouge_l_gain: float | None = None
    commit: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def row(group: str, status: str, reason: str, grade: GradeRecord | None, gain: float | None, commit: str | None) -> Row:
    items = {i.id: i.points for i in grade.items} if grade else {}
    return Row(
        group=group,
        status=status,
        reason=reason,
        total=grade.total if grade else 0.0,
        max_total=grade.max_total if grade else 0.0,
        items=items,
        rouge_l_gain=gain,
        commit=commit,
    )


def write(rows: list[Row], layout: Layout, item_ids: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra_keys = sorted({k for r in rows for k in r.extra})
    writer.writerow(
        ["group", "status", "reason", *item_ids, "total", "max_total", "rouge_l_gain", "commit", *extra_keys]
    )
    for r in rows:
        gain = "" if r.rouge_l_gain is None else f"{r.rouge_l_gain:.4f}"
        writer.writerow(
            [
                r.group,
                r.status,
                r.reason,
                *[r.items.get(i, 0.0) for i in item_ids],
                r.total,
                r.max_total,
                gain,
                r.commit or "",
                *[r.extra.get(k, "") for k in extra_keys],
            ]
        )
    write_atomic(layout.gradebook_csv, buffer.getvalue().encode())
    data: list[dict[str, Any]] = [asdict(r) for r in rows]
    write_atomic(layout.gradebook_json, json.dumps(data, indent=2, ensure_ascii=False).encode())
