"""evaluate module `dialogue_goal`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge


class DialogueGoal(bridge.ScorerMetric):
    """Goal completion and slot accuracy of a booking confirmation against metadata['slots']."""

    scorer_name = "dialogue_goal"
    uses_references = False
