"""evaluate module `token_f1`: the textenvs scorer of that name (offline)."""

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


class TokenF1(bridge.ScorerMetric):
    """Unigram precision, recall and F1 of SQuAD-normalized tokens against the best reference."""

    scorer_name = "token_f1"
    citation = _CITATION
