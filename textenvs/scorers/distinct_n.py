"""Distinct-n diversity (Li et al., 2016): the share of n-grams that are unique."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.text import ngram_counts, ngrams
from textenvs.validation import positive_int


class DistinctNScorer(Scorer):
    """``distinct_k`` = distinct k-grams / k-grams over whitespace tokens, for k = 1..n (0 for a text shorter
    than k). Per example it measures repetition within a prediction; :meth:`corpus_score` pools the n-grams of
    all predictions (the usual corpus-level distinct-n). References are not used.

    :param n: highest order; the primary score is ``distinct_{n}``.
    """

    name = "distinct_n"
    requires_references = False

    def __init__(self, n: int = 2) -> None:
        self.n = positive_int("n", n, 2)
        self.primary = f"distinct_{self.n}"

    def compute(self, predictions, references, prompts, metadata):
        out = {key: np.zeros(len(predictions)) for key in self.score_names()}
        for i, prediction in enumerate(predictions):
            tokens = prediction.split()
            for k in range(1, self.n + 1):
                distinct, total = ngram_counts(tokens, k)
                out[f"distinct_{k}"][i] = distinct / total if total else 0.0
        return out

    def compute_corpus(self, predictions, references, prompts, metadata):
        out = {}
        for k in range(1, self.n + 1):
            grams = [gram for prediction in predictions for gram in ngrams(prediction.split(), k)]
            out[f"distinct_{k}"] = len(set(grams)) / len(grams) if grams else 0.0
        return out

    def score_names(self):
        return [f"distinct_{k}" for k in range(1, self.n + 1)]

    def config(self):
        return {"name": self.name, "primary": self.primary, "n": self.n}
