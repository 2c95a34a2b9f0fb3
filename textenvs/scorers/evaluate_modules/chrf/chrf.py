"""evaluate module `chrf`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{popovic-2015-chrf,
    title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
    author = "Popovi{\'c}, Maja",
    booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
    year = "2015",
    pages = "392--395",
}
"""


class Chrf(bridge.ScorerMetric):
    """chrF (word_order=2: chrF++) from sacrebleu on a 0-1 scale."""

    scorer_name = "chrf"
    citation = _CITATION
