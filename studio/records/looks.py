"""Rounds of candidate looks of a song's character, and the look a creator picked: tables and queries.

A round points at the work that makes its looks (studio.records.work): its own, or the consistency job's
that made it. Every write made while it runs names that work's lease, so a round that was archived (a new
upload or template) or taken over stores nothing more. A look's image is recorded the moment it is stored,
so a round that fails part-way keeps what arrived. A pick is recorded after the image was copied.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.errors import InvalidInput, NotFound
from studio.records.database import Database, Op
from studio.records.objects import ObjectCheck, record_checks
from studio.records.paid_calls import CallState, mark_in
from studio.records.schema import Base, utcnow
from studio.records.songs import SongRow, lock_song
from studio.records.work import (
    OPEN,
    Lease,
    WorkKind,
    WorkRow,
    WorkStatus,
    finish_in,
    is_held,
    queue_in,
    supersede_in,
)
from studio.storage.keys import CHARACTER_BUCKET, generated_key, look_key


class RoundStatus(StrEnum):
    """A round as people see it: its work's while it is to run, then how it ended."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    """Some candidates failed."""
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """The song's character was replaced before it ended."""


class LookStatus(StrEnum):
    PENDING = "pending"
    STORED = "stored"
    FAILED = "failed"


OPEN_STATUSES = (RoundStatus.QUEUED, RoundStatus.RUNNING)


