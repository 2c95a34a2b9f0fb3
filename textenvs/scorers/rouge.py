"""ROUGE-1/2/L/Lsum F-measures from Google's ``rouge-score`` package."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from textenvs.scorers.base import Scorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class RougeScorer(Scorer):
    """Per-example ROUGE F-measure; with several references the best one counts (``rouge_score`` max mode).

    :param rouge_types: which ROUGE variants to return.
    :param primary: which of them is the reward.
    :param use_stemmer: Porter-stem tokens first (as ``evaluate``'s rouge does by default: False).
    """

    name = "rouge"

    def __init__(
        self, rouge_types: Sequence[str] = ROUGE_TYPES, primary: str = "rougeL", use_stemmer: bool = False
    ) -> None:
        unknown = sorted(set(rouge_types) - set(ROUGE_TYPES))
        if unknown:
            raise ValueError(f"Unknown rouge types {unknown}; choose from {list(ROUGE_TYPES)}.")
        if primary not in rouge_types:
            raise ValueError(f"primary {primary!r} must be one of rouge_types {list(rouge_types)}.")
        self.rouge_types = tuple(rouge_types)
        self.primary = primary
        self.use_stemmer = use_stemmer
        self._scorer: Any = None

    def compute(self, predictions, references, prompts, metadata):
        if self._scorer is None:
            # Built at the first score, not in the constructor: rouge_score imports nltk (about 3 s), which would
            # otherwise be paid by every gym.make of an env whose default scorer is ROUGE.
            from rouge_score import rouge_scorer

            self._scorer = rouge_scorer.RougeScorer(list(self.rouge_types), use_stemmer=self.use_stemmer)
        out = {key: np.zeros(len(predictions)) for key in self.rouge_types}
        for i, (prediction, refs) in enumerate(zip(predictions, references)):
            result = self._scorer.score_multi(refs, prediction)
            for key in self.rouge_types:
                out[key][i] = result[key].fmeasure
        return out

    def score_names(self):
        return list(self.rouge_types)

    def config(self):
        return {"name": self.name, "primary": self.primary, "rouge_types": list(self.rouge_types),
                "use_stemmer": self.use_stemmer}
