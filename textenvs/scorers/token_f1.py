"""Unigram F1 between a prediction and its best-matching reference (the standard dialogue-response F1)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.text import normalize_tokens


def token_f1(prediction: str, reference: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of normalized unigrams; an empty side scores 0."""
    predicted, expected = normalize_tokens(prediction), normalize_tokens(reference)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return precision, recall, 2 * precision * recall / (precision + recall)


class TokenF1Scorer(Scorer):
    """Unigram precision/recall/F1, taking for each example the reference with the highest F1."""

    name = "token_f1"
    primary = "token_f1"

    def compute(self, predictions, references, prompts, metadata):
        rows = np.zeros((len(predictions), 3))
        for i, (prediction, refs) in enumerate(zip(predictions, references)):
            rows[i] = max((token_f1(prediction, ref) for ref in refs), key=lambda prf: prf[2])
        return {"token_precision": rows[:, 0], "token_recall": rows[:, 1], "token_f1": rows[:, 2]}

    def score_names(self):
        return ["token_precision", "token_recall", "token_f1"]
