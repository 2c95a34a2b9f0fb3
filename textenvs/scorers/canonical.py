"""The v1 rewards' shape: coverage of what the example asks for, times precision against its canonical output."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.text import canonical_precision, nonempty_text


class CoverageTimesPrecisionScorer(Scorer):
    """``coverage × precision``: the primary score of the :attr:`coverage` scorer (how much of what the example asks
    for the prediction states) times :func:`~textenvs.scorers.text.canonical_precision` against
    ``metadata["canonical"]`` (how little else it says). References are not used; the product (:attr:`primary`), the
    coverage (under the coverage scorer's name) and ``precision`` are returned.

    Subclasses set :attr:`name`, :attr:`primary` and :attr:`coverage`.

    :cvar coverage: the reference-free scorer class whose primary score is the coverage term.
    """

    requires_references = False
    coverage: type[Scorer]

    def compute(self, predictions, references, prompts, metadata):
        coverage_scorer = self.coverage()
        coverage = coverage_scorer.compute(predictions, references, prompts, metadata)[coverage_scorer.primary]
        canonicals = metadata_field(metadata, "canonical", self.name, nonempty_text)
        precision = np.array([canonical_precision(p, c) for p, c in zip(predictions, canonicals)], dtype=np.float64)
        return {self.primary: coverage * precision, coverage_scorer.primary: coverage, "precision": precision}

    def score_names(self):
        return [self.primary, self.coverage.primary, "precision"]
