"""evaluate module `key_fact_recall`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge


class KeyFactRecall(bridge.ScorerMetric):
    """Fraction of metadata['key_facts'] stated in the prediction as token spans."""

    scorer_name = "key_fact_recall"
    uses_references = False
