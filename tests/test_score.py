from __future__ import annotations

from grader.llm.generate import GenerationRecord
from grader.measure.metrics import METRICS, squad_normalize
from grader.measure.metrics import scores as metrics
from grader.measure.score import run
from grader.records import Answer


def test_identical_korean_answers_score_one() -> None:
    m = metrics("화강암은 마그마가 식어서 만들어진다", "화강암은 마그마가 식어서 만들어진다")
    assert m == {metric.key: 1.0 for metric in METRICS}  # every registered metric, ROUGE's tokenizer included


def test_stemming_and_squad_normalization() -> None:
    assert metrics("The rocks absorb light.", "rock absorbing lights")["rouge1"] > 0.8
    assert squad_normalize("The Kaolinite, a clay!") == "kaolinite clay"
    assert metrics("Kaolinite.", "the kaolinite")["exact_match"] == 1.0
    assert metrics("", "")["exact_match"] == 0.0


def test_run_means_and_deltas() -> None:
    answers = [
        Answer(instruction="q", context="", expected="red edge near 700 nm", base="blue", finetuned="red edge"),
        Answer(instruction="q2", context="", expected="calcite", base="calcite", finetuned="calcite"),
    ]
    record = run(GenerationRecord(group="g", answers=answers))
    assert record.questions[0].delta["rougeL"] > 0 and record.questions[1].delta["rougeL"] == 0
    assert record.delta_mean["rougeL"] == round(record.finetuned_mean["rougeL"] - record.base_mean["rougeL"], 4)


def test_a_question_without_an_expected_answer_is_shown_not_scored() -> None:
    """The group's own base vs fine-tuned comparison has no reference: scoring it against "" would make every
    answer 0 and the comparison a tie, so it is left unscored and out of the means."""
    answers = [
        Answer(instruction="q", context="", expected="red edge near 700 nm", base="blue", finetuned="red edge"),
        Answer(instruction="q2", context="", expected="", base="calcite", finetuned="dolomite", reported="x"),
    ]
    record = run(GenerationRecord(group="g", answers=answers))
    assert record.questions[1].base == {} and record.questions[1].delta == {} and record.questions[1].reported == {}
    assert record.finetuned_mean == record.questions[0].finetuned and record.delta_mean == record.questions[0].delta
    only_shown = run(GenerationRecord(group="g", answers=answers[1:]))
    assert len(only_shown.questions) == 1 and only_shown.base_mean == only_shown.delta_mean == {}
