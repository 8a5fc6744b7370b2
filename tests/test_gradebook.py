from __future__ import annotations

import csv
import json
from pathlib import Path

from grader import gradebook
from grader.layout import Layout
from grader.records import GradeItem, GradeRecord


def test_one_row_per_group_with_status_reason_and_items(tmp_path: Path) -> None:
    grade = GradeRecord(
        group="a",
        items=[GradeItem(id="samples", title="S", points=1.5, max_points=2, reason="r")],
        total=1.5,
        max_total=2,
    )
    rows = [
        gradebook.row("a", "graded", "", grade, 0.0312, "ab" * 20),
        gradebook.row('b, "quoted"', "invalid", "data/train.jsonl:7: missing comma", None, None, None),
    ]
    rows[1].extra = {"github_username": "lee"}
    layout = Layout(tmp_path)
    gradebook.write(rows, layout, ["samples"])
    with layout.gradebook_csv.open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["group"] for r in table] == ["a", 'b, "quoted"']
    assert table[0]["samples"] == "1.5" and table[0]["rouge_l_gain"] == "0.0312" and table[0]["total"] == "1.5"
    assert table[1]["status"] == "invalid" and table[1]["reason"].endswith("missing comma")
    assert table[1]["github_username"] == "lee" and table[1]["samples"] == "0.0"
    assert json.loads(layout.gradebook_json.read_text())[1]["extra"] == {"github_username": "lee"}
