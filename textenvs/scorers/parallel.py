"""Score large batches in worker processes: for pure-Python metrics (chrF, ROUGE, METEOR, ...) whose cost per batch
would otherwise stall a rollout while the accelerator waits."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Mapping

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.registry import ScorerSpec, make_scorer

_WORKER_SCORER: Scorer | None = None


def _start_worker(pickled_scorer: bytes) -> None:
    global _WORKER_SCORER
    _WORKER_SCORER = pickle.loads(pickled_scorer)


def _score_chunk(batch: tuple[list[str], Any, Any, Any]) -> Mapping[str, Any]:
    return _WORKER_SCORER.compute(*batch)


class ParallelScorer(Scorer):
    """Splits each batch of at least ``min_batch`` predictions across ``workers`` processes, each holding its own
    copy of the wrapped scorer; smaller batches and corpus scores are computed in the calling process. Values are
    exactly the wrapped scorer's.

    The pool starts on first use (``spawn``, so it is safe next to CUDA and torch threads) and lives as long as the
    scorer, or until :meth:`close`. The wrapped scorer must be picklable (registered scorers are; a lambda is not).

    :param scorer: the scorer to run: a registered name, a :class:`Scorer` or a picklable callable.
    :param workers: worker processes.
    :param min_batch: batches smaller than this are scored in-process (a round trip costs about a millisecond).
    :param scorer_kwargs: constructor arguments of a named ``scorer``.

    Example: ``gymnasium.make("textenvs/Translation-v0", scorer="parallel",
    scorer_kwargs={"scorer": "chrf", "workers": 8})``.
    """

    name = "parallel"

    def __init__(self, scorer: ScorerSpec = "chrf", workers: int = 2, min_batch: int = 32,
                 **scorer_kwargs: Any) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}.")
        self.inner = make_scorer(scorer, **scorer_kwargs)
        try:
            self._pickled = pickle.dumps(self.inner)
        except Exception as error:  # pickle raises several types (PicklingError, AttributeError, TypeError)
            raise TypeError(f"ParallelScorer sends the scorer to worker processes, but {self.inner!r} cannot be "
                            f"pickled ({error}). Use a registered scorer or a module-level function.") from error
        self.primary = self.inner.primary
        self.requires_references = self.inner.requires_references
        self.workers, self.min_batch = int(workers), int(min_batch)
        self._pool: ProcessPoolExecutor | None = None

    def compute(self, predictions, references, prompts, metadata):
        if self.workers == 1 or len(predictions) < self.min_batch:
            return self.inner.compute(predictions, references, prompts, metadata)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(self._pickled,))
        bounds = np.linspace(0, len(predictions), self.workers + 1).astype(int)
        chunks = [(predictions[a:b], None if references is None else references[a:b],
                   None if prompts is None else prompts[a:b], None if metadata is None else metadata[a:b])
                  for a, b in zip(bounds, bounds[1:]) if b > a]
        parts = [self.inner._checked(part, len(chunk[0])) for part, chunk in zip(self._pool.map(_score_chunk, chunks),
                                                                                  chunks)]
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

    def compute_corpus(self, predictions, references, prompts, metadata):
        return self.inner.compute_corpus(predictions, references, prompts, metadata)

    def score_names(self) -> list[str]:
        return self.inner.score_names()

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "primary": self.primary, "workers": self.workers, "min_batch": self.min_batch,
                "scorer": self.inner.config()}

    def close(self) -> None:
        """Stop the worker processes (a later batch starts them again); ``env.close()`` calls this."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        # The pool stays with its owner; a copy starts its own when it first needs one.
        return {**self.__dict__, "_pool": None}

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
