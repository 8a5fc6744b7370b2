from __future__ import annotations

import csv
import json
from pathlib import Path

from grader.layout import Layout
from grader.outputs import gradebook
from grader.records import GradeItem, GradeRecord, ScoreRecord


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


def test_classroom_columns_and_one_row_per_student(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    roster = [
        {"group": "a", "github_username": "kim", "roster_identifier": "2024001"},
        {"group": "a", "github_username": "park", "roster_identifier": "2024002"},
        {"group": "z", "github_username": "lee", "roster_identifier": ""},
    ]
    rows = [gradebook.Row("a", "graded", "", total=15, max_total=19), gradebook.Row("z", "missing", "no folder")]
    extras = gradebook.roster_extras(roster)
    assert extras["a"] == {"github_username": "kim;park", "roster_identifier": "2024001;2024002"}
    for r in rows:
        r.extra = extras.get(r.group, {})
    gradebook.write(rows, layout, [], roster)
    with layout.gradebook_csv.open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert table[0]["points_awarded"] == "15" and table[0]["points_available"] == "19"
    with (tmp_path / "classroom.csv").open(encoding="utf-8") as fh:
        students = list(csv.DictReader(fh))
    assert [(s["github_username"], s["group_name"], s["points_awarded"]) for s in students] == [
        ("kim", "a", "15"),
        ("park", "a", "15"),
        ("lee", "z", "0.0"),
    ]
    assert students[2]["status"] == "missing"


def test_row_from_earlier_results(tmp_path: Path) -> None:
    grade = GradeRecord(
        group="a", items=[GradeItem(id="x", title="X", points=1, max_points=2, reason="r")], total=1, max_total=2
    )
    results = {
        "group": "a",
        "status": "graded",
        "reason": "",
        "grade": grade.model_dump(),
        "score": ScoreRecord(group="a", delta_mean={"rougeL": 0.05}).model_dump(mode="json"),
        "validate": None,
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    row = gradebook.from_results(tmp_path / "results.json")
    assert row is not None and row.total == 1 and row.items == {"x": 1} and row.rouge_l_gain == 0.05
    assert gradebook.from_results(tmp_path / "nope.json") is None
    # typed on the way back in: a status outside GroupStatus or a half record is no row, not a wrong one
    for broken in ({**results, "status": "passed"}, {**results, "score": {"delta_mean": {"rougeL": 0.05}}}):
        (tmp_path / "results.json").write_text(json.dumps(broken))
        assert gradebook.from_results(tmp_path / "results.json") is None


def test_a_whole_number_reads_the_same_for_every_group(tmp_path: Path) -> None:
    from grader.records import ValidationRecord

    rows = [
        gradebook.row(name, "graded", "", None, None, None, validation=ValidationRecord(group=name, config=config))
        for name, config in (("a", {"num_train_epochs": 3.0, "learning_rate": 2e-4}), ("b", {"num_train_epochs": 1}))
    ]
    layout = Layout(tmp_path)
    gradebook.write(rows, layout, [])
    with layout.gradebook_csv.open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["num_train_epochs"] for r in table] == ["3", "1"] and table[0]["learning_rate"] == "0.0002"
