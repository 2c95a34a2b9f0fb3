"""Persistence through SQLAlchemy: a SQLite file by default, any database URL (PostgreSQL) works.

Two tables: ``tokens`` (hashed API tokens) and ``submissions`` (one row per distinct content; the predictions and
metadata are JSON text). Every statement is built with the ORM / Core, so values always travel as bound parameters.

Durability: a submission is acknowledged only after its transaction commits. SQLite runs in WAL mode with
``synchronous=FULL`` (a commit is on disk before the client hears of it) and a busy timeout, so concurrent writers
wait for each other instead of failing.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (Boolean, DateTime, Float, Index, Integer, String, Text, create_engine, event, func, or_,
                        select, update)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, deferred, mapped_column, sessionmaker, undefer
from sqlalchemy.pool import StaticPool

DEFAULT_DB_URL = "sqlite:///leaderboard.db"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class TokenRow(Base):
    """An API token: ``<id>.<secret>`` is handed out once; only SHA-256 of the secret is stored."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SubmissionRow(Base):
    """A scored submission. ``id`` is the first 16 hex digits of ``content_hash``."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_ranking", "env_id", "dataset_hash", "primary_score"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    env_id: Mapped[str] = mapped_column(String(200))
    dataset_name: Mapped[str] = mapped_column(String(200))
    dataset_hash: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(100))
    submitter: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    primary_metric: Mapped[str] = mapped_column(String(100))
    primary_score: Mapped[float] = mapped_column(Float)
    metrics_json: Mapped[str] = mapped_column(Text)
    num_predictions: Mapped[int] = mapped_column(Integer)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    metadata_json: Mapped[str] = deferred(mapped_column(Text))
    predictions_json: Mapped[str] = deferred(mapped_column(Text))

    @property
    def metrics(self) -> dict[str, float]:
        return json.loads(self.metrics_json)

    @property
    def created_at_utc(self) -> datetime:
        """SQLite hands back naive datetimes; every stored time is UTC."""
        stamp = self.created_at
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


@dataclass
class NewSubmission:
    """What the service hands the store to insert."""

    id: str
    content_hash: str
    env_id: str
    dataset_name: str
    dataset_hash: str
    agent: str
    submitter: str
    primary_metric: str
    primary_score: float
    metrics: dict[str, float]
    metadata: dict[str, Any]
    predictions: dict[str, str]


def _dumps(value: Any) -> str:
    # ASCII JSON: NUL and every other character travel as escapes, which every database's TEXT accepts.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def database_url(url: str) -> URL:
    """``url`` parsed, with a driver the install provides: SQLAlchemy 2.1 reads a bare ``postgresql://`` as
    ``postgresql+psycopg://`` (psycopg 3), while the server extra installs psycopg2, so the bare form is given
    psycopg2 unless psycopg 3 is installed. ``postgres://`` (the form some hosts print) means the same."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        driver = "psycopg" if importlib.util.find_spec("psycopg") is not None else "psycopg2"
        parsed = parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings the leaderboard relies on (see module docstring)."""
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_size=10, max_overflow=30, pool_timeout=60, pool_pre_ping=True)
    if parsed.database in (None, "", ":memory:"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                               pool_size=10, max_overflow=30, pool_timeout=60)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    return engine


class Store:
    """The leaderboard database. Creates its tables on first use.

    :param url: SQLAlchemy URL: ``sqlite:///leaderboard.db`` (a file), ``sqlite://`` (in memory), or PostgreSQL as
        ``postgresql://user@127.0.0.1:5432/leaderboard`` (psycopg2, or psycopg 3 when installed),
        ``postgresql+psycopg2://...``, ``postgresql+psycopg://...`` (needs ``pip install psycopg``) or ``postgres://...``.
    """

    def __init__(self, url: str = DEFAULT_DB_URL) -> None:
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return self._sessions()

    # Tokens ------------------------------------------------------------------------------------------------------

    def add_token(self, token_id: str, name: str, secret_sha256: str) -> None:
        with self.session() as session, session.begin():
            if session.scalar(select(TokenRow.id).where(TokenRow.name == name)) is not None:
                raise ValueError(f"A token named {name!r} already exists; revoke it or pick another name.")
            session.add(TokenRow(id=token_id, name=name, secret_sha256=secret_sha256))

    def find_token(self, token_id: str) -> TokenRow | None:
        with self.session() as session:
            return session.get(TokenRow, token_id)

    def tokens(self) -> list[TokenRow]:
        with self.session() as session:
            return list(session.scalars(select(TokenRow).order_by(TokenRow.created_at)))

    def revoke_token(self, name: str) -> bool:
        """Revoke the token called ``name``; False if there is no such live token."""
        with self.session() as session, session.begin():
            result = session.execute(update(TokenRow).where(TokenRow.name == name, TokenRow.revoked_at.is_(None))
                                     .values(revoked_at=utcnow()))
            return result.rowcount > 0

    # Submissions -------------------------------------------------------------------------------------------------

    def find_by_content(self, content_hash: str) -> SubmissionRow | None:
        with self.session() as session:
            return session.scalar(select(SubmissionRow).where(SubmissionRow.content_hash == content_hash))

    def insert(self, new: NewSubmission) -> tuple[SubmissionRow, bool]:
        """Store ``new`` unless the same content is already there; returns the stored row and whether it is new.

        The INSERT is the transaction's first statement, so concurrent identical submissions race only on the
        unique content hash: the loser gets an IntegrityError and reads the winner's row."""
        row = SubmissionRow(
            id=new.id, content_hash=new.content_hash, env_id=new.env_id, dataset_name=new.dataset_name,
            dataset_hash=new.dataset_hash, agent=new.agent, submitter=new.submitter, created_at=utcnow(),
            primary_metric=new.primary_metric, primary_score=new.primary_score, metrics_json=_dumps(new.metrics),
            num_predictions=len(new.predictions), verified=False, metadata_json=_dumps(new.metadata),
            predictions_json=_dumps(new.predictions))
        try:
            with self.session() as session, session.begin():
                session.add(row)
            return row, True
        except IntegrityError:
            existing = self.find_by_content(new.content_hash)
            if existing is None:  # a different content whose hash shares the 16-digit id prefix
                raise
            return existing, False

    def get(self, submission_id: str, *, with_predictions: bool = False) -> SubmissionRow | None:
        """The submission ``submission_id`` with its metadata (and its predictions if ``with_predictions``)."""
        columns = [SubmissionRow.metadata_json] + ([SubmissionRow.predictions_json] if with_predictions else [])
        query = select(SubmissionRow).where(SubmissionRow.id == submission_id).options(*map(undefer, columns))
        with self.session() as session:
            return session.scalar(query)

    def ranking(self, env_id: str, dataset_hash: str, limit: int, offset: int = 0) -> list[SubmissionRow]:
        """Submissions of ``env_id`` on the split ``dataset_hash``, best first (ties: earliest first)."""
        query = (select(SubmissionRow)
                 .where(SubmissionRow.env_id == env_id, SubmissionRow.dataset_hash == dataset_hash)
                 .order_by(SubmissionRow.primary_score.desc(), SubmissionRow.created_at, SubmissionRow.id)
                 .limit(limit).offset(offset))
        with self.session() as session:
            return list(session.scalars(query))

    def rank_of(self, row: SubmissionRow) -> tuple[int, int]:
        """``(rank, entries)`` of ``row`` among the submissions on its split."""
        same_split = (SubmissionRow.env_id == row.env_id, SubmissionRow.dataset_hash == row.dataset_hash)
        ahead = or_(SubmissionRow.primary_score > row.primary_score,
                    (SubmissionRow.primary_score == row.primary_score) & (SubmissionRow.created_at < row.created_at))
        with self.session() as session:
            better = session.scalar(select(func.count()).select_from(SubmissionRow).where(*same_split, ahead))
            total = session.scalar(select(func.count()).select_from(SubmissionRow).where(*same_split))
        return int(better) + 1, int(total)

    def count_on_split(self, env_id: str, dataset_hash: str) -> int:
        """Submissions of ``env_id`` on the split ``dataset_hash`` (what a full ranking would list)."""
        query = select(func.count()).select_from(SubmissionRow).where(SubmissionRow.env_id == env_id,
                                                                      SubmissionRow.dataset_hash == dataset_hash)
        with self.session() as session:
            return int(session.scalar(query))

    def count(self, env_id: str | None = None) -> int:
        query = select(func.count()).select_from(SubmissionRow)
        if env_id is not None:
            query = query.where(SubmissionRow.env_id == env_id)
        with self.session() as session:
            return int(session.scalar(query))

    def ids(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(SubmissionRow.id)))

    def set_verification(self, submission_id: str, verified: bool, record: dict[str, Any]) -> None:
        with self.session() as session, session.begin():
            session.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id)
                            .values(verified=verified, verification_json=_dumps(record)))
