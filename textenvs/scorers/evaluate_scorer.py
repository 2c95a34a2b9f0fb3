"""Any Hugging Face ``evaluate`` module as a scorer (local path, loaded module, or hub name when online)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class EvaluateScorer(Scorer):
    """Wraps an ``evaluate`` module so its values become per-example rewards.

    The module is called once on the whole batch. Values it returns as one number per example become scores;
    when the primary value is a single corpus number instead (BLEU-style modules), the module is called once per
    example. Modules that take a single reference per prediction are called on every (prediction, reference)
    pair and each example keeps the values of its reference with the best primary score. :meth:`corpus_score`
    returns the module's own numbers for the whole batch (per-example lists are averaged).

    :param module: an ``evaluate.EvaluationModule``, or what ``evaluate.load`` accepts (a local path such as
        :func:`textenvs.scorers.evaluate_module_path`, or a hub name, which needs the network).
    :param primary: key of the module's result that is the reward (default: the module's name).
    :param name: scorer name (default: the module's name).
    :param compute_kwargs: passed to every ``module.compute`` call.
    """

    def __init__(self, module: Any, primary: str | None = None, name: str | None = None,
                 **compute_kwargs: Any) -> None:
        import datasets
        import evaluate

        self.module = evaluate.load(module) if isinstance(module, str) else module
        if not isinstance(self.module, evaluate.EvaluationModule):
            raise TypeError(f"module must be an evaluate module or a path/name for evaluate.load, got "
                            f"{type(self.module).__name__}.")
        self.source = module if isinstance(module, str) else self.module.name
        self.name = name or self.module.name
        self.primary = primary or self.module.name
        self.compute_kwargs = compute_kwargs
        formats = self.module.features if isinstance(self.module.features, list) else [self.module.features]
        with_references = [features for features in formats if "references" in features]
        self.requires_references = bool(with_references)
        self.multi_reference = any(not isinstance(features["references"], datasets.Value)
                                   for features in with_references)

    def _call(self, predictions: list[str], references: list[Any] | None) -> dict[str, Any]:
        inputs = {"predictions": predictions}
        if self.requires_references:
            inputs["references"] = references
        result = self.module.compute(**inputs, **self.compute_kwargs)
        if self.primary not in result:
            raise KeyError(f"evaluate module {self.source!r} returned {sorted(result)}, not the primary "
                           f"{self.primary!r}; pass primary= one of them.")
        return result

    def _per_item(self, predictions: list[str], references: list[Any] | None) -> dict[str, np.ndarray]:
        result = self._call(predictions, references)
        size = len(predictions)
        if _is_number(result[self.primary]):
            rows = [self._call([prediction], None if references is None else [refs])
                    for prediction, refs in zip(predictions, references or [None] * size)]
            return {key: np.array([row[key] for row in rows], dtype=np.float64)
                    for key, value in rows[0].items() if _is_number(value)}
        values = {key: np.asarray(value, dtype=np.float64) for key, value in result.items()
                  if isinstance(value, (list, tuple, np.ndarray)) and len(value) == size
                  and all(_is_number(v) for v in value)}
        if self.primary not in values:
            raise TypeError(f"evaluate module {self.source!r} returned {type(result[self.primary]).__name__} for "
                            f"{self.primary!r}; expected a number or one number per prediction.")
        return values

    def compute(self, predictions, references, prompts, metadata):
        if not self.requires_references or self.multi_reference:
            return self._per_item(predictions, references if self.requires_references else None)
        owners = [i for i, refs in enumerate(references) for _ in refs]
        values = self._per_item([predictions[i] for i in owners], [ref for refs in references for ref in refs])
        best: dict[int, int] = {}
        for item, owner in enumerate(owners):
            if owner not in best or values[self.primary][item] > values[self.primary][best[owner]]:
                best[owner] = item
        chosen = [best[i] for i in range(len(predictions))]
        return {key: array[chosen] for key, array in values.items()}

    def compute_corpus(self, predictions, references, prompts, metadata):
        if self.requires_references and not self.multi_reference:
            if any(len(refs) != 1 for refs in references):
                raise ValueError(f"evaluate module {self.source!r} takes one reference per prediction; corpus "
                                 "scoring needs exactly one per example.")
            references = [refs[0] for refs in references]
        result = self._call(predictions, references if self.requires_references else None)
        out = {}
        for key, value in result.items():
            if _is_number(value):
                out[key] = float(value)
            elif isinstance(value, (list, tuple, np.ndarray)) and len(value) == len(predictions) \
                    and all(_is_number(v) for v in value):
                out[key] = float(np.mean(value))
        return out

    def config(self):
        return {"name": self.name, "primary": self.primary, "module": str(self.source),
                "compute_kwargs": self.compute_kwargs}
