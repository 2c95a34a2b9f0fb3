"""Dialogue slots for ``textenvs/SyntheticDialogue-v1``: the requested slots confirmed, nothing invented."""

from __future__ import annotations

from textenvs.scorers.canonical import CoverageTimesPrecisionScorer
from textenvs.scorers.slot_coverage import SlotCoverageScorer


class DialogueSlotsScorer(CoverageTimesPrecisionScorer):
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
    coverage = SlotCoverageScorer
