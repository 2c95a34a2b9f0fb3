"""What a submission goes through, the same for the server and for the CLI's local mode:
parse and validate → find the canonical split → already stored? → check ids → re-score → store → rank."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import ValidationError

from leaderboard.schema import (FORBIDDEN_CHARACTERS, MAX_ENV_STEPS, Entry, LeaderboardError, Rankings, Receipt,
                                Submission, SubmissionDetail, SubmissionMetadata, Verification, check_name)
from leaderboard.scoring import Benchmark, Benchmarks, display_order
from leaderboard.store import NewSubmission, Store, SubmissionRow

MAX_RANKING_ROWS = 1000
MAX_OFFSET = 10**12
"""Largest ranking offset; far beyond any real leaderboard, far below the databases' 64-bit OFFSET limit."""
SUBMISSION_ID = re.compile(r"^[0-9a-f]{16}$")


def parse_submission(body: bytes) -> Submission:
    """Validate a JSON body: 400 for text that is not JSON, 422 for JSON of the wrong shape (each error located)."""
    try:
        return Submission.model_validate_json(body)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_input=False, include_context=False)
        if any(e["type"] == "json_invalid" for e in errors):
            message = "; ".join(e["msg"].removeprefix("Invalid JSON: ") for e in errors if e["type"] == "json_invalid")
            raise LeaderboardError(400, f"Malformed JSON: {message}.") from None
        located = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
        summary = "; ".join(f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in located[:10])
        more = f" (and {len(located) - 10} more)" if len(located) > 10 else ""
        raise LeaderboardError(422, f"Invalid submission: {summary}{more}.", errors=located[:100]) from None


class Leaderboard:
    """Submissions, rankings and verification records over one :class:`Store`.

    :param store: the database.
    :param benchmarks: canonical splits and scorers (default: every env id with its default kwargs).
    """

    def __init__(self, store: Store, benchmarks: Benchmarks | None = None) -> None:
        self.store = store
        self.benchmarks = benchmarks or Benchmarks()

    def submit(self, body: bytes, submitter: str) -> Receipt:
        """Score and store a JSON submission body (idempotent: the same content returns the stored entry)."""
        submission = parse_submission(body)
        benchmark = self.benchmarks.get(submission.env_id)
        self.check_split(submission, benchmark)
        content_hash = submission.content_hash(benchmark.dataset.content_hash)
        row = self.store.find_by_content(content_hash)
        created = False
        if row is None:
            predictions = benchmark.ordered_predictions(submission)
            metrics = benchmark.score(predictions, benchmark.ordered_agent_turns(submission))
            row, created = self.store.insert(NewSubmission(
                id=content_hash[:16], content_hash=content_hash, env_id=benchmark.env_id,  # an alias's target
                dataset_name=benchmark.dataset.name, dataset_hash=benchmark.dataset.content_hash,
                agent=submission.metadata.agent, submitter=submitter, primary_metric=benchmark.primary,
                primary_score=metrics[benchmark.primary], metrics=metrics,
                metadata=submission.metadata.model_dump(mode="json"),
                predictions={example.id: text for example, text in zip(benchmark.dataset, predictions, strict=True)}))
        rank, entries = self.store.rank_of(row)
        return Receipt(id=row.id, created=created, env_id=row.env_id, url=f"/submissions/{row.id}",
                       primary_metric=row.primary_metric, primary_score=row.primary_score, metrics=row.metrics,
                       rank=rank, entries=entries)

    def check_split(self, submission: Submission, benchmark: Benchmark) -> None:
        """409 unless the submission answers ``benchmark``'s split, naming the env whose split it does answer."""
        if submission.dataset_hash == benchmark.dataset.content_hash:
            return
        owner = self.benchmarks.env_of_split(submission.dataset_hash)
        made_for = f"{owner}'s test split" if owner else "a test split this server does not hold"
        advice = f"submit them under {owner}" if owner else f"regenerate them on {submission.env_id}'s test split"
        raise LeaderboardError(
            409, f"Split mismatch: the predictions were made for data {submission.dataset_hash[:12]} ({made_for}), "
                 f"but {submission.env_id}'s test split is {benchmark.dataset.content_hash[:12]} "
                 f"({benchmark.dataset.name}); {advice}.",
            expected_dataset_hash=benchmark.dataset.content_hash, dataset_hash=submission.dataset_hash,
            dataset_env_id=owner)

    def rankings(self, env_id: str, limit: int = 100, offset: int = 0) -> Rankings:
        """Entries of ``env_id`` scored on its current canonical split, best first."""
        if not 1 <= limit <= MAX_RANKING_ROWS or not 0 <= offset <= MAX_OFFSET:
            raise LeaderboardError(422, f"limit must be in 1..{MAX_RANKING_ROWS} and offset in 0..{MAX_OFFSET}, "
                                        f"got limit={limit}, offset={offset}.")
        benchmark = self.benchmarks.get(env_id)
        rows = self.store.ranking(env_id, benchmark.dataset.content_hash, limit, offset)
        entries = [_entry(row, offset + position + 1) for position, row in enumerate(rows)]
        names = display_order(benchmark.primary, rows[0].metrics) if rows else [benchmark.primary]
        return Rankings(env_id=env_id, dataset=benchmark.dataset.name, dataset_hash=benchmark.dataset.content_hash,
                        total=self.store.count_on_split(env_id, benchmark.dataset.content_hash), offset=offset,
                        num_examples=len(benchmark.dataset), scorer=benchmark.scorer.config(),
                        primary_metric=benchmark.primary, metric_names=names, entries=entries)

    def detail(self, submission_id: str) -> SubmissionDetail:
        # Ids are 16 hex digits; anything else (NUL bytes, kilobytes of text) never reaches the database.
        row = self.store.get(submission_id) if SUBMISSION_ID.match(submission_id) else None
        if row is None:
            raise LeaderboardError(404, f"No submission with id {submission_id!r:.100}.")
        rank, _ = self.store.rank_of(row)
        verification = json.loads(row.verification_json) if row.verification_json else None
        return SubmissionDetail(
            **_entry(row, rank).model_dump(), env_id=row.env_id, dataset=row.dataset_name,
            dataset_hash=row.dataset_hash, primary_metric=row.primary_metric, num_predictions=row.num_predictions,
            metadata=stored_metadata(row.metadata_json),
            verification=Verification.model_validate(verification) if verification else None)

    def benchmark_of(self, row: SubmissionRow) -> Benchmark:
        """The benchmark a stored submission was scored on; refuses if the canonical split has changed since."""
        benchmark = self.benchmarks.get(row.env_id)
        if benchmark.dataset.content_hash != row.dataset_hash:
            raise LeaderboardError(409, f"Submission {row.id} was scored on test data {row.dataset_hash[:12]}, "
                                        f"but {row.env_id}'s test split is now {benchmark.dataset.content_hash[:12]}.")
        return benchmark


