"""Exact match: the prediction equals one of the references."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.text import normalize_tokens


class ExactMatchScorer(Scorer):
    """1 when the prediction equals any reference, else 0.

    :param normalize: compare SQuAD-normalized tokens (lower-case, no punctuation or articles, whitespace
        collapsed) instead of the raw strings. Two empty texts match.
    """

    name = "exact_match"
    primary = "exact_match"

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def compute(self, predictions, references, prompts, metadata):
        canonical = normalize_tokens if self.normalize else (lambda text: text)
        return {"exact_match": np.array([
            float(any(canonical(prediction) == canonical(ref) for ref in refs))
            for prediction, refs in zip(predictions, references)])}

    def config(self):
        return {"name": self.name, "primary": self.primary, "normalize": self.normalize}
