"""What a group's deliverable states about its training run: the loss it reports and where it shows training.

The assignment asks each group to "track and report your final train loss and perplexity" and to show "screenshots
or logs from training". A group that follows the course often has no per-step log at all (1-3 optimizer steps with
`logging_steps` 20), so the sentence on its slide is the report. It is read here as a claim, with its words and its
slide or page, never as a measurement:

  loss        "Final train loss: 1.87", "train_loss = 1.87", "최종 loss 1.87", "손실은 1.87", a table whose header
              has a loss column (step | loss) or a row "train loss | 1.87"
  perplexity  "perplexity ≈ 6.5", "PPL 6.5", "퍼플렉서티 6.5"

A number that is a bound or a range ("> 5.0", "3.0-5.0": the course's own scale for reading a loss) states nothing
about a run, and a validation / eval loss is not the train loss.
"""

from __future__ import annotations

import math
import re

from grader.measure.scale import BANDS
from grader.records import DocBlock, Document, StatedLoss

# a number that is a bound or one end of a range (the course's scale: "3.0-5.0", "5.0 이상", "5.0+") states no loss
NUMBER = (
    r"(?P<n>\d{1,3}(?:\.\d+)?)(?![\d.]*\s*(?:-|–|~|to|～)\s*\d)(?![\d.]*%)"
    r"(?![\d.]*\s*(?:\+|이상|이하|미만|초과|or (?:more|above|less|below)|and (?:above|below)))"
)
BOUND = re.compile(r"[<>≤≥]\s*$")
LOSS = re.compile(
    r"(?P<final>final|last|최종|마지막)?[\s_-]*(?:train(?:ing)?[\s_-]*)?(?:loss|손실|로스)"
    r"(?:\s*(?:값|value|was|is|of|at the end|은|는|이|가|:|=|≈|~|→|->|\(|\)))*\s*[:=≈~]?\s*" + NUMBER,
    re.IGNORECASE,
)
NOT_TRAIN = re.compile(r"(eval|valid\w*|val|test|검증|평가)[\s_-]*$", re.IGNORECASE)  # just before "loss"
EVAL = re.compile(r"eval|valid|\bval\b|test|검증|평가", re.IGNORECASE)  # anywhere in a table cell
FROM_TO = re.compile(  # "fell from 2.9 to 1.8", "2.9 → 1.8", "2.9에서 1.8로": a bare "3.0 to 5.0" is a range
    r"(?:loss|손실|로스)\D{0,30}?(?:(?:from\s*(?P<a>\d{1,3}\.\d+)\s*to)|(?P<c>\d{1,3}\.\d+)\s*(?:->|→|에서))"
    r"\s*(?P<b>\d{1,3}\.\d+)",
    re.IGNORECASE,
)
DROPPED_TO = re.compile(
    r"(?:loss|손실|로스)\D{0,30}?(?:dropped|fell|decreased|went down|came down|reached)\s+to\s+" + NUMBER, re.I
)
SCALE_WORDS = re.compile("|".join(re.escape(words) for _, words in BANDS), re.IGNORECASE)
PERPLEXITY = re.compile(
    r"(?:perplexity|ppl|퍼플렉서티|혼잡도)(?:\s*(?:값|value|was|is|of|은|는|:|=|≈|~|\())*\s*[:=≈~]?\s*" + NUMBER,
    re.IGNORECASE,
)
TRAINING_SHOWN = re.compile(r"\b(loss|tensorboard|training|train_loss|learning curve)\b|학습|손실|로스", re.I)


def _numbers(pattern: re.Pattern[str], text: str) -> list[tuple[float, re.Match[str]]]:
    found = []
    for match in pattern.finditer(text):
        before = text[: match.start()]
        if BOUND.search(text[match.start() : match.start("n")]) or NOT_TRAIN.search(before[-12:]):
            continue
        value = float(match["n"])
        if math.isfinite(value):
            found.append((value, match))
    return found


def _table_losses(document: Document) -> list[tuple[float, str, str]]:
    """(loss, where, words) from tables: a 'loss' column under a header (step | loss), or a row 'train loss | 1.87'."""
    found = []
    for table in document.tables:
        header = table.rows[0] if table.rows else []
        column = next(
            (j for j, cell in enumerate(header) if re.search(r"loss|손실", cell, re.I) and not EVAL.search(cell)),
            None,
        )
        for row in table.rows[1:]:
            cell = row[column].strip() if column is not None and column < len(row) else ""
            if column is not None and re.fullmatch(r"\d{1,3}(?:\.\d+)?", cell):
                found.append((float(cell), table.where, f"{header[column]}: {cell}"))
        for row in table.rows:
            if len(row) >= 2 and re.search(r"(train\w*|final|최종)?\s*(loss|손실)", row[0], re.I):
                cell = row[1].strip()
                if re.fullmatch(r"\d{1,3}(?:\.\d+)?", cell) and not EVAL.search(row[0]):
                    found.append((float(cell), table.where, f"{row[0]}: {cell}"))
    return found


def loss(document: Document) -> StatedLoss | None:
    """The training loss the document states (the final one where it says so), with its words and place."""
    stated: list[tuple[float, str, str, bool]] = []  # value, where, words, said to be final
    perplexity: float | None = None
    for block in document.blocks:
        if block.kind == "table":
            continue  # read as a table below, where its header says what a number is
        if len({m.lower() for m in SCALE_WORDS.findall(block.text)}) >= 2:
            continue  # the course's loss scale names its bands, not this run's loss (one band word is a verdict)
        spans = []
        for match in FROM_TO.finditer(block.text):  # "the loss went from 2.9 to 1.8": two stated values
            spans.append(match.span())
            if not NOT_TRAIN.search(block.text[: match.start()][-12:]):
                words = _words(block, match)
                first = float(match["a"] or match["c"])
                stated += [(first, block.where, words, False), (float(match["b"]), block.where, words, False)]
        for value, match in [*_numbers(DROPPED_TO, block.text), *_numbers(LOSS, block.text)]:
            if not any(a <= match.start() < b for a, b in spans):
                spans.append(match.span())
                stated.append((value, block.where, _words(block, match), bool(match.groupdict().get("final"))))
        for value, _ in _numbers(PERPLEXITY, block.text)[:1]:
            perplexity = perplexity if perplexity is not None else value
    stated += [(value, where, words, False) for value, where, words in _table_losses(document)]
    if not stated:
        return None
    finals = [s for s in stated if s[3]]
    value, where, words, _ = finals[0] if finals else stated[-1]  # where it first says "final", else the last one
    return StatedLoss(
        train_loss=value,
        perplexity=perplexity,
        values=[s[0] for s in stated][:200],
        where=f"{document.file}, {where}",
        words=words,
    )


def _words(block: DocBlock, match: re.Match[str]) -> str:
    start, end = max(match.start() - 20, 0), min(match.end() + 20, len(block.text))
    return " ".join(block.text[start:end].split())


def training_shown(document: Document) -> str:
    """Where the document shows its training run as a picture: an image on a slide or page whose text speaks of the
    loss, TensorBoard or training (the assignment's "screenshots ... from training")."""
    for where in document.images:
        page = where.split(",")[0].strip()
        if any(b.where.startswith(page) and TRAINING_SHOWN.search(b.text) for b in document.blocks):
            return f"{document.file}, {page}"
    return ""
