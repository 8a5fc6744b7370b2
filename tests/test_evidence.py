"""Points come from the group's own evidence; grader's own runs decide only when they measured the group's real model.

Each case is an example group reshaped as real groups hand in their work: logs only, a loss stated only in the slides
(.pptx) or the report (.pdf), nothing at all, an adapter config without weights, data only. The slow tests grade the
examples on two demo models (every item's points equal) and on a stand-in for a real base model (measured, flagged).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from grader.measure import grade
from grader.reading import validate
from grader.records import GradeItem, GradeRecord, TrainRecord
from tests.conftest import EXAMPLES

COURSE_LOGS = ("trainer_state.json", "train_results.json", "all_results.json", "loss_log.csv", "logs")


def _graded(group: Path, train: TrainRecord | None = None) -> dict[str, GradeItem]:
    """The rubric on the group's evidence alone (no model): what a group earns before grader runs anything."""
    v = validate.run(group, group.name)
    inputs = grade.Inputs(v, train, None, None, None, base_model="demo")
    return {i.id: i for i in grade.run(group.name, grade.load_rubric(), inputs).items}


def _without(copy: Path, names: tuple[str, ...]) -> Path:
    for path in [p for p in copy.rglob("*") if p.name in names]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return copy


def test_logs_and_a_committed_adapter_config_earn_loss_and_adapter(copy_example) -> None:
    items = _graded(copy_example("course-group"))
    assert items["loss"].points == 2 and items["loss"].evidence == "the group's logs (W5_materials/train_results.json)"
    assert "final train loss 2.419 reported" in items["loss"].reason
    assert (
        items["adapter"].points == 2 and items["adapter"].evidence == "committed adapter W5_materials/week5_lora_v01/"
    )
    assert "its weights are not committed (GitHub's 100 MB file limit)" in items["adapter"].reason
    lfs = _graded(copy_example("course-group-lfs"))
    assert lfs["adapter"].points == 2 and "a Git LFS pointer" in lfs["adapter"].reason


def test_a_loss_stated_only_in_the_slides_or_the_report_earns_the_reported_share(copy_example) -> None:
    pptx = _graded(_without(copy_example("course-group"), COURSE_LOGS))
    assert pptx["loss"].points == 1.0 and pptx["loss"].evidence == "the deliverable (Week5_Group3_report.pptx, slide 6)"
    assert "final train loss 2.4187, perplexity 11.23 stated in the deliverable" in pptx["loss"].reason
    assert "not backed by a log" in pptx["loss"].reason
    pdf = _graded(_without(copy_example("course-group-lfs"), COURSE_LOGS))
    assert pdf["loss"].points == 1.0 and pdf["loss"].evidence == "the deliverable (Week5_Group5_report.pdf, page 2)"
    assert "2.9034, perplexity 18.24" in pdf["loss"].reason


def test_no_evidence_earns_nothing_whatever_grader_trained(copy_example) -> None:
    """weak-group committed data, a config and a thin report: no logs, no adapter, no stated loss."""
    trained_here = TrainRecord(group="weak-group", source="trained", steps=5, adapter_changed=True, train_loss=8.2)
    items = _graded(copy_example("weak-group"), trained_here)
    assert items["loss"].points == 0 and items["loss"].evidence == "none"
    assert items["loss"].reason.startswith("no loss reported: no trainer_state.json")
    assert items["adapter"].points == 0 and "measures the data, not the group's work" in items["adapter"].reason
    # logs without an adapter folder: the run is shown, the saved adapter is not
    group = copy_example("good-group")
    items = _graded(group, trained_here)
    assert items["loss"].points == 2 and "loss falls from" in items["loss"].reason
    assert (
        items["adapter"].points == 1
        and "no adapter folder (adapter_config.json) was committed" in items["adapter"].reason
    )


def test_the_preview_says_which_points_only_the_instructors_run_measures() -> None:
    from grader.outputs import classroom

    record = GradeRecord(
        group="g",
        items=[
            GradeItem(id="loss", title="Loss", points=2, max_points=2, reason="ok", evidence="the group's logs"),
            GradeItem(id="beats_base", title="Beats base", points=0, max_points=3, reason="r", pending=True),
        ],
        total=2,
        max_total=5,
    )
    result = classroom.runner_result(record, "graded", "")
    notice = classroom.notices(result)[0]
    assert notice.startswith("::notice title=Autograding complete::Points 2/5 (3 point(s) are not measured here")
    summary = classroom.summary_markdown("g", result, "report.pdf", "slides.pptx")
    assert "| ⏳ Beats base | 0 / 3 |" in summary and "decided by: the group's logs" in summary
    assert "⏳ 3 point(s) are not measured here (Beats base)" in summary


def _items(out: Path) -> dict[str, dict[str, float]]:
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ids = [i.id for i in grade.load_rubric()]
    return {r["group"]: {i: float(r[i]) for i in ids} for r in rows}


