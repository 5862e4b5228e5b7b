"""Tables of the records database. Money columns hold whole nano-dollars (see studio.money)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back, PostgreSQL aware ones; both are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    """A reference job: the plan and the request of its latest run, and how that run ended. Its work (queue
    status, lease, budget) is a row of the work queue (studio.records.work)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    work_id: Mapped[str] = mapped_column(ForeignKey("work.id"), index=True)
    plan_json: Mapped[str] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    concurrency: Mapped[int] = mapped_column(Integer, default=6)
    provider: Mapped[str] = mapped_column(String(32), default="")
    model_version: Mapped[str] = mapped_column(String(128), default="")
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """How the latest run ended (`success`, `partial`, `failed`, `cancelled`); None while it is to run."""
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    song_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The song whose character images clip generation uses with this job's references."""
    overrides_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    """A creator's per-reference edits (prompt, negative prompt, seed) for queued runs."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When the current request was submitted: images stored before it are reused, later ones made for it."""
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReferenceRow(Base):
    __tablename__ = "reference_records"
    __table_args__ = (UniqueConstraint("job_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    parameters_json: Mapped[str] = mapped_column(Text)
    params_hash: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    """studio.records.references.ReferenceStatus."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    generation_time: Mapped[float] = mapped_column(Float, default=0.0)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Why the last attempt failed, as a word: budget_exceeded, timeout, rate_limited, ..."""
    provider: Mapped[str] = mapped_column(String(32), default="")
    model_version: Mapped[str] = mapped_column(String(128), default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ReferenceVersionRow(Base):
    """Every image a reference has had: the latest at the canonical key, earlier ones under versions/."""

    __tablename__ = "reference_versions"
    __table_args__ = (UniqueConstraint("job_id", "ref", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    parameters_json: Mapped[str] = mapped_column(Text)
    params_hash: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(32), default="")
    model_version: Mapped[str] = mapped_column(String(128), default="")
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    generation_time: Mapped[float] = mapped_column(Float, default=0.0)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why this version was made, e.g. the rejection reason turned into a prompt note."""
    worker: Mapped[str | None] = mapped_column(String(120), nullable=True)
    """The process (`host:pid:token`) that generated it."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerRow(Base):
    """One paid call (or a cache hit that saved one)."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    song_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    stage: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(160))
    ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    units: Mapped[str] = mapped_column(String(32), default="0")
    unit_name: Mapped[str] = mapped_column(String(16), default="image")
    unit_price_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    saved_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    prediction_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True, unique=True)
    """A provider's prediction is charged once: the unique index makes a second charge impossible."""
    work_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """The unit of work whose calls it charges (none for cache hits and imports)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(48))
    payload_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
