"""Server-side scoring: each env id's canonical test split and scorer, and the check that a submission covers it.

The canonical split of ``env_id`` is ``textenvs.load_env_dataset(env_id, "test")`` and its scorer
``textenvs.load_env_scorer(env_id)`` (both with the deployment's env kwargs, empty by default). References stay on
the server: no API returns them, so a deployment may hold test references nobody else has.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from leaderboard.schema import LeaderboardError, Submission, listed
from textenvs import ENV_ALIASES, ENV_IDS, load_env_dataset, load_env_scorer
from textenvs.data.dataset import TextDataset
from textenvs.metrics import CORPUS_PREFIX, prediction_metrics
from textenvs.rescoring import RescoringError, scored_answers
from textenvs.scorers import Scorer
from textenvs.validation import references_for_scorer

SCORING_CHUNK_CHARS = 200_000
"""Most prediction + reference characters scored in one turn of an env's scorer (a few tenths of a second with the
built-in scorers), so a maximum-size submission waits its turn between chunks instead of stalling the others."""


class TurnLock:
    """A first-come, first-served lock: turns are granted in the order they were requested, so a thread that
    asks again for every chunk of its work lets everyone who asked in between go first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @property
    def waiting(self) -> int:
        """Threads holding or waiting for a turn."""
        with self._condition:
            return self._next_ticket - self._serving

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._condition:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._condition.wait()
        try:
            yield
        finally:
            with self._condition:
                self._serving += 1
                self._condition.notify_all()


@dataclass
class Benchmark:
    """The canonical test split of one env id and the scorer that ranks submissions on it.

    :param env_id: registered textenvs id.
    :param dataset: the canonical test split (references included).
    :param scorer: the env's scorer.
    :param env_kwargs: the env kwargs the split and scorer were loaded with (verified runs reuse them).
    """

    env_id: str
    dataset: TextDataset
    scorer: Scorer
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {example.id: i for i, example in enumerate(self.dataset)}
        # Scorers promise no thread safety (model-based ones hold torch modules and caches) and the server scores
        # from a thread pool, so one chunk is scored at a time; chunks of concurrent submissions take turns.
        self.scoring_turns = TurnLock()
        self.chunk_chars = SCORING_CHUNK_CHARS
        self.turn_log: deque[tuple[int, int, int]] = deque(maxlen=1000)
        """``(thread id, first example, end)`` of the latest scoring turns, oldest first (for monitoring and tests)."""

    @property
    def primary(self) -> str:
        return self.scorer.primary

    def ordered_predictions(self, submission: Submission) -> list[str]:
        """The submitted texts in split order, after checking that every test id appears exactly once."""
        seen: dict[str, str] = {}
        repeated: list[str] = []
        for record in submission.predictions:
            if record.id in seen:
                repeated.append(record.id)
            seen[record.id] = record.prediction
        missing = [example.id for example in self.dataset if example.id not in seen]
        extra = [example_id for example_id in seen if example_id not in self.index]
        if missing or extra or repeated:
            problems = []
            if missing:
                problems.append(f"{len(missing)} test id(s) missing: {listed(missing)}")
            if extra:
                problems.append(f"{len(extra)} id(s) not in the test split: {listed(extra)}")
            if repeated:
                problems.append(f"{len(repeated)} id(s) given more than once: {listed(sorted(set(repeated)))}")
            hint = ""
            if missing and len(seen) < len(self.dataset):
                # The usual cause: a `textenvs bench --eval-examples N` run, which evaluates only N test examples.
                hint = (f" Only {len(seen)} of the {len(self.dataset)} test examples were answered: predictions from "
                        "`textenvs bench --eval-examples N` (or its --quick settings) cover the first N only; "
                        "evaluate on the whole test split (no --eval-examples) to submit.")
            raise LeaderboardError(
                422, f"Predictions must cover every id of {self.env_id}'s test split ({self.dataset.name}, "
                     f"{len(self.dataset)} examples) exactly once; " + "; ".join(problems) + "." + hint,
                missing=missing[:100], missing_count=len(missing), extra=extra[:100], extra_count=len(extra),
                repeated=sorted(set(repeated))[:100], repeated_count=len(set(repeated)))
        return [seen[example.id] for example in self.dataset]

    def ordered_agent_turns(self, submission: Submission) -> list[list[str] | None] | None:
        """The records' agent turns in split order (call after :meth:`ordered_predictions` has checked the ids);
        None when no record has any."""
        if all(record.agent_turns is None for record in submission.predictions):
            return None
        turns = {record.id: record.agent_turns for record in submission.predictions}
        return [turns[example.id] for example in self.dataset]

    def score(self, predictions: list[str], agent_turns: list[list[str] | None] | None = None) -> dict[str, float]:
        """Scores of the predictions (given in split order) against the held references
        (:func:`textenvs.metrics.prediction_metrics` of :func:`textenvs.rescoring.scored_answers`, as the benchmark
        runner reports them: a multi-turn conversation whose user can change its goal is replayed from
        ``agent_turns`` and its final turn scored against the goal it ended with), scored in chunks that take turns
        with other submissions' chunks on this env's scorer.

        :raises LeaderboardError: 422 when the predictions cannot be scored as the env scores them (agent turns for
            a single-turn env, turns missing where a replay is needed, or turns that do not replay).
        """
        try:
            examples, texts = scored_answers(self.env_id, self.env_kwargs, "test", self.dataset,
                                             range(len(self.dataset)), predictions, agent_turns)
        except RescoringError as error:
            raise LeaderboardError(422, f"{self.env_id}: {error}") from None
        return prediction_metrics(self.scorer, examples, texts, chunk_chars=self.chunk_chars, turn=self._turn)

    @contextmanager
    def _turn(self, piece: slice) -> Iterator[None]:
        with self.scoring_turns.turn():
            self.turn_log.append((threading.get_ident(), piece.start, piece.stop))
            yield


