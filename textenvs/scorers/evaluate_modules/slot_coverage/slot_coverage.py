"""evaluate module `slot_coverage`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge


class SlotCoverage(bridge.ScorerMetric):
    """Fraction of metadata['slots'] whose value the prediction states as a token span."""

    scorer_name = "slot_coverage"
    uses_references = False
