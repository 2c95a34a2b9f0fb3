"""evaluate module `reward_model`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge


class RewardModel(bridge.ScorerMetric):
    """Output of a local Hugging Face sequence-classification model (logit, or the probability of a label)."""

    scorer_name = "reward_model"
    uses_references = False
