from __future__ import annotations

from grader import grade
from grader.records import LogEntry, TrainRecord, ValidationRecord
from tests.conftest import EXAMPLES


def inputs(**kw) -> grade.Inputs:
    base = {"validation": None, "train": None, "score": None, "report_md": None}
    base.update(kw)
    return grade.Inputs(**base)


def test_rubric_loads_and_partial_credit() -> None:
    rubric = grade.load_rubric()
    record = grade.run("g", rubric, inputs(validation=ValidationRecord(group="g", n_samples=10, n_tests=5)))
    items = {i.id: i for i in record.items}
    assert items["samples"].points == 1.0 and "10 < 20" in items["samples"].reason
    assert items["tests"].points == 2.0 and items["adapter"].points == 0
    assert record.max_total == sum(i.points for i in rubric)
    assert all(i.reason for i in record.items)


def test_loss_falling() -> None:
    log = [LogEntry(step=i, loss=3.0 - 0.1 * i) for i in range(9)]
    fraction, reason = grade.loss_falling(grade.load_rubric()[4], inputs(train=TrainRecord(group="g", log=log)))
    assert fraction == 1.0 and "falls" in reason
    flat = [LogEntry(step=i, loss=2.0) for i in range(4)]
    assert grade.loss_falling(grade.load_rubric()[4], inputs(train=TrainRecord(group="g", log=flat)))[0] == 0.5


def test_part_a_discussed_vs_named() -> None:
    good = grade.part_a_coverage((EXAMPLES / "good-group" / "REPORT.md").read_text(), 10)
    assert set(good.values()) == {"discussed"} and len(good) == 13
    weak = grade.part_a_coverage((EXAMPLES / "weak-group" / "REPORT.md").read_text(), 10)
    assert weak["learning_rate"] == "named" and weak["lora_alpha"] == "missing"


def test_reflections_section() -> None:
    md = "# R\n\n## Reflections\n\n학습률이 중요했다. " + "word " * 40 + "\n\n## Next\nother"
    text = grade.reflections_text(md)
    assert text.startswith("학습률") and "other" not in text
