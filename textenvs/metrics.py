"""The metrics of a set of predictions: the one definition the benchmark runner and the leaderboard both report."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from textenvs.data.dataset import Example
from textenvs.scorers import Scorer

CORPUS_PREFIX = "corpus_"
"""Prefix of corpus-level values (``corpus_chrf``) beside the per-example means (``chrf``)."""


def prediction_metrics(scorer: Scorer, examples: Sequence[Example], predictions: Sequence[str]) -> dict[str, float]:
    """The mean of every per-example score under its own name (the primary one is the mean env reward) and the
    scorer's corpus-level values as ``corpus_<name>`` (corpus chrF, BLEU, ... where the scorer defines them; the
    same means otherwise). Keys starting with ``_`` (a scorer's internals) are left out.

    :param scorer: the env's scorer.
    :param examples: the examples the predictions answer (references, prompts and metadata are read from them).
    :param predictions: one text per example, in the same order.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"Got {len(predictions)} predictions for {len(examples)} examples.")
    references = [list(example.references) for example in examples]
    prompts, metadata = [example.prompt for example in examples], [example.metadata for example in examples]
    predictions = list(predictions)
    scores = scorer.score(predictions, references, prompts, metadata)
    metrics = {key: float(np.mean(values)) for key, values in scores.items() if not key.startswith("_")}
    if type(scorer).compute_corpus is Scorer.compute_corpus:
        corpus = dict(metrics)  # the default corpus value is the mean: no need to score twice
    else:
        corpus = scorer.corpus_score(predictions, references, prompts, metadata)
    metrics.update({CORPUS_PREFIX + key: float(value) for key, value in corpus.items() if not key.startswith("_")})
    return metrics
