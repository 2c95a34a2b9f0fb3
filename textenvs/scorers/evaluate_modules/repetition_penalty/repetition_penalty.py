"""evaluate module `repetition_penalty`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge


class RepetitionPenalty(bridge.ScorerMetric):
    """Minus the share of repeated n-grams in the prediction."""

    scorer_name = "repetition_penalty"
    uses_references = False
