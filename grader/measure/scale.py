"""The course's own scale for reading a final loss (per-token cross-entropy) and its perplexity, from its slides.

A group's loss and the loss of grader's own run are both placed on it, each labelled, so the report speaks the
language the course taught. The loss of the course script includes prompt tokens; the scale is read the same way.
"""

from __future__ import annotations

import math

# (lowest loss of the band, what the course calls it), from the top band down
BANDS = (
    (5.0, "random guessing / not learning"),
    (3.0, "very poor fit"),
    (2.0, "learning but weak"),
    (1.5, "decent fit"),
    (1.0, "strong fit"),
    (0.5, "very strong fit, watch validation loss"),
    (0.0, "near-perfect memorization, likely overfit"),
)


def band(loss: float) -> str:
    """The course's words for a final train loss."""
    for low, words in BANDS:
        if loss > low or (low == 0.0 and loss >= 0):
            return words
    return BANDS[-1][1]


def band_index(loss: float) -> int:
    """0 for the top band ("random guessing") down to 6 ("near-perfect memorization"): how far two losses are apart."""
    return [words for _, words in BANDS].index(band(loss))


def describe(loss: float | None, whose: str) -> str | None:
    """'the group's logs: loss 2.419 (perplexity 11.2) is "learning but weak" on the course's scale'."""
    if loss is None or not math.isfinite(loss):
        return None
    ppl = f"{math.exp(loss):.1f}" if loss < 50 else "overflow"
    return f'{whose}: loss {loss:.3f} (perplexity {ppl}) is "{band(loss)}" on the course\'s scale'
