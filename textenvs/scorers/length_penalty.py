"""Length shaping: penalize predictions whose word count strays from a target length."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer


class LengthPenaltyScorer(Scorer):
    """``-|words(prediction) - target| / max(target, 1)``: 0 at the target length, negative elsewhere.

    Words are whitespace-separated tokens. The target is ``target_length`` when given, else the word count of
    the reference closest in length to the prediction (references are then required). ``length`` reports the
    prediction's word count.

    :param target_length: fixed target in words, or ``None`` to follow the references.
    """

    name = "length_penalty"
    primary = "length_penalty"

    def __init__(self, target_length: int | None = None) -> None:
        if target_length is not None and target_length < 0:
            raise ValueError(f"target_length must be >= 0 or None, got {target_length}.")
        self.target_length = target_length
        self.requires_references = target_length is None

    def compute(self, predictions, references, prompts, metadata):
        lengths = np.array([len(prediction.split()) for prediction in predictions], dtype=np.float64)
        if self.target_length is not None:
            targets = np.full(len(predictions), float(self.target_length))
        else:
            targets = np.array([min((len(ref.split()) for ref in refs), key=lambda n: abs(n - length))
                                for length, refs in zip(lengths, references)], dtype=np.float64)
        return {"length_penalty": -np.abs(lengths - targets) / np.maximum(targets, 1.0), "length": lengths}

    def score_names(self):
        return ["length_penalty", "length"]

    def config(self):
        return {"name": self.name, "primary": self.primary, "target_length": self.target_length}
