"""score: GenerationRecord -> ScoreRecord. ROUGE-1/2/L F1 (stemmed) and SQuAD exact match, base vs fine-tuned.

rouge-score's default tokenizer keeps only [a-z0-9], so identical Korean answers would score 0: ours keeps every
script's words, splits Han/Kana ideographs into characters, and Porter-stems Latin words as rouge-score does.
"""

from __future__ import annotations

import re
import string
import time
import unicodedata
from functools import cache
from statistics import fmean
from typing import Any

from grader.records import Answer, GenerationRecord, QuestionScore, ScoreRecord

METRICS = ("rouge1", "rouge2", "rougeL", "exact_match")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


class Tokenizer:
    """rouge-score tokenizer interface: `tokenize(text) -> list[str]`."""

    def tokenize(self, text: str) -> list[str]:
        stem = _stemmer().stem
        words = _WORD.findall(unicodedata.normalize("NFKC", text).lower())
        return [stem(w) if w.isascii() and len(w) > 3 else w for w in words]


@cache
def _stemmer() -> Any:
    from nltk.stem import porter

    return porter.PorterStemmer()


@cache
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=Tokenizer())


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 normalization: lower, drop punctuation and English articles, squeeze whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


SCORED_WORDS = 1000  # rouge-score's LCS is quadratic in pure Python: 1,000 x 1,000 words is ~0.5 s; 50,000 is hours


def metrics(reference: str, prediction: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 and exact match; texts longer than SCORED_WORDS words are scored on their first words."""
    reference, prediction = _first_words(reference), _first_words(prediction)
    scores = _scorer().score(reference, prediction)
    out = {name: round(scores[name].fmeasure, 4) for name in ("rouge1", "rouge2", "rougeL")}
    out["exact_match"] = float(squad_normalize(reference) == squad_normalize(prediction) != "")
    return out


def _first_words(text: str) -> str:
    words = text.split()
    return text if len(words) <= SCORED_WORDS else " ".join(words[:SCORED_WORDS])


def score_answer(answer: Answer) -> QuestionScore:
    """The question's scores; none at all for a question shown without an expected answer (the group's own base vs
    fine-tuned comparison): against an empty reference every answer would score 0 and the comparison a tie."""
    if not answer.expected.strip():
        return QuestionScore(base={}, finetuned={}, delta={})
    base = metrics(answer.expected, answer.base)
    tuned = metrics(answer.expected, answer.finetuned)
    reported = metrics(answer.expected, answer.reported) if answer.reported else {}
    reported_base = metrics(answer.expected, answer.reported_base) if answer.reported_base else {}
    delta = {k: round(tuned[k] - base[k], 4) for k in METRICS}
    return QuestionScore(base=base, finetuned=tuned, delta=delta, reported=reported, reported_base=reported_base)


def run(generation: GenerationRecord) -> ScoreRecord:
    started = time.monotonic()
    questions = [score_answer(a) for a in generation.answers]

    scored = [q for q in questions if q.base]

    def mean(side: str) -> dict[str, float]:
        return {k: round(fmean(getattr(q, side)[k] for q in scored), 4) for k in METRICS} if scored else {}

    return ScoreRecord(
        group=generation.group,
        questions=questions,
        base_mean=mean("base"),
        finetuned_mean=mean("finetuned"),
        delta_mean=mean("delta"),
        seconds=round(time.monotonic() - started, 3),
    )
