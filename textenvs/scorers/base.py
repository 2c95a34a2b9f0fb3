"""The scorer interface: batch-first, environment-agnostic reward functions over text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping, Sequence

import numpy as np

Scores = dict[str, np.ndarray]
"""Named per-example scores: each value is a float64 array of shape ``(batch,)``."""


class Scorer(ABC):
    """Scores a batch of generated texts.

    Subclasses implement :meth:`compute`; callers use :meth:`score` (or call the object) for per-example
    rewards and :meth:`corpus_score` for evaluation. Both validate the batch first, so every scorer reports bad input
    the same way. Dense per-token rewards are the env's (``reward_mode="incremental"``: differences of :meth:`score`
    on successive prefixes), not the scorer's.

    :ivar name: registry name of the scorer.
    :ivar primary: key of the score that becomes the environment's reward (higher is better).
    :ivar requires_references: whether :meth:`score` needs at least one reference per example.
    """

    name: str = "scorer"
    primary: str = "score"
    requires_references: bool = True

    def score(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]] | None = None,
        prompts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> Scores:
        """Score ``predictions`` and return named per-example scores (always including :attr:`primary`).

        :param predictions: generated texts, one per example.
        :param references: for each example a non-empty list of reference texts (a bare string is accepted
            as a single reference).
        :param prompts: the prompt each prediction was generated from (used by prompt-aware scorers).
        :param metadata: per-example task facts (key facts, slots, ...) from the dataset.
        """
        batch = self._validate(predictions, references, prompts, metadata)
        if not batch[0]:
            return {key: np.zeros(0, dtype=np.float64) for key in self.score_names()}
        return self._checked(self.compute(*batch), len(batch[0]))

    # Calling a scorer is scoring: subclasses implement compute, never score, so the two cannot part ways.
    __call__ = score

    def corpus_score(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]] | None = None,
        prompts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, float]:
        """Corpus-level values for evaluation (same keys as :meth:`score`, one float each).

        By default the mean of each per-example score; metrics defined on corpus statistics (BLEU, chrF, TER,
        distinct-n) override :meth:`compute_corpus` so the value equals their reference implementation.
        Arguments are those of :meth:`score`; the batch must not be empty.
        """
        batch = self._validate(predictions, references, prompts, metadata)
        if not batch[0]:
            raise ValueError(f"Scorer {self.name!r}: corpus_score needs at least one prediction, got 0.")
        values = self.compute_corpus(*batch)
        return {key: float(value) for key, value in values.items()}

    def close(self) -> None:
        """Release what the scorer holds (worker processes); the env's ``close()`` calls it. Nothing by default."""

    def corpus_statistics(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]] | None = None,
        prompts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Any] | None:
        """Per-example statistics from which :meth:`corpus_from_statistics` finishes :meth:`corpus_score`, so a
        large corpus can be scored in bounded pieces (the statistics of consecutive pieces are concatenated).
        ``None`` when the corpus value does not decompose this way (the default)."""
        return None

    def corpus_from_statistics(self, statistics: list[Any]) -> dict[str, float]:
        """Corpus values from the concatenated :meth:`corpus_statistics` of every example."""
        raise NotImplementedError(f"Scorer {self.name!r} has no corpus statistics.")

    @abstractmethod
    def compute(
        self,
        predictions: list[str],
        references: list[list[str]] | None,
        prompts: list[str] | None,
        metadata: list[Mapping[str, Any]] | None,
    ) -> Mapping[str, Sequence[float] | np.ndarray]:
        """Score a validated, non-empty batch. Return at least :attr:`primary`."""

    def compute_corpus(
        self,
        predictions: list[str],
        references: list[list[str]] | None,
        prompts: list[str] | None,
        metadata: list[Mapping[str, Any]] | None,
    ) -> Mapping[str, float]:
        """Corpus values of a validated, non-empty batch; the default averages :meth:`compute`."""
        scores = self._checked(self.compute(predictions, references, prompts, metadata), len(predictions))
        return {key: float(values.mean()) for key, values in scores.items()}

    def score_names(self) -> list[str]:
        """Keys this scorer returns (used to shape empty batches); override when it returns more than primary."""
        return [self.primary]

    def config(self) -> dict[str, Any]:
        """JSON-serializable description recorded with results (name, primary and constructor options)."""
        return {"name": self.name, "primary": self.primary}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"

    def _validate(self, predictions, references, prompts, metadata):
        predictions = _check_predictions(predictions)
        batch = len(predictions)
        references = _check_references(references, batch, required=self.requires_references, scorer=self.name)
        if prompts is not None:
            if isinstance(prompts, str):
                raise TypeError("prompts must be a sequence (one per prediction), got a single str.")
            prompts = list(prompts)
            _check_length("prompts", prompts, batch)
        if metadata is not None:
            if isinstance(metadata, Mapping):
                raise TypeError("metadata must be a sequence of mappings (one per prediction), got one mapping.")
            metadata = list(metadata)
            _check_length("metadata", metadata, batch)
        return predictions, references, prompts, metadata

    def _checked(self, scores: Mapping[str, Any], batch: int) -> Scores:
        if self.primary not in scores:
            raise RuntimeError(f"Scorer {self.name!r} did not return its primary score {self.primary!r}; "
                               f"it returned {sorted(scores)}.")
        out: Scores = {}
        for key, values in scores.items():
            array = np.asarray(values, dtype=np.float64)
            if array.shape != (batch,):
                raise RuntimeError(f"Scorer {self.name!r} returned shape {array.shape} for {key!r}; expected ({batch},).")
            out[key] = array
        return out


