"""evaluate module `distinct_n`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{li-etal-2016-diversity,
    title = "A Diversity-Promoting Objective Function for Neural Conversation Models",
    author = "Li, Jiwei and Galley, Michel and Brockett, Chris and Gao, Jianfeng and Dolan, Bill",
    booktitle = "Proceedings of NAACL-HLT",
    year = "2016",
    pages = "110--119",
}
"""


class DistinctN(bridge.ScorerMetric):
    """Distinct-1..n: share of unique n-grams, per prediction or pooled over the corpus."""

    scorer_name = "distinct_n"
    uses_references = False
    citation = _CITATION
