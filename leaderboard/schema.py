"""The leaderboard's wire format in one place: what a client submits, what the server answers, and the limits.

A submission is an agent's predictions for every example of an env's canonical test split plus metadata that
describes the run. Scores are never part of the contract's trusted data: the server re-scores the predictions
against references it holds (``claimed_metrics`` are stored for comparison only).

Example body of ``POST /submissions``::

    {"env_id": "textenvs/Translation-v0", "dataset_hash": "3f5c...(64 hex digits)",
     "predictions": [{"id": "test-000001", "prediction": "a dog sees a cat"}, ...],
     "metadata": {"agent": "ppo-small", "config": {"lr": 1e-4}, "seeds": [0, 1, 2],
                  "versions": {"textenvs": "0.1.0"}, "curve": [{"env_steps": 4096, "reward": 0.41}]}}

A multi-turn env's records may also carry ``agent_turns`` (the agent's turns of the conversation, the last being
``prediction``); where the deployment's user can change its goal mid-conversation they are required and the
conversation is replayed to find the goal the final turn is scored against (:class:`PredictionRecord`).

Predictions are a list of records rather than an object keyed by id, so a repeated id is reported instead of being
silently dropped by the JSON parser.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Default limit of a request body; larger bodies are answered 413 before they are read."""
MAX_PREDICTIONS = 100_000
MAX_ID_CHARS = 200
MAX_PREDICTION_CHARS = 10_000
MAX_AGENT_TURNS = 100
"""Most agent turns one multi-turn prediction record may carry (the v1 env's default limit is 8)."""
MAX_CONFIG_BYTES = 64 * 1024
MAX_SEEDS = 1_000
MAX_CURVE_POINTS = 10_000
MAX_CURVE_SERIES = 16
MAX_ENV_STEPS = 2**63 - 1
"""Largest ``env_steps`` of a curve point (a signed 64-bit count)."""
DEFAULT_TOLERANCE = 1e-3
"""A verified run's largest accepted absolute difference per metric (metrics lie in [0, 1]); greedy decoding on
another device may flip a near-tie between two tokens, so exact equality is not required."""
MAX_ID_LIST = 20
"""How many missing / extra / repeated ids an error lists before it says '... and N more'."""

FORBIDDEN_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                        "\ud800-\udfff]")
"""C0/C1 controls, bidi marks, embeddings, overrides and isolates, line/paragraph separators, lone surrogates."""
_BLANK = frozenset("\u115f\u1160\u2800\u3164\uffa0")
"""Characters that are neither spaces nor format characters by category but render as nothing (Hangul fillers,
the blank braille pattern)."""


def check_name(value: str) -> str:
    """The one rule for every text shown on a page (agent, token, version, metric and series names, env ids):
    no control, bidi-override or line-separator characters, and at least one visible character."""
    found = FORBIDDEN_CHARACTERS.search(value)
    if found:
        raise ValueError(f"must not contain control, bidi-override or line-separator characters "
                         f"(found U+{ord(found.group()):04X} at position {found.start()})")
    if not any(unicodedata.category(c)[0] not in "CZM" and c not in _BLANK for c in value):
        raise ValueError("must contain at least one visible character (only spaces, zero-width or invisible "
                         "characters were given)")
    return value


def _finite_json(value: JsonValue, where: str = "config") -> JsonValue:
    """Refuse NaN and infinities anywhere in a JSON value: they are not JSON and no database stores them as such."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}; NaN and infinities are not allowed in metadata")
    if isinstance(value, dict):
        for key, item in value.items():
            _finite_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _finite_json(item, f"{where}[{index}]")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
                 AfterValidator(check_name)]
"""A short label shown on the pages (agent, token, version or metric name)."""
ExampleId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
PredictionText = Annotated[str, StringConstraints(max_length=MAX_PREDICTION_CHARS)]


class PredictionRecord(BaseModel):
    """The text an agent generated for one test example.

    :ivar agent_turns: a multi-turn episode's agent turns in order, the last being ``prediction`` (optional; absent
        for single-turn envs, where it is refused). Where the deployment's user can change its goal during a
        conversation (``MultiTurnDialogue-v1`` with ``change_of_mind > 0``) they are required: the server replays
        the conversation through the env and scores the final turn against the goal the replay ends with
        (:mod:`textenvs.rescoring`); a conversation that does not replay is refused.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    id: ExampleId
    prediction: PredictionText
    agent_turns: list[PredictionText] | None = Field(default=None, min_length=1, max_length=MAX_AGENT_TURNS)


