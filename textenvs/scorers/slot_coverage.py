"""Slot coverage for task-oriented dialogue: how many of the requested slots the reply fills."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.text import contains_span, normalize_tokens, phrase_tokens


def slot_spans(slots: Any, where: str) -> list[list[list[str]]]:
    """For each slot of ``slots`` (a mapping ``{name: value}`` or a list of values; a value is a string or a list of
    acceptable alternatives) the normalized token spans of its alternatives; an error naming ``where`` when
    ``slots`` is empty or not of these forms."""
    if isinstance(slots, Mapping):
        items = [(f"{where}[{name!r}]", value) for name, value in slots.items()]
    elif isinstance(slots, (list, tuple)):
        items = [(f"{where}[{k}]", value) for k, value in enumerate(slots)]
    else:
        raise TypeError(f"{where} must be a mapping or a list, got {type(slots).__name__}.")
    if not items:
        raise ValueError(f"{where} is empty; slot coverage needs at least one slot.")
    return [[phrase_tokens(alternative, f"{slot}[{a}]")
             for a, alternative in enumerate([value] if isinstance(value, str) else list(value))]
            for slot, value in items]


def filled_fraction(tokens: list[str], spans: list[list[list[str]]]) -> float:
    """Fraction of the slots (:func:`slot_spans`) that some alternative of fills as a contiguous run of ``tokens``."""
    return sum(any(contains_span(tokens, alternative) for alternative in slot) for slot in spans) / len(spans)


def slot_coverage(prediction: str, slots: Any, where: str = "slots") -> float:
    """Fraction of ``slots`` (see :func:`slot_spans` for its forms) whose value occurs in ``prediction`` as a
    contiguous normalized token span."""
    return filled_fraction(normalize_tokens(prediction), slot_spans(slots, where))


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
        all_spans = metadata_field(metadata, "slots", self.name, slot_spans)
        coverage = [filled_fraction(normalize_tokens(prediction), spans)
                    for prediction, spans in zip(predictions, all_spans)]
        return {"slot_coverage": np.array(coverage, dtype=np.float64)}
