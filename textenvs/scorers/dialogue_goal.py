"""Goal completion of a task-oriented conversation: did the agent's final turn book everything the user wanted?"""

from __future__ import annotations

from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.slot_coverage import SlotCoverageScorer, slot_coverage
from textenvs.scorers.text import normalize_tokens

BOOKING_WORD = "booked"
"""A turn is a booking confirmation when this word occurs in it (``"i have booked ..."``, ``"... is booked"``)."""


def is_booking(text: str) -> bool:
    """Whether ``text`` is a booking confirmation."""
    return BOOKING_WORD in normalize_tokens(text)


def booking_slot_accuracy(text: str, slots: Any, where: str = "slots") -> tuple[bool, float]:
    """Whether ``text`` confirms a booking, and the fraction of ``slots`` it states (see
    :func:`~textenvs.scorers.slot_coverage.slot_spans` for the forms ``slots`` may take)."""
    return is_booking(text), slot_coverage(text, slots, where)


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
        accuracy = SlotCoverageScorer().compute(predictions, references, prompts, metadata)["slot_coverage"]
        booking = np.array([is_booking(prediction) for prediction in predictions])
        completion = (booking & (accuracy == 1.0)).astype(np.float64)
        return {"goal_score": (completion + accuracy) / 2, "goal_completion": completion, "slot_accuracy": accuracy}

    def score_names(self):
        return ["goal_score", "goal_completion", "slot_accuracy"]
