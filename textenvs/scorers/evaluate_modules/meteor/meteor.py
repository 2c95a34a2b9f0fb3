"""evaluate module `meteor`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{banarjee2005,
    title = "{METEOR}: An Automatic Metric for {MT} Evaluation with Improved Correlation with Human Judgments",
    author = "Banerjee, Satanjeev and Lavie, Alon",
    booktitle = "Proceedings of the ACL Workshop on Intrinsic and Extrinsic Evaluation Measures",
    year = "2005",
    pages = "65--72",
}
"""


class Meteor(bridge.ScorerMetric):
    """METEOR from nltk with WordNet 3.0 from Debian's wordnet-base/wordnet-sense-index packages (no download)."""

    scorer_name = "meteor"
    citation = _CITATION
