"""Goal completion of a task-oriented conversation: did the agent's final turn book everything the user wanted?"""

from __future__ import annotations

from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.slot_coverage import filled_fraction, slot_spans
from textenvs.scorers.text import normalize_tokens

BOOKING_WORD = "booked"
"""A turn is a booking confirmation when this word occurs in it (``"i have booked ..."``, ``"... is booked"``)."""


def booking_slot_accuracy(text: str, slots: Any, where: str = "slots") -> tuple[bool, float]:
    """Whether ``text`` confirms a booking, and the fraction of ``slots`` it states (see
    :func:`~textenvs.scorers.slot_coverage.slot_spans` for the forms ``slots`` may take)."""
    return _booking_slot_accuracy(normalize_tokens(text), slot_spans(slots, where))


def _booking_slot_accuracy(tokens: list[str], spans: list[list[list[str]]]) -> tuple[bool, float]:
    return BOOKING_WORD in tokens, filled_fraction(tokens, spans)


class DialogueGoalScorer(Scorer):
    """Scores the agent's final turn against the user's goal ``metadata["slots"]``; references are not used.

    - ``slot_accuracy``: fraction of the goal's slot values the turn states;
    - ``goal_completion``: 1 when the turn is a booking confirmation (contains "booked") stating every slot —
      exactly when the multi-turn dialogue env ends the conversation with the goal met;
    - ``goal_score`` (primary): ``(goal_completion + slot_accuracy) / 2``, so partly right bookings earn credit.
    """

    name = "dialogue_goal"
    primary = "goal_score"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        all_spans = metadata_field(metadata, "slots", self.name, slot_spans)
        results = [_booking_slot_accuracy(normalize_tokens(prediction), spans)
                   for prediction, spans in zip(predictions, all_spans)]
        accuracy = np.array([slot_accuracy for _, slot_accuracy in results], dtype=np.float64)
        completion = np.array([is_booking and slot_accuracy == 1.0 for is_booking, slot_accuracy in results],
                              dtype=np.float64)
        return {"goal_score": (completion + accuracy) / 2, "goal_completion": completion, "slot_accuracy": accuracy}

    def score_names(self):
        return ["goal_score", "goal_completion", "slot_accuracy"]
