"""Repetition shaping: penalize n-grams a prediction repeats (the degenerate loops RL policies fall into)."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.text import ngram_counts
from textenvs.validation import positive_int


class RepetitionPenaltyScorer(Scorer):
    """``-(repeated n-grams / n-grams)`` over the prediction's whitespace tokens: 0 when no n-gram occurs
    twice (or the text is shorter than ``n``), -1 in the limit of one n-gram repeated forever.
    References are not used.

    :param n: n-gram order (2: repeated bigrams).
    """

    name = "repetition_penalty"
    primary = "repetition_penalty"
    requires_references = False

    def __init__(self, n: int = 2) -> None:
        self.n = positive_int("n", n, 2)

    def compute(self, predictions, references, prompts, metadata):
        penalty = np.zeros(len(predictions))
        for i, prediction in enumerate(predictions):
            distinct, total = ngram_counts(prediction.split(), self.n)
            if total:
                penalty[i] = -(total - distinct) / total
        return {"repetition_penalty": penalty}

    def config(self):
        return {"name": self.name, "primary": self.primary, "n": self.n}
