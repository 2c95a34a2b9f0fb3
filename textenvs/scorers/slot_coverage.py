"""Slot coverage for task-oriented dialogue: how many of the requested slots the reply fills."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.text import contains_span, normalize_tokens, phrase_tokens


def slot_coverage(prediction: str, slots: Any, where: str) -> float:
    """Fraction of ``slots`` (a mapping ``{name: value}`` or a list of values; a value is a string or a list of
    acceptable alternatives) whose value occurs in ``prediction`` as a contiguous normalized token span."""
    if isinstance(slots, Mapping):
        items = [(f"{where}[{name!r}]", value) for name, value in slots.items()]
    elif isinstance(slots, (list, tuple)):
        items = [(f"{where}[{k}]", value) for k, value in enumerate(slots)]
    else:
        raise TypeError(f"{where} must be a mapping or a list, got {type(slots).__name__}.")
    if not items:
        raise ValueError(f"{where} is empty; slot coverage needs at least one slot.")
    tokens = normalize_tokens(prediction)
    filled = 0
    for slot, value in items:
        alternatives = [value] if isinstance(value, str) else list(value)
        filled += any(contains_span(tokens, phrase_tokens(alternative, f"{slot}[{a}]"))
                      for a, alternative in enumerate(alternatives))
    return filled / len(items)


class SlotCoverageScorer(Scorer):
    """Fraction of ``metadata["slots"]`` whose value occurs in the prediction as a contiguous token span
    (lower-cased, punctuation and articles dropped). References are not used.

    ``slots`` is a non-empty mapping ``{slot name: value}`` or a list of values; a value may be a string or a
    list of acceptable alternatives (any one fills the slot).
    """

    name = "slot_coverage"
    primary = "slot_coverage"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        all_slots = metadata_field(metadata, "slots", self.name)
        coverage = np.array([slot_coverage(prediction, slots, f"metadata[{i}]['slots']")
                             for i, (prediction, slots) in enumerate(zip(predictions, all_slots))], dtype=np.float64)
        return {"slot_coverage": coverage}
