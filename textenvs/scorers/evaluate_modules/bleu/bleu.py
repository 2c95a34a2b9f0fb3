"""evaluate module `bleu`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{papineni-etal-2002-bleu,
    title = "{B}leu: a Method for Automatic Evaluation of Machine Translation",
    author = "Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing",
    booktitle = "Proceedings of ACL",
    year = "2002",
    pages = "311--318",
}
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation",
    year = "2018",
    pages = "186--191",
}
"""


class Bleu(bridge.ScorerMetric):
    """BLEU from sacrebleu on a 0-1 scale: sentence BLEU with effective order per example, standard corpus
    BLEU for the corpus."""

    scorer_name = "bleu"
    citation = _CITATION
