"""Songs (who owns a character setup) and their consistency jobs: tables and the queries on them.

A consistency job is a row of its own (how it ended) pointing at its work in the queue (studio.records.work):
a job left running by a crashed worker is taken over once its lease expires, and a new upload supersedes the
song's open jobs, whose holders can then record nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Select, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.records.database import Database
from studio.records.objects import ObjectCheck, record_checks
from studio.records.schema import Base, utcnow
from studio.records.work import (
    Lease,
    WorkKind,
    WorkRow,
    WorkStatus,
    finish_in,
    is_held,
    queue_in,
    supersede_in,
)
from studio.storage.keys import CHARACTER_BUCKET


class ConsistencyStatus(StrEnum):
    """A consistency job as people see it: its work's while it is to run, then how it ended."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    """There was nothing to do: no uploaded reference, or consistency is off."""
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """A newer upload or template replaced the reference before it ended."""


OPEN_STATUSES = (ConsistencyStatus.QUEUED, ConsistencyStatus.RUNNING)
_CHARACTER_FIELDS = (
    "character_reference_key",
    "character_reference_source",
    "character_template_id",
    "character_pose_b_key",
    "character_pose_b_source",
    "character_generated_key",
    "character_generated_at",
    "character_interrogation_json",
    "character_interrogation_edits_json",
    "character_look_id",
)


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
    character_interrogation_edits_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    """A creator's edits of the interrogation, kept apart from it (studio.characters.descriptions)."""
    character_look_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The picked look (studio.records.looks) whose image is at the generated key."""
    character_consistency_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    character_model: Mapped[str] = mapped_column(String(64), default="sdxl", server_default="sdxl")
    """The catalogued model (studio.generation.models) its looks and lead character's references use."""
    last_worked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When a creator last chose this song to work on: the latest opens a new tab, a reload, Generate."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CharacterJobRow(Base):
    """One consistency job of a song, and how it ended."""

    __tablename__ = "character_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    song_id: Mapped[str] = mapped_column(String(64), index=True)
    work_id: Mapped[str] = mapped_column(ForeignKey("work.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class CharacterJob:
    """A consistency job with its work."""

    id: str
    song_id: str
    work_id: str
    status: ConsistencyStatus
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int

    @classmethod
    def of(cls, job: CharacterJobRow, work: WorkRow) -> CharacterJob:
        if work.status in (WorkStatus.QUEUED, WorkStatus.RUNNING):
            status = ConsistencyStatus(work.status)
        elif job.outcome is not None:
            status = ConsistencyStatus(job.outcome)
        else:
            status = (
                ConsistencyStatus.SUPERSEDED
                if work.status == WorkStatus.CANCELLED
                else ConsistencyStatus.FAILED
            )
        return cls(
            id=job.id,
            song_id=job.song_id,
            work_id=work.id,
            status=status,
            error=job.error or work.error,
            created_at=job.created_at,
            started_at=work.claimed_at,
            finished_at=job.finished_at or work.finished_at,
            attempts=work.attempts,
        )


def _jobs() -> Select[CharacterJobRow, WorkRow]:
    return select(CharacterJobRow, WorkRow).join(WorkRow, WorkRow.id == CharacterJobRow.work_id)


@dataclass
class CharacterChange:
    """What replacing a song's character did: jobs superseded, old keys to delete, the job queued."""

    song: SongRow
    superseded: int = 0
    had_generated: bool = False
    old_keys: list[str] = field(default_factory=list)
    job_id: str | None = None


def lock_song(s: Session, song_id: str) -> SongRow | None:
    """The song row in session `s`, written first (a row lock on PostgreSQL; SQLite locks early)."""
    s.execute(update(SongRow).where(SongRow.id == song_id).values(updated_at=utcnow()))
    return s.get(SongRow, song_id)


def _song_in(s: Session, song_id: str) -> SongRow:
    """The song row in session `s`, created when missing; locked first."""
    row = lock_song(s, song_id)
    if row is None:
        row = SongRow(id=song_id, character_consistency_enabled=True)
        s.add(row)
        s.flush()
    return row


def _supersede(s: Session, song_id: str, reason: str) -> int:
    """End the song's queued and running consistency jobs; their holders' leases stop counting."""
    mine = select(CharacterJobRow.work_id).where(CharacterJobRow.song_id == song_id)
    return supersede_in(s, WorkRow.id.in_(mine), reason)


def _enqueue(s: Session, song_id: str, budget_nanos: int) -> str:
    job_id = str(uuid.uuid4())
    work, _ = queue_in(s, WorkKind.CONSISTENCY, job_id, budget_nanos=budget_nanos)
    s.add(CharacterJobRow(id=job_id, song_id=song_id, work_id=work.id, created_at=utcnow()))
    s.flush()
    return job_id


class SongRecords:
    """Songs and character jobs through the records database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # songs ------------------------------------------------------------------------------------
    def song(self, song_id: str) -> SongRow | None:
        with self.db.read() as s:
            return s.get(SongRow, song_id)

    def recent(self, limit: int = 50) -> list[SongRow]:
        with self.db.read() as s:
            return list(s.scalars(select(SongRow).order_by(SongRow.updated_at.desc()).limit(limit)))

    def all(self) -> list[SongRow]:
        with self.db.read() as s:
            return list(s.scalars(select(SongRow).order_by(SongRow.id)))

    def mark_worked_on(self, song_id: str) -> bool:
        """The song is the one last worked on now; False (nothing written) for an unknown song."""
        with self.db.write() as s:
            row = s.get(SongRow, song_id)
            if row is not None:
                row.last_worked_at = utcnow()
            return row is not None

    def last_worked_on(self) -> str | None:
        """The song most recently worked on, if any was."""
        with self.db.read() as s:
            latest = SongRow.last_worked_at.desc()
            return s.scalar(select(SongRow.id).where(SongRow.last_worked_at.is_not(None)).order_by(latest))

    def update_song(self, song_id: str, **values: Any) -> SongRow:
        with self.db.write() as s:
            row = _song_in(s, song_id)
            for name, value in values.items():
                setattr(row, name, value)
            return row

    def set_pose_b(
        self, song_id: str, key: str, source: str, checks: dict[str, ObjectCheck] | None = None
    ) -> list[str]:
        """Store pose B's key (and the `checks` of what was stored); returns the earlier pose-B key to delete,
        if it was another one."""
        with self.db.write() as s:
            record_checks(s, CHARACTER_BUCKET, checks or {})
            song = _song_in(s, song_id)
            stale = [song.character_pose_b_key] if song.character_pose_b_key not in (None, key) else []
            song.character_pose_b_key = key
            song.character_pose_b_source = source
            return [k for k in stale if k]

    def replace_character(
        self,
        song_id: str,
        reason: str,
        job_budget: int | None,
        checks: dict[str, ObjectCheck] | None = None,
        **character: Any,
    ) -> CharacterChange:
        """A new reference (upload or template): supersede open jobs, archive the rounds of looks, clear the
        generated image, the pick and the interrogation with its edits, set `character` fields, record the
        `checks` of the images stored, and queue a consistency job with `job_budget` (nanos) when it is
        given; all in one transaction."""
        from studio.records.looks import archive_in  # looks builds on songs

        unknown = set(character) - set(_CHARACTER_FIELDS)
        assert not unknown, unknown
        with self.db.write() as s:
            record_checks(s, CHARACTER_BUCKET, checks or {})
            superseded = _supersede(s, song_id, reason)
            archive_in(s, song_id, reason)
            song = _song_in(s, song_id)
            change = CharacterChange(song, superseded, song.character_generated_key is not None)
            before = {name: getattr(song, name) for name in _CHARACTER_FIELDS}
            values: dict[str, Any] = {
                "character_generated_key": None,
                "character_generated_at": None,
                "character_interrogation_json": None,
                "character_interrogation_edits_json": None,
                "character_look_id": None,
                **character,
            }
            if song.character_pose_b_source == "template" and "character_pose_b_key" not in character:
                values.update(character_pose_b_key=None, character_pose_b_source=None)
            for name, value in values.items():
                setattr(song, name, value)
            kept = {song.character_reference_key, song.character_pose_b_key}
            change.old_keys = [
                before[name]
                for name in ("character_reference_key", "character_pose_b_key", "character_generated_key")
                if before[name] and before[name] not in kept
            ]
            if job_budget is not None:
                change.job_id = _enqueue(s, song_id, job_budget)
            return change

    def requeue(self, song_id: str, reason: str, budget_nanos: int) -> str:
        """Supersede the song's open jobs and queue a fresh one."""
        with self.db.write() as s:
            _supersede(s, song_id, reason)
            return _enqueue(s, song_id, budget_nanos)

    # jobs -------------------------------------------------------------------------------------
    def job(self, job_id: str) -> CharacterJob | None:
        with self.db.read() as s:
            found = s.execute(_jobs().where(CharacterJobRow.id == job_id)).first()
            return CharacterJob.of(found[0], found[1]) if found is not None else None

    def latest_job(self, song_id: str) -> CharacterJob | None:
        """The song's newest job that was not superseded."""
        with self.db.read() as s:
            rows = s.execute(
                _jobs()
                .where(CharacterJobRow.song_id == song_id)
                .order_by(CharacterJobRow.created_at.desc(), CharacterJobRow.id)
            )
            jobs = [CharacterJob.of(row[0], row[1]) for row in rows]
            return next((job for job in jobs if job.status != ConsistencyStatus.SUPERSEDED), None)

    def jobs(self, song_id: str | None = None) -> list[CharacterJob]:
        with self.db.read() as s:
            query = _jobs().order_by(CharacterJobRow.created_at, CharacterJobRow.id)
            if song_id is not None:
                query = query.where(CharacterJobRow.song_id == song_id)
            return [CharacterJob.of(row[0], row[1]) for row in s.execute(query)]

    def open_job(self, song_id: str) -> CharacterJob | None:
        """The song's queued or running job, if any."""
        return next((job for job in self.jobs(song_id) if job.status in OPEN_STATUSES), None)

    async def record_interrogation(self, lease: Lease, song_id: str, interrogation_json: str) -> bool:
        """Keep what the job's interrogation found on its song, while the lease holds; False when lost."""

        def op(s: Session) -> bool:
            if not is_held(s, lease):
                return False
            song = _song_in(s, song_id)
            song.character_interrogation_json = interrogation_json
            return True

        return await self.db.run(op)

    async def finish(
        self,
        lease: Lease,
        outcome: ConsistencyStatus,
        error: str | None = None,
        *,
        work: WorkStatus = WorkStatus.DONE,
    ) -> bool:
        """End the job with its outcome (and its work as `work`); False (nothing changed) when the job was
        superseded or taken over."""
        return await self.db.run(lambda s: finish_job_in(s, lease, outcome, error, work))


def finish_job_in(
    s: Session,
    lease: Lease,
    outcome: ConsistencyStatus,
    error: str | None = None,
    work: WorkStatus = WorkStatus.DONE,
) -> bool:
    if not finish_in(s, lease, work, error if work == WorkStatus.FAILED else None):
        return False
    s.execute(
        update(CharacterJobRow)
        .where(CharacterJobRow.id == lease.subject)
        .values(outcome=outcome, error=error, finished_at=utcnow())
    )
    return True
