"""Sentence-level chrF from ``sacrebleu`` (values on sacrebleu's 0-100 scale divided by 100)."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer


class ChrFScorer(Scorer):
    """Sentence chrF (chrF++ with ``word_order=2``) against all references, scaled to [0, 1].

    :param char_order: character n-gram order (sacrebleu default 6).
    :param word_order: word n-gram order (0 = chrF, 2 = chrF++).
    :param beta: recall weight (sacrebleu default 2).
    """

    name = "chrf"
    primary = "chrf"

    def __init__(self, char_order: int = 6, word_order: int = 0, beta: int = 2) -> None:
        from sacrebleu.metrics import CHRF

        self.char_order, self.word_order, self.beta = char_order, word_order, beta
        self._metric = CHRF(char_order=char_order, word_order=word_order, beta=beta)

    def compute(self, predictions, references, prompts, metadata):
        return {"chrf": np.array([self._metric.sentence_score(p, refs).score / 100.0
                                  for p, refs in zip(predictions, references)])}

    def config(self):
        return {"name": self.name, "primary": self.primary, "char_order": self.char_order,
                "word_order": self.word_order, "beta": self.beta}
