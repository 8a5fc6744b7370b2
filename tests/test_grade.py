from __future__ import annotations

from pathlib import Path

from grader.config import part_a_entries
from grader.measure import grade
from grader.records import (
    CommittedAdapter,
    LogEntry,
    ReportedLoss,
    StatedLoss,
    TrainRecord,
    ValidationRecord,
    Writing,
)
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


def test_loss_falling_is_judged_from_the_groups_logs_only() -> None:
    item = grade.load_rubric()[4]
    log = [LogEntry(step=i, loss=3.0 - 0.1 * i) for i in range(9)]
    logs = ReportedLoss(train_loss=2.2, log=log, sources=["per-step loss read from trainer_state.json"])
    decided = grade.loss_falling(item, inputs(validation=ValidationRecord(group="g", logs=logs)))
    assert (
        decided.fraction == 1.0
        and "falls" in decided.reason
        and decided.evidence == "the group's logs (trainer_state.json)"
    )
    flat = ReportedLoss(log=[LogEntry(step=i, loss=2.0) for i in range(4)], sources=["per-step loss read from x.csv"])
    assert grade.loss_falling(item, inputs(validation=ValidationRecord(group="g", logs=flat))).fraction == 0.5
    # grader's own run on the demo model is never the group's report, falling or not
    measured = TrainRecord(group="g", source="trained", log=log, train_loss=2.2)
    decided = grade.loss_falling(item, inputs(train=measured))
    assert decided.fraction == 0.0 and "no loss reported" in decided.reason and decided.evidence == "none"
    assert "grader's own training is a measurement" in decided.reason


def test_a_final_loss_alone_is_reported_and_following_the_course_costs_nothing() -> None:
    """The course's logging_steps 20 on 24 samples (2 optimizer steps) logs no step: only train_loss is there."""
    item = grade.load_rubric()[4]
    reported = ReportedLoss(
        train_loss=2.4187, steps=2, logging_steps=20, sources=["final train loss read from train_results.json"]
    )
    decided = grade.loss_falling(item, inputs(validation=ValidationRecord(group="g", logs=reported)))
    assert decided.fraction == 1.0 and "2.419 reported (the group's logs: train_results.json)" in decided.reason
    assert "cannot be judged: 2 optimizer step(s) with logging_steps 20 logged 0 value(s)" in decided.reason
    # an older record: the group's logs ride on the train record
    trained = TrainRecord(group="g", source="trained", log=[LogEntry(step=1, loss=9.0)], reported=reported)
    assert "the group's logs" in grade.loss_falling(item, inputs(train=trained)).reason
    nothing = TrainRecord(group="g", source="logs", reported=ReportedLoss())
    decided = grade.loss_falling(item, inputs(train=nothing))
    assert decided.fraction == 0.0 and "no loss reported" in decided.reason


def test_a_stated_loss_earns_the_reported_share_with_its_slide() -> None:
    item = grade.load_rubric()[4]
    stated = StatedLoss(
        train_loss=1.87, perplexity=6.5, values=[1.87], where="r.pptx, slide 6", words="Final train loss: 1.87"
    )
    v = ValidationRecord(group="g", writing=Writing(file="r.pptx", loss=stated))
    decided = grade.loss_falling(item, inputs(validation=v))
    assert decided.fraction == item.stated_share == 0.5 and decided.evidence == "the deliverable (r.pptx, slide 6)"
    assert "1.87, perplexity 6.5 stated in the deliverable (r.pptx, slide 6" in decided.reason
    assert "not backed by a log" in decided.reason
    # the old behaviour, chosen explicitly: grader's own run counts, even on the demo model
    old = item.model_copy(update={"evidence": ["logs", "deliverable", "this-run"], "measured": "always"})
    log = [LogEntry(step=i, loss=3.0 - 0.1 * i) for i in range(9)]
    decided = grade.loss_falling(old, inputs(train=TrainRecord(group="g", source="trained", log=log)))
    assert decided.fraction == 1.0 and "measured in this run" in decided.evidence


def test_adapter_comes_from_what_the_group_committed() -> None:
    item = next(i for i in grade.load_rubric() if i.check == "adapter")
    trained_here = TrainRecord(group="g", source="trained", steps=6, adapter_changed=True)
    config_only = CommittedAdapter(
        where="week5_lora_v01/", weights="missing", problem="missing", rank=16, target_modules=["q_proj", "v_proj"]
    )
    decided = grade.adapter(
        item, inputs(validation=ValidationRecord(group="g", adapter=config_only), train=trained_here)
    )
    assert decided.fraction == 1.0 and "GitHub's 100 MB file limit" in decided.reason
    assert decided.evidence == "committed adapter week5_lora_v01/"
    zero = CommittedAdapter(where="adapter/", usable=True, trained=False, rank=8)
    assert grade.adapter(item, inputs(validation=ValidationRecord(group="g", adapter=zero))).fraction == 0.0
    logs = ReportedLoss(train_loss=2.0, steps=2, sources=["final train loss read from train_results.json"])
    decided = grade.adapter(item, inputs(validation=ValidationRecord(group="g", logs=logs), train=trained_here))
    assert decided.fraction == 0.5 and "no adapter folder" in decided.reason
    # data only: grader trained an adapter, which proves nothing about the group
    decided = grade.adapter(item, inputs(validation=ValidationRecord(group="g", n_samples=24), train=trained_here))
    assert decided.fraction == 0.0 and "measures the data, not the group's work" in decided.reason


