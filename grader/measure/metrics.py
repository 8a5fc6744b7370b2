"""metrics: the one table of the answer metrics. score computes every entry for every answer; the deck, the report,
the gradebook and the sweep show the entries whose `shown` names them; the rubric's beats_base names its `key`.

Adding a metric is one entry in METRICS (and a test): its function takes the expected answer and the model's, both
already cut to SCORED_WORDS words, and returns a number from 0 to 1.

rouge-score's default tokenizer keeps only [a-z0-9], so identical Korean answers would score 0: ours keeps every
script's words, splits Han/Kana ideographs into characters, and Porter-stems Latin words as rouge-score does.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

VIEWS = frozenset({"deck", "report", "gradebook", "sweep"})
HEADLINE = "rougeL"  # the metric the narrative speaks of: the rubric's default, the summary's and the sweep's ranking
SCORED_WORDS = 1000  # rouge-score's LCS is quadratic in pure Python: 1,000 x 1,000 words is ~0.5 s; 50,000 is hours
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Metric:
    key: str  # the key in every score dict (ScoreRecord, results.json)
    label: str  # what people read
    digits: int  # decimals shown
    function: Callable[[str, str], float]  # (expected, answer) -> 0..1
    shown: frozenset[str] = frozenset({"deck"})  # which VIEWS show it (the deck shows every metric)
    column: str = ""  # the gradebook's column of its mean gain, when the gradebook shows it


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


@lru_cache(maxsize=4)  # the three ROUGE entries of one answer share one scoring
def _rouge(reference: str, prediction: str) -> dict[str, float]:
    scores = _scorer().score(reference, prediction)
    return {name: scores[name].fmeasure for name in ("rouge1", "rouge2", "rougeL")}


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 normalization: lower, drop punctuation and English articles, squeeze whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _exact_match(reference: str, prediction: str) -> float:
    return float(squad_normalize(reference) == squad_normalize(prediction) != "")


@cache
def _chrf_scorer() -> Any:
    from sacrebleu.metrics.chrf import CHRF

    return CHRF(word_order=2)  # chrF++: character 1-6-grams and word 1-2-grams


def _chrf(reference: str, prediction: str) -> float:
    """chrF++ (sacrebleu) from 0 to 1: character n-grams need no tokenizer, so a Korean answer that differs from
    the expected one by a particle (학습률은 / 학습률이) keeps most of its score."""
    return float(_chrf_scorer().sentence_score(prediction, [reference]).score) / 100


METRICS = (
    Metric("rouge1", "ROUGE-1", 3, lambda r, p: _rouge(r, p)["rouge1"]),
    Metric("rouge2", "ROUGE-2", 3, lambda r, p: _rouge(r, p)["rouge2"]),
    Metric("rougeL", "ROUGE-L", 3, lambda r, p: _rouge(r, p)["rougeL"], VIEWS, "rouge_l_gain"),
    Metric("exact_match", "Exact match", 2, _exact_match, frozenset({"deck", "report", "sweep"})),
    Metric("chrf", "chrF++", 3, _chrf, VIEWS, "chrf_gain"),
)
BY_KEY = {m.key: m for m in METRICS}


def shown(view: str) -> list[Metric]:
    """The metrics a view shows, the headline first (then in METRICS' order)."""
    return sorted((m for m in METRICS if view in m.shown), key=lambda m: m.key != HEADLINE)


def label(key: str) -> str:
    return BY_KEY[key].label


def first_words(text: str) -> str:
    words = text.split()
    return text if len(words) <= SCORED_WORDS else " ".join(words[:SCORED_WORDS])


def scores(reference: str, prediction: str) -> dict[str, float]:
    """Every metric of one answer; texts longer than SCORED_WORDS words are scored on their first words."""
    reference, prediction = first_words(reference), first_words(prediction)
    return {m.key: round(m.function(reference, prediction), 4) for m in METRICS}
