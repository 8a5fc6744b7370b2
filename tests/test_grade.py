from __future__ import annotations

from pathlib import Path

from grader import grade
from grader.config import part_a_entries
from grader.records import LogEntry, ReportedLoss, TrainRecord, ValidationRecord, Writing
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
    item = grade.load_rubric()[4]
    log = [LogEntry(step=i, loss=3.0 - 0.1 * i) for i in range(9)]
    fraction, reason = grade.loss_falling(item, inputs(train=TrainRecord(group="g", source="trained", log=log)))
    assert fraction == 1.0 and "falls" in reason and "this run" in reason
    flat = [LogEntry(step=i, loss=2.0) for i in range(4)]
    assert grade.loss_falling(item, inputs(train=TrainRecord(group="g", source="trained", log=flat)))[0] == 0.5


def test_a_final_loss_alone_is_reported_and_following_the_course_costs_nothing() -> None:
    """The course's logging_steps 20 on 24 samples (2 optimizer steps) logs no step: only train_loss is there."""
    item = grade.load_rubric()[4]
    reported = ReportedLoss(train_loss=2.4187, steps=2, logging_steps=20, sources=["train_results.json"])
    loaded = TrainRecord(group="g", source="loaded", reported=reported)
    fraction, reason = grade.loss_falling(item, inputs(train=loaded))
    assert fraction == 1.0 and "2.419 reported (the group's logs)" in reason
    assert "cannot be judged: 2 optimizer step(s) with logging_steps 20 logged 0 value(s)" in reason
    # grader trained (no weights committed) but the group's own logs are what was reported
    trained = TrainRecord(group="g", source="trained", log=[LogEntry(step=1, loss=9.0)], reported=reported)
    assert "the group's logs" in grade.loss_falling(item, inputs(train=trained))[1]
    # nothing reported and nothing trained here: no point
    nothing = TrainRecord(group="g", source="logs", reported=ReportedLoss())
    fraction, reason = grade.loss_falling(item, inputs(train=nothing))
    assert fraction == 0.0 and "no loss reported" in reason


def _written(path: Path) -> Writing:
    from grader import deliverable, writing

    document = deliverable.markdown(path.read_text(encoding="utf-8"), "REPORT.md")
    return writing.understand(document, part_a_entries(), "system")[0]


def test_part_a_is_graded_on_the_four_questions_per_parameter() -> None:
    good = _written(EXAMPLES / "good-group" / "REPORT.md")
    assert {a.status for a in good.part_a} == {"discussed"} and len(good.part_a) == 13
    assert all(all(a.answered.values()) for a in good.part_a)
    weak = _written(EXAMPLES / "weak-group" / "REPORT.md")
    assert weak.answer("learning_rate").status == "partly" and weak.answer("lora_alpha").status == "missing"
    item = next(i for i in grade.load_rubric() if i.check == "part_a")
    fraction, reason = grade.part_a(item, inputs(validation=ValidationRecord(group="g", writing=good)))
    assert fraction == 1.0 and "52 of 52 answers" in reason
    fraction, reason = grade.part_a(item, inputs(validation=ValidationRecord(group="g", writing=weak)))
    assert fraction == sum(sum(a.answered.values()) for a in weak.part_a) / 52
    assert "not discussed: " in reason and "lora_alpha" in reason and "learning_rate (what)" in reason


def test_reflections_section() -> None:
    from grader import deliverable, writing

    md = "# R\n\n## Reflections\n\n학습률이 중요했다. The training loss fell. " + "word " * 40 + "\n\n## Next\nother"
    written, _ = writing.understand(deliverable.markdown(md, "REPORT.md"), part_a_entries(), "s")
    assert written.reflections is not None and written.reflections.where == "REPORT.md, line 3"
    assert written.reflections.text.startswith("학습률") and "other" not in written.reflections.text
    item = next(i for i in grade.load_rubric() if i.check == "reflections")
    assert grade.reflections(item, inputs(validation=ValidationRecord(group="g", writing=written)))[0] == 1.0


def test_rubric_in_yaml_and_bad_rubrics(tmp_path) -> None:
    import pytest

    from grader.errors import ConfigError

    yaml_rubric = tmp_path / "rubric.yaml"
    yaml_rubric.write_text("item:\n  - {id: tests, title: Tests, points: 5, check: tests, min: 8}\n")
    (item,) = grade.load_rubric(yaml_rubric)
    assert item.points == 5 and item.min == 8
    record = grade.run("g", [item], inputs(validation=ValidationRecord(group="g", n_tests=6)))
    assert record.items[0].points == 3.75 and "6 < 8" in record.items[0].reason
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[item]]\nid="a"\ntitle="A"\npoints=1\ncheck="vibes"\n[[item]]\nid="a"\ntitle="B"\npoints=0\ncheck="tests"\n'
    )
    with pytest.raises(ConfigError) as err:
        grade.load_rubric(bad)
    assert "unknown check 'vibes'" in str(err.value) and "'a' appears 2 times" in str(err.value)
    assert "points must be > 0" in str(err.value)


def test_overrides_win_and_say_so(tmp_path) -> None:
    import pytest

    from grader.errors import ConfigError

    rubric = grade.load_rubric()
    path = tmp_path / "overrides.csv"
    path.write_text('group,item,points,comment\ng1,reflections,1.5,"reflections were in the slides, not REPORT.md"\n')
    overrides = grade.load_overrides(path, rubric, ["g1", "g2"])
    record = grade.run("g1", rubric, inputs(), overrides)
    item = {i.id: i for i in record.items}["reflections"]
    assert item.points == 1.5 and item.automatic == 0.0 and item.reason.startswith("manual override: reflections were")
    assert record.total == 1.5 and grade.run("g2", rubric, inputs(), overrides).total == 0
    path.write_text(
        "group,item,points,comment\ng11,reflections,1,x\ng1,reflection,1,x\ng1,tests,lots,x\ng1,tests,9,x\n"
    )
    with pytest.raises(ConfigError) as err:
        grade.load_overrides(path, rubric, ["g1", "g2"])
    message = str(err.value)
    assert f"{path}:2: no group 'g11' (did you mean 'g1'?)" in message
    assert f"{path}:3: no rubric item 'reflection'" in message
    assert f"{path}:4: points 'lots' is not a number" in message and f"{path}:5: points 9 outside 0..2" in message


def test_fine_tuned_beats_base_needs_an_expected_answer_to_compare_with() -> None:
    from grader.records import QuestionScore, ScoreRecord

    item = next(i for i in grade.load_rubric() if i.id == "beats_base")
    shown_only = ScoreRecord(group="g", questions=[QuestionScore(base={}, finetuned={}, delta={})] * 5)
    fraction, reason = grade.beats_base(
        item, inputs(validation=ValidationRecord(group="g", n_tests=5), score=shown_only)
    )
    assert fraction == 0.0 and reason.startswith("none of the 5 test questions has an expected answer")