def _check_predictions(predictions: Sequence[str]) -> list[str]:
    if isinstance(predictions, str):
        raise TypeError("predictions must be a sequence of strings, got a single str; wrap it in a list.")
    predictions = list(predictions)
    for i, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise TypeError(f"predictions[{i}] must be str, got {type(prediction).__name__}: {prediction!r:.80}")
    return predictions


def _check_references(
    references: Sequence[Sequence[str]] | None, batch: int, required: bool, scorer: str
) -> list[list[str]] | None:
    if references is None:
        if required:
            raise ValueError(f"Scorer {scorer!r} needs references, got None.")
        return None
    if isinstance(references, str):
        raise TypeError("references must be a sequence (one entry per prediction), got a single str.")
    references = list(references)
    _check_length("references", references, batch)
    normalized: list[list[str]] = []
    for i, refs in enumerate(references):
        refs = [refs] if isinstance(refs, str) else list(refs)
        if required and not refs:
            raise ValueError(f"references[{i}] is empty; scorer {scorer!r} needs at least one reference per example.")
        for j, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise TypeError(f"references[{i}][{j}] must be str, got {type(ref).__name__}.")
        normalized.append(refs)
    return normalized


def _check_length(what: str, values: list, batch: int) -> None:
    if len(values) != batch:
        raise ValueError(f"Got {batch} predictions but {len(values)} {what}; they must match one to one.")


class MissingMetadataError(KeyError):
    """A scorer needs a metadata key that an example does not have."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0])


def metadata_field(
    metadata: list[Mapping[str, Any]] | None,
    key: str,
    scorer: str,
    check: Callable[[Any, str], Any] | None = None,
) -> list[Any]:
    """``metadata[i][key]`` for every example, or a clear error naming the key and the example that lacks it.

    :param check: validates one value and returns what the scorer uses (the value, or it parsed); it is called as
        ``check(value, where)`` with ``where`` = ``"metadata[i]['key']"``, so its errors name the example.
    """
    if metadata is None:
        raise MissingMetadataError(f"Scorer {scorer!r} needs per-example metadata with {key!r}, "
                                   "got metadata=None.")
    values = []
    for i, entry in enumerate(metadata):
        if not isinstance(entry, Mapping) or key not in entry:
            have = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
            raise MissingMetadataError(f"Scorer {scorer!r} needs metadata[{i}][{key!r}], which is missing "
                                       f"(metadata[{i}] has {have}).")
        values.append(entry[key])
    if check is None:
        return values
    return [check(value, f"metadata[{i}][{key!r}]") for i, value in enumerate(values)]
