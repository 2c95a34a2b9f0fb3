"""Composite reward: a weighted sum of other scorers, keeping every component's scores."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.registry import ScorerSpec, make_scorer


class CompositeScorer(Scorer):
    """Reward ``sum(weight * component primary score)``; every component score is kept as ``"<component>/<key>"``.

    >>> scorer = CompositeScorer({"rouge": 0.5, "chrf": 0.5, "length_penalty": 0.1})
    >>> sorted(scorer(["a cat sat"], [["a cat sat"]]))[:3]
    ['chrf/chrf', 'composite', 'length_penalty/length']

    :param weights: ``{component: weight}`` where a component is a registered name, a :class:`Scorer` or a
        plain callable (see :func:`make_scorer`). A name labels its component's keys; a scorer object is
        labelled by its ``name``. Labels must be distinct. Weights may be negative (costs).
    :param name: name of the composite and key of its weighted sum (the primary score).
    """

    def __init__(self, weights: Mapping[ScorerSpec, float], name: str = "composite") -> None:
        if not weights:
            raise ValueError("CompositeScorer needs at least one component in weights, got none.")
        self.components: list[tuple[str, Scorer, float]] = []
        for spec, weight in weights.items():
            scorer = make_scorer(spec)
            label = spec if isinstance(spec, str) else scorer.name
            if any(label == other for other, _, _ in self.components):
                raise ValueError(f"Two components are labelled {label!r}; "
                                 "give one scorer object a distinct .name.")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise ValueError(f"Weight of component {label!r} must be a finite number, got {weight!r}.")
            self.components.append((label, scorer, float(weight)))
        self.name = self.primary = name
        self.requires_references = any(scorer.requires_references for _, scorer, _ in self.components)

    def compute(self, predictions, references, prompts, metadata):
        out: dict[str, np.ndarray] = {self.primary: np.zeros(len(predictions))}
        for label, scorer, weight in self.components:
            scores = scorer.score(predictions, references, prompts, metadata)
            out[self.primary] = out[self.primary] + weight * scores[scorer.primary]
            out.update({f"{label}/{key}": values for key, values in scores.items()})
        return out

    def compute_corpus(self, predictions, references, prompts, metadata):
        out = {self.primary: 0.0}
        for label, scorer, weight in self.components:
            values = scorer.corpus_score(predictions, references, prompts, metadata)
            out[self.primary] += weight * values[scorer.primary]
            out.update({f"{label}/{key}": value for key, value in values.items()})
        return out

    def score_names(self):
        return [self.primary] + [f"{label}/{key}" for label, scorer, _ in self.components
                                 for key in scorer.score_names()]

    def close(self) -> None:
        for _, scorer, _ in self.components:
            scorer.close()

    def config(self):
        return {"name": self.name, "primary": self.primary,
                "weights": {label: weight for label, _, weight in self.components},
                "components": {label: scorer.config() for label, scorer, _ in self.components}}