class CurvePoint(BaseModel):
    """One learning-curve point: env steps so far and any named finite values (``reward``, ``kl``, ...)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    env_steps: int = Field(ge=0, le=MAX_ENV_STEPS)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    def series(self) -> dict[str, float]:
        """The named values of this point (everything but ``env_steps``)."""
        return dict(self.__pydantic_extra__ or {})


def _bounded_config(config: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _finite_json(config)
    size = len(json.dumps(config, ensure_ascii=True))
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"config is {size} bytes as JSON; the limit is {MAX_CONFIG_BYTES}")
    return config


def _bounded_curve(curve: list[CurvePoint]) -> list[CurvePoint]:
    names = {name for point in curve for name in point.series()}
    if len(names) > MAX_CURVE_SERIES:
        raise ValueError(f"curve has {len(names)} series; the limit is {MAX_CURVE_SERIES}")
    for name in names:
        try:
            check_name(name)
        except ValueError as error:
            raise ValueError(f"curve series name {name!r} {error}") from None
    return curve


class SubmissionMetadata(BaseModel):
    """How the predictions were produced. Shown on the submission page; ``agent`` names the leaderboard row.

    :ivar agent: agent name shown in the ranking.
    :ivar config: the agent's configuration (any JSON object, at most ``MAX_CONFIG_BYTES`` serialized).
    :ivar seeds: training/evaluation seeds of the run.
    :ivar versions: package versions, e.g. ``{"textenvs": "0.1.0", "torch": "2.3.0"}``.
    :ivar curve: learning-curve points, plotted on the submission page.
    :ivar claimed_metrics: the submitter's own scores; displayed beside the server's, never ranked.
    :ivar checkpoint: where the policy checkpoint can be fetched, for a verified run by the operator.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    agent: Name
    config: Annotated[dict[str, JsonValue], AfterValidator(_bounded_config)] = Field(default_factory=dict)
    seeds: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] = Field(default_factory=list, max_length=MAX_SEEDS)
    versions: dict[Name, Annotated[str, StringConstraints(max_length=100), AfterValidator(check_name)]] = \
        Field(default_factory=dict, max_length=100)
    curve: Annotated[list[CurvePoint], AfterValidator(_bounded_curve)] = \
        Field(default_factory=list, max_length=MAX_CURVE_POINTS)
    claimed_metrics: dict[Name, float] = Field(default_factory=dict, max_length=64)
    checkpoint: Annotated[str, StringConstraints(max_length=1000), AfterValidator(check_name)] | None = None


class Submission(BaseModel):
    """Body of ``POST /submissions``; also what ``textenvs leaderboard submit`` builds from a predictions file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    env_id: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(check_name)]
    dataset_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    """Content hash of the test split the predictions were made for (``TextDataset.content_hash``, recorded as
    ``dataset_hash`` in every env config and benchmark result, shown on the leaderboard page). The built-in splits
    share example ids (``test-00000``...), so the ids alone cannot tell one env's predictions from another's."""
    predictions: list[PredictionRecord] = Field(max_length=MAX_PREDICTIONS)
    metadata: SubmissionMetadata

    def content_hash(self, dataset_hash: str) -> str:
        """SHA-256 identifying this content on this test split: same content, same submission id.

        Prediction order does not matter; the submitter does not enter (two tokens sending the same content get the
        same entry, owned by the first)."""
        canonical = {
            "env_id": self.env_id, "dataset_hash": dataset_hash,
            # Records without agent turns hash as they always did.
            "predictions": sorted((record.id, record.prediction) if record.agent_turns is None
                                  else (record.id, record.prediction, record.agent_turns)
                                  for record in self.predictions),
            "metadata": self.metadata.model_dump(mode="json"),
        }
        text = json.dumps(canonical, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("ascii")).hexdigest()


class Receipt(BaseModel):
    """Answer to an accepted submission (201 when stored now, 200 when the same content was already stored)."""

    id: str
    created: bool
    env_id: str
    url: str
    primary_metric: str
    primary_score: float
    metrics: dict[str, float]
    rank: int
    entries: int


class Verification(BaseModel):
    """Outcome of regenerating a submission's predictions from its policy checkpoint (see :mod:`leaderboard.verify`).

    A policy that could not be loaded or run has no regenerated metrics: ``metrics`` is empty, the two comparisons
    are None and ``reason`` says what failed."""

    verified: bool
    checkpoint: str
    checkpoint_sha256: str | None
    tolerance: float
    metrics: dict[str, float] = Field(default_factory=dict)
    max_abs_difference: float | None = None
    identical_predictions: float | None = None
    """Fraction of examples whose regenerated text equals the submitted text exactly."""
    exact: bool = False
    """The criterion: every prediction identical (a policy submitted with the run), or every metric within
    ``tolerance`` (an operator's check, which allows a near-tie to flip on other hardware)."""
    reason: str | None = None
    """Why the entry is not verified (None when it is)."""
    verified_at: datetime


class Entry(BaseModel):
    """One ranked submission (no predictions)."""

    rank: int
    id: str
    agent: str
    submitter: str
    created_at: datetime
    primary_score: float
    metrics: dict[str, float]
    verified: bool


class Rankings(BaseModel):
    """Answer of ``GET /api/rankings/{env_id}``: entries scored on the env's current canonical test split."""

    env_id: str
    dataset: str
    dataset_hash: str
    total: int
    """Entries on this split in all (``entries`` holds one page of them)."""
    offset: int
    num_examples: int
    scorer: dict[str, Any]
    primary_metric: str
    metric_names: list[str]
    entries: list[Entry]


class SubmissionDetail(Entry):
    """Answer of ``GET /api/submissions/{id}``: an entry with its metadata and verification (still no predictions)."""

    env_id: str
    dataset: str
    dataset_hash: str
    primary_metric: str
    num_predictions: int
    metadata: SubmissionMetadata
    verification: Verification | None


class LeaderboardError(Exception):
    """A request the leaderboard refuses; becomes an HTTP answer ``{"detail": ..., **fields}`` with ``status``.

    :param status: HTTP status (4xx for the client's fault, 503 when the server cannot load a benchmark).
    :param detail: one-paragraph explanation naming the offending value and what is accepted.
    :param fields: machine-readable extras (``missing``, ``extra``, ``valid_env_ids``, ``errors``, ...).
    """

    def __init__(self, status: int, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.fields}


def listed(values: list[str], limit: int = MAX_ID_LIST) -> str:
    """``'a', 'b', 'c' ... and 17 more`` for error messages."""
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (f" ... and {len(values) - limit} more" if len(values) > limit else "")
