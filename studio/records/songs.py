"""Songs (who owns a character setup) and their consistency jobs: tables and the queries on them.

Jobs are claimed with one conditional UPDATE and a lease, so a job left `running` by a crashed worker is
picked up again once its lease expires; completing a job and publishing its image happen in one transaction
that first checks the claim is still ours, so a superseded job can never publish a stale image.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.records import leases
from studio.records.schema import Base, utcnow
from studio.records.store import Records

JOB_STATUSES = ("queued", "running", "completed", "failed", "skipped", "superseded")
OPEN_STATUSES = ("queued", "running")


class SongRow(Base):
    """A song's character setup. Keys are in the `character-images` bucket."""

    __tablename__ = "songs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    character_reference_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    character_reference_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """`upload` or `template`."""
    character_template_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    character_pose_b_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    character_pose_b_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    character_generated_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    character_generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    character_interrogation_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    character_consistency_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CharacterJobRow(Base):
    """One run of the consistency job for a song."""

    __tablename__ = "character_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    song_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(120), nullable=True)
    """The claiming process as `host:pid:token` (studio.records.leases), unique per claim."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SongRecords:
    """Reads and writes songs and character jobs through the shared Records engine."""

    def __init__(self, records: Records) -> None:
        self.records = records

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.records.session() as s:
            yield s

    # songs ------------------------------------------------------------------------------------
    def song(self, song_id: str) -> SongRow | None:
        with self.session() as s:
            return s.get(SongRow, song_id)

    @staticmethod
    def song_in(s: Session, song_id: str) -> SongRow:
        """The song row in session `s`, created when missing; writes first, so SQLite locks early."""
        s.execute(update(SongRow).where(SongRow.id == song_id).values(updated_at=utcnow()))
        row = s.get(SongRow, song_id)
        if row is None:
            row = SongRow(id=song_id, character_consistency_enabled=True)
            s.add(row)
            s.flush()
        return row

    def update_song(self, song_id: str, **values: Any) -> SongRow:
        with self.session() as s:
            row = self.song_in(s, song_id)
            for name, value in values.items():
                setattr(row, name, value)
            return row

    # jobs -------------------------------------------------------------------------------------
    def job(self, job_id: str) -> CharacterJobRow | None:
        with self.session() as s:
            return s.get(CharacterJobRow, job_id)

    def latest_job(self, song_id: str) -> CharacterJobRow | None:
        """The song's newest job that was not superseded."""
        with self.session() as s:
            query = (
                select(CharacterJobRow)
                .where(CharacterJobRow.song_id == song_id, CharacterJobRow.status != "superseded")
                .order_by(CharacterJobRow.created_at.desc(), CharacterJobRow.id)
                .limit(1)
            )
            return s.scalar(query)

    def jobs(self, song_id: str | None = None) -> list[CharacterJobRow]:
        with self.session() as s:
            query = select(CharacterJobRow).order_by(CharacterJobRow.created_at, CharacterJobRow.id)
            if song_id is not None:
                query = query.where(CharacterJobRow.song_id == song_id)
            return list(s.scalars(query))

    @staticmethod
    def supersede_in(s: Session, song_id: str, reason: str) -> int:
        """Mark the song's queued and running jobs `superseded`; their claims stop being valid."""
        result = s.execute(
            update(CharacterJobRow)
            .where(CharacterJobRow.song_id == song_id, CharacterJobRow.status.in_(OPEN_STATUSES))
            .values(
                status="superseded",
                error=reason,
                claim_token=None,
                lease_expires_at=None,
                finished_at=utcnow(),
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def enqueue_in(s: Session, song_id: str) -> CharacterJobRow:
        job = CharacterJobRow(id=str(uuid.uuid4()), song_id=song_id, status="queued", attempts=0)
        s.add(job)
        s.flush()
        return job

    def claim(
        self, lease_seconds: float, *, song_id: str | None = None, job_id: str | None = None
    ) -> CharacterJobRow | None:
        """Atomically take the oldest queued job (or one whose lease expired or whose owner died).

        One UPDATE whose WHERE repeats the claimable test, so two workers can never both win a job.
        """
        now = utcnow()
        with self.session() as s:
            running = s.scalars(
                select(CharacterJobRow.claim_token).where(CharacterJobRow.status == "running").distinct()
            )
            gone = [owner for owner in running if owner and leases.owner_gone(owner)]
        claimable = or_(
            CharacterJobRow.status == "queued",
            (CharacterJobRow.status == "running")
            & or_(CharacterJobRow.lease_expires_at < now, CharacterJobRow.claim_token.in_(gone)),
        )
        candidates = select(CharacterJobRow.id).where(claimable)
        if song_id is not None:
            candidates = candidates.where(CharacterJobRow.song_id == song_id)
        if job_id is not None:
            candidates = candidates.where(CharacterJobRow.id == job_id)
        oldest = (
            candidates.order_by(CharacterJobRow.created_at, CharacterJobRow.id).limit(1).scalar_subquery()
        )
        token = leases.new_owner()
        with self.session() as s:
            s.execute(
                update(CharacterJobRow)
                .where(CharacterJobRow.id == oldest, claimable)
                .values(
                    status="running",
                    claim_token=token,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=CharacterJobRow.attempts + 1,
                    started_at=now,
                    finished_at=None,
                )
                .execution_options(synchronize_session=False)
            )
            return s.scalar(select(CharacterJobRow).where(CharacterJobRow.claim_token == token))

    def extend_lease(self, job_id: str, token: str, lease_seconds: float) -> bool:
        """Heartbeat: push the lease forward while the claim is still ours."""
        with self.session() as s:
            result = s.execute(
                update(CharacterJobRow)
                .where(
                    CharacterJobRow.id == job_id,
                    CharacterJobRow.claim_token == token,
                    CharacterJobRow.status == "running",
                )
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def finish(
        self,
        job_id: str,
        token: str,
        status: str,
        *,
        error: str | None = None,
        publish: Callable[[Session], None] | None = None,
    ) -> bool:
        """End a claimed job; `publish` runs in the same transaction, only while the claim is still ours.

        Returns False (and changes nothing) when the job was superseded or reclaimed meanwhile.
        """
        with self.session() as s:
            result = s.execute(
                update(CharacterJobRow)
                .where(
                    CharacterJobRow.id == job_id,
                    CharacterJobRow.claim_token == token,
                    CharacterJobRow.status == "running",
                )
                .values(status=status, error=error, lease_expires_at=None, finished_at=utcnow())
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            if publish is not None:
                publish(s)
            return True
