"""Rounds of candidate looks of a song's character, and the look a creator picked: tables and queries.

A round is leased work (studio.records.leases) like a consistency job; every write made while it runs names
its lease, so a round that was archived (a new upload or template) or taken over stores nothing more. A
look's image is recorded the moment it is stored, so a round that fails part-way keeps what arrived.
Picking a look makes it the song's generated image in one transaction with the object's copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from studio.records import leases
from studio.records.database import Database
from studio.records.leases import Lease
from studio.records.objects import ObjectCheck, copy_checks, record_checks
from studio.records.schema import Base, Leased, utcnow
from studio.records.songs import SongRow, lock_song
from studio.storage.keys import CHARACTER_BUCKET, look_key

OPEN_STATUSES = ("queued", "running")
ROUND_STATUSES = ("queued", "running", "completed", "partial", "failed", "superseded")
LOOK_STATUSES = ("pending", "stored", "failed")


class LookRoundRow(Leased, Base):
    """One round of candidate looks: the prompt, strength and image it starts from, and its lease."""

    __tablename__ = "look_rounds"
    __table_args__ = (UniqueConstraint("song_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    song_id: Mapped[str] = mapped_column(String(64), index=True)
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
    archived: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    """The song's character was replaced: the round is history, none of its looks can be picked."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
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
    status: Mapped[str] = mapped_column(String(16), default="pending")
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
    """A round with its looks, in order."""

    round: LookRoundRow
    looks: list[LookRow]


def _add_round(s: Session, new: NewRound, status: str) -> tuple[LookRoundRow, list[LookRow]]:
    number = int(
        s.scalar(select(func.max(LookRoundRow.number)).where(LookRoundRow.song_id == new.song_id)) or 0
    )
    row = LookRoundRow(
        id=str(uuid.uuid4()),
        song_id=new.song_id,
        number=number + 1,
        origin=new.origin,
        prompt=new.prompt,
        negative_prompt=new.negative_prompt,
        strength=new.strength,
        parent=new.parent,
        init_key=new.init_key,
        reference_key=new.reference_key,
        status=status,
        attempts=0,
        lease_epoch=0,
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
            status="pending",
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
    open_rounds = select(LookRoundRow.id).where(
        LookRoundRow.song_id == song_id, LookRoundRow.status.in_(OPEN_STATUSES)
    )
    s.execute(
        update(LookRow)
        .where(LookRow.round_id.in_(open_rounds), LookRow.status == "pending")
        .values(status="failed", error=f"not made: {reason}")
    )
    superseded = s.execute(
        update(LookRoundRow)
        .where(LookRoundRow.song_id == song_id, LookRoundRow.status.in_(OPEN_STATUSES))
        .values(
            status="superseded", error=reason, lease_owner=None, lease_expires_at=None, finished_at=utcnow()
        )
    )
    s.execute(update(LookRoundRow).where(LookRoundRow.song_id == song_id).values(archived=True))
    return int(superseded.rowcount)  # type: ignore[attr-defined]


def add_picked_round_in(s: Session, song: SongRow, new: NewRound, stored: StoredLook) -> RoundLooks:
    """The consistency job's image as a round of one stored look. It becomes the pick unless the creator
    picked a look of their own rounds: a re-run replaces the job's earlier image, never a creator's pick."""
    current = s.get(LookRow, (song.id, song.character_look_id)) if song.character_look_id else None
    chosen = (
        current is not None
        and s.scalar(select(LookRoundRow.origin).where(LookRoundRow.id == current.round_id)) != "consistency"
    )
    row, looks = _add_round(s, new, "completed")
    row.finished_at = utcnow()
    for look in looks:
        _store(look, stored)
    if not chosen:
        song.character_look_id = looks[0].id
    return RoundLooks(row, looks)


def _store(look: LookRow, stored: StoredLook) -> None:
    look.status = "stored"
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
        """Queue a round for the song's current reference (InvalidInput when it changed meanwhile)."""
        with self.db.write() as s:
            _current_song(s, new.song_id, new.reference_key)
            row, looks = _add_round(s, new, "queued")
            return RoundLooks(row, looks)

    def round(self, round_id: str) -> RoundLooks | None:
        with self.db.read() as s:
            row = s.get(LookRoundRow, round_id)
            if row is None:
                return None
            query = select(LookRow).where(LookRow.round_id == round_id).order_by(LookRow.position)
            return RoundLooks(row, list(s.scalars(query)))

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
            return [RoundLooks(row, by_round[row.id]) for row in rows]

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
        with self.db.read() as s:
            query = select(func.count()).where(
                LookRoundRow.song_id == song_id, LookRoundRow.status.in_(OPEN_STATUSES)
            )
            return int(s.scalar(query) or 0)

    # running ----------------------------------------------------------------------------------
    def claim(
        self, owner: str, lease_seconds: float, *, round_id: str | None = None
    ) -> tuple[Lease, RoundLooks] | None:
        """Take the oldest runnable round that is not archived (or round `round_id`)."""
        with self.db.write() as s:
            lease = leases.claim(
                s,
                LookRoundRow,
                owner,
                lease_seconds,
                id=round_id,
                where=(LookRoundRow.archived.is_(False),),
                values={"started_at": utcnow(), "finished_at": None},
            )
        if lease is None:
            return None
        claimed = self.round(lease.id)
        assert claimed is not None
        return lease, claimed

    async def beat(self, lease: Lease, lease_seconds: float | None) -> tuple[bool, bool]:
        """(still held, False): a round has no cancel; renews when `lease_seconds` is given."""

        return await self.db.run(lambda s: (leases.beat(s, lease, lease_seconds), False))

    def held_op(self, lease: Lease) -> Callable[[Session], bool]:
        """Whether the round's lease is still held (it is not once the round was archived or taken over)."""
        return lambda s: leases.is_held(s, lease)

    def store_op(
        self, lease: Lease, song_id: str, look_id: str, stored: StoredLook
    ) -> Callable[[Session], bool]:
        """Record a candidate's stored image, only while the round's lease is held."""

        def op(s: Session) -> bool:
            look = s.get(LookRow, (song_id, look_id))
            if look is None or not leases.is_held(s, lease):
                return False
            _store(look, stored)
            if stored.check is not None:
                record_checks(s, CHARACTER_BUCKET, {look_key(song_id, look_id): stored.check})
            return True

        return op

    def fail_op(self, lease: Lease, song_id: str, look_id: str, error: str) -> Callable[[Session], bool]:
        """Record why a candidate has no image, only while the round's lease is held."""

        def op(s: Session) -> bool:
            look = s.get(LookRow, (song_id, look_id))
            if look is None or not leases.is_held(s, lease):
                return False
            look.status, look.error = "failed", error
            return True

        return op

    def finish_op(self, lease: Lease, status: str, error: str | None = None) -> Callable[[Session], bool]:
        """End the round's lease with a final status; False when it was archived or taken over."""
        return lambda s: leases.release(s, lease, status=status, error=error, finished_at=utcnow())

    # picking ----------------------------------------------------------------------------------
    def pick(self, song_id: str, look_id: str, publish: Callable[[SongRow], Any]) -> LookRow:
        """Make a stored look of a current round the song's pick; `publish` (copying the image to the
        generated key and setting it) runs in the same transaction, after every check passed."""
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
            if look.status != "stored" or look.storage_key is None:
                raise InvalidInput("look_id", f"{look_id} has no image to pick (it is {look.status})")
            song.character_look_id = look.id
            publish(song)
            if song.character_generated_key:
                copy_checks(s, CHARACTER_BUCKET, {look.storage_key: song.character_generated_key})
            return look