def stored_metadata(text: str) -> SubmissionMetadata:
    """A stored row's metadata. Rows stored under older, looser rules (names with characters now refused, NaN in
    ``config``, out-of-range curve points) are already ranked, so they are shown with the offending values
    neutralized instead of failing the page."""
    try:
        return SubmissionMetadata.model_validate_json(text)
    except ValidationError:
        cleaned = _neutralized(json.loads(text))  # Python's parser reads the NaN / Infinity older rows may hold
        # Numbers that had no finite value are left out where only numbers are allowed.
        cleaned["curve"] = [{key: value for key, value in point.items() if value is not None}
                            for point in cleaned.get("curve", []) if isinstance(point, dict)]
        cleaned["claimed_metrics"] = {key: value for key, value in cleaned.get("claimed_metrics", {}).items()
                                      if value is not None}
        try:
            return SubmissionMetadata.model_validate(cleaned)
        except ValidationError:
            return SubmissionMetadata(agent=_neutralized(str(cleaned.get("agent", "")))[:100] or "(unnamed)")


def _neutralized(value: Any) -> Any:
    """``value`` with non-finite numbers as None, refused characters as U+FFFD and out-of-range integers clamped."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return max(-MAX_ENV_STEPS - 1, min(MAX_ENV_STEPS, value))
    if isinstance(value, str):
        text = FORBIDDEN_CHARACTERS.sub("\ufffd", value)
        try:
            return check_name(text)
        except ValueError:
            return "\ufffd" if value else value
    if isinstance(value, dict):
        return {_neutralized(str(key)): _neutralized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_neutralized(item) for item in value]
    return value


def _entry(row: SubmissionRow, rank: int) -> Entry:
    # Names stored before the name rule tightened are shown neutralized (see stored_metadata).
    return Entry(rank=rank, id=row.id, agent=_neutralized(row.agent), submitter=_neutralized(row.submitter),
                 created_at=row.created_at_utc,
                 primary_score=row.primary_score, metrics=row.metrics, verified=row.verified)