class LookRoundRow(Base):
    """One round of candidate looks: the prompt, strength and image it starts from, and how it ended."""

    __tablename__ = "look_rounds"
    __table_args__ = (UniqueConstraint("song_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    song_id: Mapped[str] = mapped_column(String(64), index=True)
    work_id: Mapped[str | None] = mapped_column(ForeignKey("work.id"), nullable=True, index=True)
    """The work that makes its looks: its own, or the consistency job's (None: made before the queue)."""
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    number: Mapped[int] = mapped_column(Integer)
    """1, 2, ... per song, never reused (archived rounds keep theirs)."""
    origin: Mapped[str] = mapped_column(String(16))
    """`consistency` (the job after an upload made it) or `looks` (a creator asked for it)."""
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text)
    strength: Mapped[float] = mapped_column(Float)
    parent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The look this round starts from ("more like this"), or None: from the song's reference."""
    init_key: Mapped[str] = mapped_column(String(255))
    """The image the candidates are conditioned on, in `character-images`."""
    reference_key: Mapped[str] = mapped_column(String(255))
    """The song's reference when the round was made: what the candidates are compared with."""
    model: Mapped[str] = mapped_column(String(64), default="sdxl", server_default="sdxl")
    """The catalogued model its looks are made with (the song's character model when it was asked for)."""
    archived: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    """The song's character was replaced: the round is history, none of its looks can be picked."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LookRow(Base):
    """One candidate of a round: its seed and prompt, and its image once stored."""

    __tablename__ = "looks"

    song_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """`r<round>-<n>`, unique within the song."""
    round_id: Mapped[str] = mapped_column(ForeignKey("look_rounds.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text)
    strength: Mapped[float] = mapped_column(Float)
    parent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=LookStatus.PENDING)
    storage_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str] = mapped_column(String(32), default="")
    model_version: Mapped[str] = mapped_column(String(128), default="")
    prediction_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def look_id(number: int, position: int) -> str:
    return f"r{number}-{position}"


@dataclass(frozen=True)
class NewRound:
    """A round to record: what every candidate shares, and each candidate's seed."""

    song_id: str
    origin: str
    prompt: str
    negative_prompt: str
    strength: float
    seeds: tuple[int, ...]
    init_key: str
    reference_key: str
    parent: str | None = None
    budget_nanos: int = 0
    """What its candidates may cost at most."""
    model: str = "sdxl"


@dataclass(frozen=True)
class StoredLook:
    """A candidate's image, stored at its look key: by whom, at what cost."""

    cost_nanos: int = 0
    provider: str = ""
    model_version: str = ""
    prediction_id: str | None = None
    check: ObjectCheck | None = None
    """The stored bytes' size and SHA-256, recorded with the look."""


@dataclass
class RoundLooks:
    """A round with its looks, in order, and its status."""

    round: LookRoundRow
    looks: list[LookRow]
    status: RoundStatus
    attempts: int = 0


def round_status(row: LookRoundRow, work: WorkRow | None) -> RoundStatus:
    if row.outcome is not None:
        return RoundStatus(row.outcome)
    if work is None:
        return RoundStatus.COMPLETED  # made before rounds had work
    if work.status in (WorkStatus.QUEUED, WorkStatus.RUNNING):
        return RoundStatus(work.status)
    return RoundStatus.SUPERSEDED if work.status == WorkStatus.CANCELLED else RoundStatus.FAILED


def _round_looks(s: Session, row: LookRoundRow, looks: list[LookRow]) -> RoundLooks:
    work = s.get(WorkRow, row.work_id) if row.work_id else None
    return RoundLooks(row, looks, round_status(row, work), work.attempts if work is not None else 0)


def _add_round(
    s: Session, new: NewRound, work_id: str | None, round_id: str | None = None
) -> tuple[LookRoundRow, list[LookRow]]:
    number = int(
        s.scalar(select(func.max(LookRoundRow.number)).where(LookRoundRow.song_id == new.song_id)) or 0
    )
    row = LookRoundRow(
        id=round_id or str(uuid.uuid4()),
        song_id=new.song_id,
        number=number + 1,
        origin=new.origin,
        prompt=new.prompt,
        negative_prompt=new.negative_prompt,
        strength=new.strength,
        parent=new.parent,
        init_key=new.init_key,
        reference_key=new.reference_key,
        model=new.model,
        work_id=work_id,
        archived=False,
    )
    s.add(row)
    looks = [
        LookRow(
            song_id=new.song_id,
            id=look_id(row.number, position),
            round_id=row.id,
            position=position,
            seed=seed,
            prompt=new.prompt,
            negative_prompt=new.negative_prompt,
            strength=new.strength,
            parent=new.parent,
            status=LookStatus.PENDING,
            cost_nanos=0,
        )
        for position, seed in enumerate(new.seeds, start=1)
    ]
    s.add_all(looks)
    s.flush()
    return row, looks


def _current_song(s: Session, song_id: str, reference_key: str) -> SongRow:
    """The song, locked, when its reference is still `reference_key`; InvalidInput when it changed."""
    song = lock_song(s, song_id)
    if song is None:
        raise NotFound(f"song {song_id!r}")
    if song.character_reference_key != reference_key:
        raise InvalidInput("song_id", f"the reference of {song_id!r} changed meanwhile; ask again")
    return song


def archive_in(s: Session, song_id: str, reason: str) -> int:
    """Archive the song's rounds (its character was replaced); open ones are superseded, their looks not
    made yet failed with `reason`. How many were open."""
    works = select(LookRoundRow.work_id).where(
        LookRoundRow.song_id == song_id, LookRoundRow.work_id.is_not(None)
    )
    open_rounds = select(LookRoundRow.id).where(
        LookRoundRow.song_id == song_id,
        LookRoundRow.outcome.is_(None),
        LookRoundRow.work_id.in_(select(WorkRow.id).where(WorkRow.status.in_(OPEN))),
    )
    s.execute(
        update(LookRow)
        .where(LookRow.round_id.in_(open_rounds), LookRow.status == LookStatus.PENDING)
        .values(status=LookStatus.FAILED, error=f"not made: {reason}")
    )
    s.execute(
        update(LookRoundRow)
        .where(LookRoundRow.id.in_(open_rounds))
        .values(outcome=RoundStatus.SUPERSEDED, error=reason, finished_at=utcnow())
    )
    superseded = supersede_in(s, WorkRow.id.in_(works), reason)
    s.execute(update(LookRoundRow).where(LookRoundRow.song_id == song_id).values(archived=True))
    return superseded


def add_round_in(s: Session, lease: Lease, new: NewRound) -> RoundLooks:
    """A round made by the lease's work itself (the consistency job's first look), pending, for its song's
    current reference; the one it made already when the work was taken over."""
    made = s.scalar(select(LookRoundRow).where(LookRoundRow.work_id == lease.id))
    if made is None:
        _current_song(s, new.song_id, new.reference_key)
        made, _ = _add_round(s, new, lease.id)
    looks = list(s.scalars(select(LookRow).where(LookRow.round_id == made.id).order_by(LookRow.position)))
    return _round_looks(s, made, looks)


def _store(look: LookRow, stored: StoredLook) -> None:
    look.status = LookStatus.STORED
    look.storage_key = look_key(look.song_id, look.id)
    look.cost_nanos = stored.cost_nanos
    look.provider = stored.provider
    look.model_version = stored.model_version
    look.prediction_id = stored.prediction_id
    look.stored_at = utcnow()
    look.error = None


class LookRecords:
    """Rounds of looks and picks through the records database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_round(self, new: NewRound) -> RoundLooks:
        """Queue a round, with its work, for the song's current reference (InvalidInput when it changed
        meanwhile)."""
        with self.db.write() as s:
            _current_song(s, new.song_id, new.reference_key)
            round_id = str(uuid.uuid4())
            work, _ = queue_in(s, WorkKind.LOOKS, round_id, budget_nanos=new.budget_nanos)
            row, looks = _add_round(s, new, work.id, round_id)
            return _round_looks(s, row, looks)

    def round(self, round_id: str) -> RoundLooks | None:
        with self.db.read() as s:
            return round_in(s, round_id)

    async def around(self, round_id: str) -> RoundLooks | None:
        return await self.db.query(lambda s: round_in(s, round_id))

    def of_work(self, work_id: str) -> RoundLooks | None:
        """The round a unit of work makes (a consistency job's first look), if it made one yet."""
        with self.db.read() as s:
            row_id = s.scalar(select(LookRoundRow.id).where(LookRoundRow.work_id == work_id))
            return round_in(s, row_id) if row_id is not None else None

    def rounds(self, song_id: str) -> list[RoundLooks]:
        """The song's rounds, oldest first, archived ones included."""
        with self.db.read() as s:
            rows = list(
                s.scalars(
                    select(LookRoundRow).where(LookRoundRow.song_id == song_id).order_by(LookRoundRow.number)
                )
            )
            looks = s.scalars(
                select(LookRow).where(LookRow.song_id == song_id).order_by(LookRow.round_id, LookRow.position)
            )
            by_round: dict[str, list[LookRow]] = {row.id: [] for row in rows}
            for look in looks:
                by_round.setdefault(look.round_id, []).append(look)
            return [_round_looks(s, row, by_round[row.id]) for row in rows]

    def look(self, song_id: str, look_id: str) -> tuple[LookRow, LookRoundRow] | None:
        with self.db.read() as s:
            look = s.get(LookRow, (song_id, look_id))
            if look is None:
                return None
            row = s.get(LookRoundRow, look.round_id)
            assert row is not None
            return look, row

    def next_number(self, song_id: str) -> int:
        """The number the song's next round will most likely get (the transaction that adds it decides)."""
        with self.db.read() as s:
            query = select(func.max(LookRoundRow.number)).where(LookRoundRow.song_id == song_id)
            return int(s.scalar(query) or 0) + 1

    def open_rounds(self, song_id: str) -> int:
        """How many of the song's rounds are queued or running."""
        return sum(1 for found in self.rounds(song_id) if found.status in OPEN_STATUSES)

    # running ----------------------------------------------------------------------------------
    def store_op(
        self, lease: Lease, song_id: str, look_id: str, stored: StoredLook, calls: list[int]
    ) -> Op[bool]:
        """Record a candidate's stored image (and the paid calls that made it as kept), only while the
        lease of the round's work is held."""

        def op(s: Session) -> bool:
            look = s.get(LookRow, (song_id, look_id))
            if look is None or not is_held(s, lease):
                return False
            _store(look, stored)
            mark_in(s, calls, CallState.KEPT)
            if stored.check is not None:
                record_checks(s, CHARACTER_BUCKET, {look_key(song_id, look_id): stored.check})
            return True

        return op

    def fail_op(self, lease: Lease, song_id: str, look_id: str, error: str) -> Op[bool]:
        """Record why a candidate has no image, only while the lease is held."""

        def op(s: Session) -> bool:
            look = s.get(LookRow, (song_id, look_id))
            if look is None or not is_held(s, lease):
                return False
            look.status, look.error = LookStatus.FAILED, error
            return True

        return op

    def finish_op(self, lease: Lease, outcome: RoundStatus, error: str | None = None) -> Op[bool]:
        """End a round's own work with how the round ended; False when it was archived or taken over."""

        def op(s: Session) -> bool:
            if not end_round_in(s, lease, lease.subject, outcome, error):
                return False
            return finish_in(s, lease, WorkStatus.DONE)

        return op

    # picking ----------------------------------------------------------------------------------
    def pick(
        self, song_id: str, look_id: str, check: ObjectCheck, *, unless_picked_by_creator: bool = False
    ) -> LookRow | None:
        """Make a stored look of a current round the song's pick, its image (already copied to the
        generated key, whose `check` is recorded) the song's generated image. With
        `unless_picked_by_creator` (the consistency job's image), a look the creator picked stays: None then.
        NotFound or InvalidInput when the look cannot be picked."""
        with self.db.write() as s:
            song = lock_song(s, song_id)
            look = s.get(LookRow, (song_id, look_id))
            if song is None:
                raise NotFound(f"song {song_id!r}")
            if look is None:
                raise NotFound(f"look {look_id!r} of song {song_id!r}")
            row = s.get(LookRoundRow, look.round_id)
            if row is None or row.archived:
                raise InvalidInput(
                    "look_id",
                    f"{look_id} belongs to an archived round (the song's character was replaced since)",
                )
            if look.status != LookStatus.STORED or look.storage_key is None:
                raise InvalidInput("look_id", f"{look_id} has no image to pick (it is {look.status})")
            if unless_picked_by_creator and _picked_by_creator(s, song):
                return None
            song.character_look_id = look.id
            song.character_generated_key = generated_key(song_id)
            song.character_generated_at = utcnow()
            record_checks(s, CHARACTER_BUCKET, {song.character_generated_key: check})
            return look

    def picked_look(self, song_id: str) -> LookRow | None:
        with self.db.read() as s:
            song = s.get(SongRow, song_id)
            if song is None or song.character_look_id is None:
                return None
            return s.get(LookRow, (song_id, song.character_look_id))


def round_in(s: Session, round_id: str) -> RoundLooks | None:
    row = s.get(LookRoundRow, round_id, populate_existing=True)
    if row is None:
        return None
    query = select(LookRow).where(LookRow.round_id == round_id).order_by(LookRow.position)
    return _round_looks(s, row, list(s.scalars(query.execution_options(populate_existing=True))))


def end_round_in(s: Session, lease: Lease, round_id: str, outcome: RoundStatus, error: str | None) -> bool:
    if not is_held(s, lease):
        return False
    s.execute(
        update(LookRoundRow)
        .where(LookRoundRow.id == round_id)
        .values(outcome=outcome, error=error, finished_at=utcnow())
    )
    return True


def _picked_by_creator(s: Session, song: SongRow) -> bool:
    """Whether the song's pick is a look of the creator's own rounds (not a consistency job's image)."""
    if song.character_look_id is None:
        return False
    current = s.get(LookRow, (song.id, song.character_look_id))
    if current is None:
        return False
    return s.scalar(select(LookRoundRow.origin).where(LookRoundRow.id == current.round_id)) != "consistency"