@pytest.mark.slow
def test_no_item_depends_on_the_demo_models_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples graded on two demo models (seeds 0 and 7): every item's points are equal; only the pipeline
    check (this run's ROUGE-L gain) moves."""
    from grader.config import RunSettings
    from grader.llm import tiny_llama as demo
    from grader.running import pipeline

    books, gains = [], []
    for seed in (0, 7):
        monkeypatch.setattr(demo, "SEED", seed)
        out = tmp_path / f"seed-{seed}"
        rows = pipeline.run(EXAMPLES, RunSettings(out=out))
        books.append(_items(out))
        gains.append({r.group: r.rouge_l_gain for r in rows})
    assert books[0] == books[1]
    assert gains[0] != gains[1]  # the two demo models did answer differently
    assert books[0]["good-group"]["beats_base"] == 3  # the group's own table: fine-tuned beats base
    assert books[0]["weak-group"]["loss"] == 0 and books[0]["course-group"]["loss"] == 2


@pytest.mark.slow
def test_a_real_base_model_measures_and_a_disagreement_is_flagged(tmp_path: Path) -> None:
    """A tiny model folder without the demo marker stands in for Llama-3.1-8B: this run's measurements count, and
    where the group's reported loss sits far from this run's on the course's scale, the instructor is told."""
    from grader.config import RunSettings
    from grader.llm.tiny_llama import demo_model_dir
    from grader.running import pipeline

    real = tmp_path / "tiny-real-model"
    shutil.copytree(demo_model_dir(), real, ignore=shutil.ignore_patterns("grader-demo.json"))
    subs = tmp_path / "subs"
    for name in ("course-group", "good-group"):
        shutil.copytree(EXAMPLES / name, subs / name)
    out = tmp_path / "out"
    pipeline.run(subs, RunSettings(out=out, base_model=str(real)))
    record = GradeRecord.model_validate_json((out / "course-group" / "grade.json").read_bytes())
    items = {i.id: i for i in record.items}
    assert record.measured_counts and not any(i.pending for i in record.items)
    assert items["beats_base"].evidence == f"measured in this run on {real}"
    assert any("reported loss 2.42 ('learning but weak')" in f and "bands apart" in f for f in record.flags)
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        flags = {r["group"]: r["flags"] for r in csv.DictReader(fh)}
    assert "bands apart on the course's scale" in flags["course-group"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {f["group"] for f in summary["flags"]} >= {"course-group"}


def test_test_questions_copied_from_the_training_data_count_for_nothing(copy_example) -> None:
    """A group that tests on its own training samples (30 epochs later, a big 'gain') shows nothing about what
    fine-tuning taught: those questions are not held out and leave every comparison, said with where they are."""
    from grader.measure import score
    from grader.records import Answer, GenerationRecord

    group = copy_example("good-group")
    lines = (group / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (group / "tests.jsonl").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    v = validate.run(group, group.name)
    assert v.tests_in_training == [f"tests.jsonl:{i}" for i in range(1, 6)] and v.n_tests_held_out == 0
    questions = [json.loads(line)["instruction"] for line in lines[:5]]
    shown = [
        Answer(
            instruction=questions[i - 1],
            context="",
            expected="Calcite near 2340 nm",
            base="no idea",
            finetuned="Calcite near 2340 nm",
            reported="Calcite near 2340 nm",
            reported_base="no idea",
            source=f"tests.jsonl:{i}",
        )
        for i in range(1, 6)
    ]
    gen = GenerationRecord(group="g", answers=shown)
    inputs = grade.Inputs(v, None, score.run(gen), None, gen, real_base=True, base_model="/models/llama")
    items = {i.id: i for i in grade.run("g", grade.load_rubric(), inputs).items}
    assert (
        items["tests"].points == 0
        and "5 more are training samples and are not counted: tests.jsonl:1" in items["tests"].reason
    )
    assert items["beats_base"].points == 0
    assert items["beats_base"].reason.startswith("every test question is also a training sample (tests.jsonl:1")


def test_one_copied_row_of_a_slide_table_leaves_only_that_row_out() -> None:
    """Rows of one Q&A table share their slide as the source: the copied question is matched by its text."""
    from grader.measure import score
    from grader.reading.sample_checks import normalize
    from grader.records import Answer, GenerationRecord, ValidationRecord

    rows = [
        Answer(
            instruction=f"Which mineral absorbs near {2200 + i} nm?",
            context="",
            expected=f"mineral {i}",
            base="no idea",
            finetuned=f"mineral {i}",
            reported=f"mineral {i}",
            reported_base="no idea",
            source="slides.pptx, slide 7",
        )
        for i in range(5)
    ]
    v = ValidationRecord(
        group="g",
        n_tests=5,
        tests_in_training=["slides.pptx, slide 7"],
        copied_questions=[normalize(rows[0].instruction)],
    )
    gen = GenerationRecord(group="g", answers=rows)
    item = next(i for i in grade.load_rubric() if i.id == "beats_base")
    decided = grade.beats_base(item, grade.Inputs(v, None, score.run(gen), None, gen, base_model="demo"))
    assert decided.fraction == 1.0 and "the group's own answers on 4 question(s)" in decided.reason


def test_an_empty_adapter_config_without_weights_is_no_saved_adapter(tmp_path: Path) -> None:
    group = tmp_path / "g"
    (group / "adapter").mkdir(parents=True)
    (group / "adapter" / "adapter_config.json").write_text("{}")
    (group / "train.jsonl").write_text("")
    items = _graded(group)
    assert items["adapter"].points == 0 and "not a sound LoRA config" in items["adapter"].reason


def test_the_courses_loss_scale_states_no_loss() -> None:
    from grader.reading import stated
    from grader.records import DocBlock, Document

    def said(text: str) -> list[float] | None:
        found = stated.loss(Document(file="d.pptx", format="pptx", blocks=[DocBlock(text=text, where="slide 1")]))
        return found.values if found else None

    for scale_line in (
        "Loss 3.0 to 5.0: very poor fit",
        "Loss 5.0 이상: random guessing",
        "Loss 5.0+ : random guessing",
        "Loss 2.0: learning but weak; 1.5: decent fit",
        "loss > 5.0",
        "Loss 0.5 ~ 1.0",
    ):
        assert said(scale_line) is None, scale_line
    assert said("The loss dropped to 1.23") == [1.23] and said("손실이 2.9에서 1.8로 감소") == [2.9, 1.8]
    assert said("Our final loss 2.42 is 'learning but weak' on the course's scale") == [2.42]
