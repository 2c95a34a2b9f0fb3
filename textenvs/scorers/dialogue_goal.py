"""Goal completion of a task-oriented conversation: did the agent's final turn book everything the user wanted?"""

from __future__ import annotations

from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.slot_coverage import slot_coverage
from textenvs.scorers.text import normalize_tokens

BOOKING_WORD = "booked"
"""A turn is a booking confirmation when this word occurs in it (``"i have booked ..."``, ``"... is booked"``)."""


def booking_slot_accuracy(text: str, slots: Any, where: str = "slots") -> tuple[bool, float]:
    """Whether ``text`` confirms a booking, and the fraction of ``slots`` it states (see
    :func:`~textenvs.scorers.slot_coverage.slot_coverage` for the forms ``slots`` may take)."""
    return BOOKING_WORD in normalize_tokens(text), slot_coverage(text, slots, where)


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
        all_slots = metadata_field(metadata, "slots", self.name)
        completion = np.zeros(len(predictions))
        accuracy = np.zeros(len(predictions))
        for i, (prediction, slots) in enumerate(zip(predictions, all_slots)):
            is_booking, accuracy[i] = booking_slot_accuracy(prediction, slots, f"metadata[{i}]['slots']")
            completion[i] = float(is_booking and accuracy[i] == 1.0)
        return {"goal_score": (completion + accuracy) / 2, "goal_completion": completion, "slot_accuracy": accuracy}

    def score_names(self):
        return ["goal_score", "goal_completion", "slot_accuracy"]
