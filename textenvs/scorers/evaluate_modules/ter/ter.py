"""evaluate module `ter`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{snover-etal-2006-study,
    title = "A Study of Translation Edit Rate with Targeted Human Annotation",
    author = "Snover, Matthew and Dorr, Bonnie and Schwartz, Rich and Micciulla, Linnea and Makhoul, John",
    booktitle = "Proceedings of AMTA",
    year = "2006",
    pages = "223--231",
}
"""


class Ter(bridge.ScorerMetric):
    """Translation edit rate from sacrebleu divided by 100 (`ter`, lower is better) and its negation `neg_ter`
    (the reward)."""

    scorer_name = "ter"
    citation = _CITATION
