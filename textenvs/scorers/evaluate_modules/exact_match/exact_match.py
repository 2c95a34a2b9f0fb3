"""evaluate module `exact_match`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{rajpurkar-etal-2016-squad,
    title = "{SQ}u{AD}: 100,000+ Questions for Machine Comprehension of Text",
    author = "Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy",
    booktitle = "Proceedings of EMNLP",
    year = "2016",
    pages = "2383--2392",
}
"""


class ExactMatch(bridge.ScorerMetric):
    """1 when the prediction equals a reference (SQuAD-normalized by default), else 0."""

    scorer_name = "exact_match"
    citation = _CITATION
