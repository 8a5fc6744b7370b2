"""score: GenerationRecord -> ScoreRecord. Every metric of measure/metrics (ROUGE-1/2/L F1, SQuAD exact match, ...),
base vs fine-tuned.
"""

from __future__ import annotations

import time
from statistics import fmean

from grader.measure.metrics import METRICS, scores
from grader.records import Answer, GenerationRecord, QuestionScore, ScoreRecord


def score_answer(answer: Answer) -> QuestionScore:
    """The question's scores; none at all for a question shown without an expected answer (the group's own base vs
    fine-tuned comparison): against an empty reference every answer would score 0 and the comparison a tie."""
    if not answer.expected.strip():
        return QuestionScore(base={}, finetuned={}, delta={})
    base = scores(answer.expected, answer.base)
    tuned = scores(answer.expected, answer.finetuned)
    reported = scores(answer.expected, answer.reported) if answer.reported else {}
    reported_base = scores(answer.expected, answer.reported_base) if answer.reported_base else {}
    delta = {m.key: round(tuned[m.key] - base[m.key], 4) for m in METRICS}
    return QuestionScore(base=base, finetuned=tuned, delta=delta, reported=reported, reported_base=reported_base)


def run(generation: GenerationRecord) -> ScoreRecord:
    started = time.monotonic()
    questions = [score_answer(a) for a in generation.answers]

    scored = [q for q in questions if q.base]

    def mean(side: str) -> dict[str, float]:
        return {m.key: round(fmean(getattr(q, side)[m.key] for q in scored), 4) for m in METRICS} if scored else {}

    return ScoreRecord(
        group=generation.group,
        questions=questions,
        base_mean=mean("base"),
        finetuned_mean=mean("finetuned"),
        delta_mean=mean("delta"),
        seconds=round(time.monotonic() - started, 3),
    )
