"""evaluate module `length_penalty`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge


class LengthPenalty(bridge.ScorerMetric):
    """-|words - target| / target, the target being target_length or the closest reference length."""

    scorer_name = "length_penalty"
