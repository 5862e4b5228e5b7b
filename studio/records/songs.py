"""Songs (who owns a character setup) and their consistency jobs: tables and the queries on them.

Consistency jobs are leased work (studio.records.leases): a job left `running` by a crashed worker is claimed
again once its lease expires. Publishing a job's image checks the lease in the same transaction, so a
superseded or taken-over job can never publish a stale image.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, DateTime, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.records import leases
from studio.records.database import Database
from studio.records.leases import Lease
from studio.records.objects import ObjectCheck, record_checks
from studio.records.schema import Base, Leased, utcnow
from studio.storage.keys import CHARACTER_BUCKET

if TYPE_CHECKING:
    from studio.records.looks import NewRound, RoundLooks, StoredLook

JOB_STATUSES = ("queued", "running", "completed", "failed", "skipped", "superseded")
OPEN_STATUSES = ("queued", "running")
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CharacterJobRow(Leased, Base):
    """One run of the consistency job for a song."""

    __tablename__ = "character_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    song_id: Mapped[str] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


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
    """Mark the song's queued and running jobs `superseded`; their leases stop being valid."""
    result = s.execute(
        update(CharacterJobRow)
        .where(CharacterJobRow.song_id == song_id, CharacterJobRow.status.in_(OPEN_STATUSES))
        .values(
            status="superseded", error=reason, lease_owner=None, lease_expires_at=None, finished_at=utcnow()
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _enqueue(s: Session, song_id: str) -> str:
    job = CharacterJobRow(id=str(uuid.uuid4()), song_id=song_id, status="queued", attempts=0)
    s.add(job)
    s.flush()
    return job.id


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
        queue_job: bool,
        checks: dict[str, ObjectCheck] | None = None,
        **character: Any,
    ) -> CharacterChange:
        """A new reference (upload or template): supersede open jobs, archive the rounds of looks, clear the
        generated image, the pick and the interrogation with its edits, set `character` fields, record the
        `checks` of the images stored, and queue a consistency job when asked; all in one transaction."""
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
            if queue_job:
                change.job_id = _enqueue(s, song_id)
            return change

    def requeue(self, song_id: str, reason: str) -> str:
        """Supersede the song's open jobs and queue a fresh one."""
        with self.db.write() as s:
            _supersede(s, song_id, reason)
            return _enqueue(s, song_id)

    # jobs -------------------------------------------------------------------------------------
    def job(self, job_id: str) -> CharacterJobRow | None:
        with self.db.read() as s:
            return s.get(CharacterJobRow, job_id)

    def latest_job(self, song_id: str) -> CharacterJobRow | None:
        """The song's newest job that was not superseded."""
        with self.db.read() as s:
            query = (
                select(CharacterJobRow)
                .where(CharacterJobRow.song_id == song_id, CharacterJobRow.status != "superseded")
                .order_by(CharacterJobRow.created_at.desc(), CharacterJobRow.id)
                .limit(1)
            )
            return s.scalar(query)

    def jobs(self, song_id: str | None = None) -> list[CharacterJobRow]:
        with self.db.read() as s:
            query = select(CharacterJobRow).order_by(CharacterJobRow.created_at, CharacterJobRow.id)
            if song_id is not None:
                query = query.where(CharacterJobRow.song_id == song_id)
            return list(s.scalars(query))

    def claim(
        self, owner: str, lease_seconds: float, *, song_id: str | None = None, job_id: str | None = None
    ) -> tuple[Lease, CharacterJobRow] | None:
        """Take the oldest runnable job (of a song, or one job); its lease and row, or None."""
        where = (CharacterJobRow.song_id == song_id,) if song_id is not None else ()
        with self.db.write() as s:
            lease = leases.claim(
                s,
                CharacterJobRow,
                owner,
                lease_seconds,
                id=job_id,
                where=where,
                values={"started_at": utcnow(), "finished_at": None},
            )
            if lease is None:
                return None
            row = s.get(CharacterJobRow, lease.id)
            assert row is not None
            return lease, row

    def finish(
        self,
        lease: Lease,
        status: str,
        *,
        error: str | None = None,
        publish: Callable[[SongRow, RoundLooks | None], None] | None = None,
        look: tuple[NewRound, StoredLook] | None = None,
        checks: dict[str, ObjectCheck] | None = None,
    ) -> bool:
        """End a job; `publish` changes its song in the same transaction, only while the lease is held, and
        `checks` then record what it stored (`publish` may add the checks of what it stores).

        `look` records the job's image as a round of one look (the song's pick when it has none), which
        `publish` is given. Returns False (and changes nothing) when the job was superseded or taken over.
        """
        from studio.records.looks import add_picked_round_in  # looks builds on songs

        with self.db.write() as s:
            job = s.get(CharacterJobRow, lease.id)
            ended = leases.release(s, lease, status=status, error=error, finished_at=utcnow())
            if not ended or job is None:
                return False
            song = _song_in(s, job.song_id)
            made = add_picked_round_in(s, song, *look) if look is not None else None
            if publish is not None:
                publish(song, made)
            record_checks(s, CHARACTER_BUCKET, checks or {})
            return True

    async def beat(self, lease: Lease, lease_seconds: float | None) -> tuple[bool, bool]:
        """(still held, False): a consistency job has no cancel; renews when `lease_seconds` is given."""

        return await self.db.run(lambda s: (leases.beat(s, lease, lease_seconds), False))