def display_order(primary: str, names: Iterable[str]) -> list[str]:
    """Metric display order: the primary metric, its corpus value, the other means, the other corpus values."""
    names = set(names)
    first = [name for name in (primary, CORPUS_PREFIX + primary) if name in names]
    rest = sorted(names - set(first))
    means = [name for name in rest if not name.startswith(CORPUS_PREFIX)]
    return first + means + [name for name in rest if name.startswith(CORPUS_PREFIX)]


class Benchmarks:
    """Loads each env id's :class:`Benchmark` on first use and keeps it (thread-safe).

    :param env_kwargs: per env id, the env kwargs that define its canonical split and scorer (e.g. a real
        dataset with hidden references); env ids not listed use the env's defaults. An old id
        (``textenvs.ENV_ALIASES``) stands for the id it is an alias of.
    """

    def __init__(self, env_kwargs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        unknown = sorted(set(env_kwargs or {}) - set(ENV_IDS) - set(ENV_ALIASES))
        if unknown:
            raise ValueError(f"env_kwargs for unknown env ids {unknown}; valid ids: {', '.join(ENV_IDS)}.")
        self.env_kwargs = {ENV_ALIASES.get(env_id, env_id): dict(kwargs)
                           for env_id, kwargs in (env_kwargs or {}).items()}
        self._loaded: dict[str, Benchmark] = {}
        self._lock = threading.Lock()

    @property
    def env_ids(self) -> list[str]:
        return list(ENV_IDS)

    def env_of_split(self, dataset_hash: str) -> str | None:
        """The env id whose canonical test split has content hash ``dataset_hash`` (None if none has)."""
        for env_id in self.env_ids:
            try:
                if self.get(env_id).dataset.content_hash == dataset_hash:
                    return env_id
            except LeaderboardError:  # an env this deployment cannot load holds no split to match
                continue
        return None

    def get(self, env_id: str) -> Benchmark:
        """The benchmark of ``env_id``; 404 for an unknown id (listing the valid ones), 503 if it cannot load.
        An old id (``textenvs.ENV_ALIASES``) gives the benchmark of the id it is an alias of: one board per task."""
        env_id = ENV_ALIASES.get(env_id, env_id)
        if env_id not in ENV_IDS:
            raise LeaderboardError(404, f"Unknown env id {env_id!r:.100}; valid env ids: {', '.join(ENV_IDS)}.",
                                   valid_env_ids=list(ENV_IDS))
        benchmark = self._loaded.get(env_id)
        if benchmark is not None:
            return benchmark
        with self._lock:
            if env_id not in self._loaded:
                kwargs = self.env_kwargs.get(env_id, {})
                try:
                    dataset = load_env_dataset(env_id, "test", **kwargs)
                    scorer = load_env_scorer(env_id, **kwargs)
                    references_for_scorer(dataset, scorer)
                except Exception as error:  # a deployment problem, reported without a traceback to the client
                    raise LeaderboardError(503, f"The test split of {env_id} cannot be loaded on this server: "
                                                f"{type(error).__name__}: {error}") from error
                self._loaded[env_id] = Benchmark(env_id, dataset, scorer, kwargs)
        return self._loaded[env_id]