def test_beats_base_from_the_groups_comparison_and_a_pending_mark_on_the_demo_model() -> None:
    from grader.measure import score
    from grader.records import Answer, GenerationRecord

    item = next(i for i in grade.load_rubric() if i.check == "beats_base")
    shown = [
        Answer(
            instruction=f"q{i}",
            context="",
            expected="Calcite absorbs near 2340 nm",
            base="x",
            finetuned="y",
            reported="Calcite absorbs near 2340 nm",
            reported_base="It depends on the sensor",
            source=f"r.md, line {i}",
        )
        for i in range(5)
    ]
    gen = GenerationRecord(group="g", answers=shown)
    v = ValidationRecord(group="g", n_tests=5)
    decided = grade.beats_base(item, inputs(validation=v, generation=gen, score=score.run(gen), base_model="demo"))
    assert decided.fraction == 1.0 and "the group's own answers on 5 question(s)" in decided.reason
    assert "a pipeline check, not graded" in decided.reason and not decided.pending
    alone = GenerationRecord(group="g", answers=[a.model_copy(update={"reported_base": ""}) for a in shown])
    decided = grade.beats_base(item, inputs(validation=v, generation=alone, score=score.run(alone), base_model="demo"))
    assert decided.fraction == 0.0 and decided.pending and "instructor's run on the real base model" in decided.reason
    # a real base model: this run measured the group's model and decides; no pending mark
    real = inputs(validation=v, generation=alone, score=score.run(alone), real_base=True, base_model="/models/llama")
    decided = grade.beats_base(item, real)
    assert decided.evidence == "measured in this run on /models/llama" and not decided.pending


def _written(path: Path) -> Writing:
    from grader.reading import deliverable, writing

    document = deliverable.markdown(path.read_text(encoding="utf-8"), "REPORT.md")
    return writing.understand(document, part_a_entries(), "system")[0]


def test_part_a_is_graded_on_the_four_questions_per_parameter() -> None:
    good = _written(EXAMPLES / "good-group" / "REPORT.md")
    assert {a.status for a in good.part_a} == {"discussed"} and len(good.part_a) == 13
    assert all(all(a.answered.values()) for a in good.part_a)
    weak = _written(EXAMPLES / "weak-group" / "REPORT.md")
    assert weak.answer("learning_rate").status == "partly" and weak.answer("lora_alpha").status == "missing"
    item = next(i for i in grade.load_rubric() if i.check == "part_a")
    decided = grade.part_a(item, inputs(validation=ValidationRecord(group="g", writing=good)))
    assert decided.fraction == 1.0 and "52 of 52 answers" in decided.reason
    decided = grade.part_a(item, inputs(validation=ValidationRecord(group="g", writing=weak)))
    fraction, reason = decided.fraction, decided.reason
    assert fraction == sum(sum(a.answered.values()) for a in weak.part_a) / 52
    assert "not discussed: " in reason and "lora_alpha" in reason and "learning_rate (what)" in reason


def test_reflections_section() -> None:
    from grader.reading import deliverable, writing

    md = "# R\n\n## Reflections\n\n학습률이 중요했다. The training loss fell. " + "word " * 40 + "\n\n## Next\nother"
    written, _ = writing.understand(deliverable.markdown(md, "REPORT.md"), part_a_entries(), "s")
    assert written.reflections is not None and written.reflections.where == "REPORT.md, line 3"
    assert written.reflections.text.startswith("학습률") and "other" not in written.reflections.text
    item = next(i for i in grade.load_rubric() if i.check == "reflections")
    assert grade.reflections(item, inputs(validation=ValidationRecord(group="g", writing=written))).fraction == 1.0


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
    bad.write_text('[[item]]\nid="loss"\ntitle="L"\npoints=2\ncheck="loss_falling"\nevidence=["logs", "vibes"]\n')
    with pytest.raises(ConfigError, match="item 'loss': unknown evidence 'vibes' \\(it accepts logs, deliverable"):
        grade.load_rubric(bad)


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
    decided = grade.beats_base(item, inputs(validation=ValidationRecord(group="g", n_tests=5), score=shown_only))
    assert decided.fraction == 0.0 and decided.reason.startswith("none of the 5 test questions has an expected answer")
