"""The metrics of a set of predictions: the one definition the benchmark runner and the leaderboard both report."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence

import numpy as np

from textenvs.data.dataset import Example
from textenvs.scorers import Scorer

CORPUS_PREFIX = "corpus_"
"""Prefix of corpus-level values (``corpus_chrf``) beside the per-example means (``chrf``)."""


def prediction_metrics(scorer: Scorer, examples: Sequence[Example], predictions: Sequence[str],
                       chunk_chars: int | None = None,
                       turn: Callable[[slice], ContextManager[Any]] | None = None) -> dict[str, float]:
    """The mean of every per-example score under its own name (the primary one is the mean env reward) and the
    scorer's corpus-level values as ``corpus_<name>`` (corpus chrF, BLEU, ... where the scorer defines them; the
    same means otherwise). Keys starting with ``_`` (a scorer's internals) are left out.

    :param scorer: the env's scorer.
    :param examples: the examples the predictions answer (references, prompts and metadata are read from them).
    :param predictions: one text per example, in the same order.
    :param chunk_chars: score in consecutive pieces of at most this many prediction + reference characters (one
        example at least); corpus values that decompose (:meth:`~textenvs.scorers.Scorer.corpus_statistics`) are
        gathered piece by piece as well. ``None``: everything in one piece. The values do not depend on it.
    :param turn: called with each piece's slice (and ``slice(0, n)`` for a corpus pass that does not decompose);
        the scorer runs inside the context it returns, e.g. a lock that other callers take turns on.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"Got {len(predictions)} predictions for {len(examples)} examples.")
    references = [list(example.references) for example in examples]
    prompts, metadata = [example.prompt for example in examples], [example.metadata for example in examples]
    predictions = list(predictions)
    turn = turn or (lambda _piece: nullcontext())
    default_corpus = type(scorer).compute_corpus is Scorer.compute_corpus
    # None once the corpus value turns out not to decompose; then it is computed in one pass at the end.
    statistics: list[Any] | None = None if default_corpus else []
    parts: list[Mapping[str, np.ndarray]] = []
    for piece in _pieces(predictions, references, chunk_chars):
        with turn(piece):
            arguments = (predictions[piece], references[piece], prompts[piece], metadata[piece])
            parts.append(scorer.score(*arguments))
            if statistics is not None:
                piece_statistics = scorer.corpus_statistics(*arguments)
                statistics = None if piece_statistics is None else statistics + piece_statistics
    scores = {key: np.concatenate([np.asarray(part[key]) for part in parts]) for key in parts[0]}
    metrics = {key: float(np.mean(values)) for key, values in scores.items() if not key.startswith("_")}
    if default_corpus:
        corpus = dict(metrics)  # the default corpus value is the mean: no need to score twice
    else:
        with turn(slice(0, len(predictions))):
            corpus = (scorer.corpus_from_statistics(statistics) if statistics is not None
                      else scorer.corpus_score(predictions, references, prompts, metadata))
    metrics.update({CORPUS_PREFIX + key: float(value) for key, value in corpus.items() if not key.startswith("_")})
    return metrics


def _pieces(predictions: list[str], references: list[list[str]], max_chars: int | None) -> Iterator[slice]:
    """Consecutive slices of at most ``max_chars`` prediction + reference characters (one example at least)."""
    if max_chars is None:
        yield slice(0, len(predictions))
        return
    start, size = 0, 0
    for index, (prediction, refs) in enumerate(zip(predictions, references)):
        chars = len(prediction) + sum(map(len, refs))
        if index > start and size + chars > max_chars:
            yield slice(start, index)
            start, size = index, 0
        size += chars
    yield slice(start, len(predictions))
