"""Dialogue slots for ``textenvs/Dialogue-v1``: the requested slots confirmed, nothing invented."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.slot_coverage import SlotCoverageScorer
from textenvs.scorers.text import canonical_precision


class DialogueSlotsScorer(Scorer):
    """``slot_coverage × precision``: the fraction of ``metadata["slots"]`` the reply states (as in
    ``slot_coverage``) times :func:`~textenvs.scorers.text.canonical_precision` against
    ``metadata["canonical"]``. References are not used; all three values are returned, the product is the reward.

    A generic reply confirms nothing (0.0); a wrong or invented value, a repeat or padding lowers precision.
    1.0 exactly for the canonical reply. Example with canonical ``i have booked a hotel for 4 people for 3
    nights from friday .`` (3 slots, 14 tokens): ``i have booked a hotel for 4 people for 3 nights .`` scores
    2/3 × 1 = 0.667; ``how can i help you ?`` scores 0.
    """

    name = "dialogue_slots"
    primary = "dialogue_slots"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        coverage = SlotCoverageScorer().compute(predictions, references, prompts, metadata)["slot_coverage"]
        canonicals = metadata_field(metadata, "canonical", self.name)
        precision = np.array([canonical_precision(p, c) for p, c in zip(predictions, canonicals)])
        return {"dialogue_slots": coverage * precision, "slot_coverage": coverage, "precision": precision}
