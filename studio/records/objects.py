"""What each stored object was when the studio stored it: its size and SHA-256, by bucket and key.

Recorded in the transaction that records the object (a reference's new version, a song's character image),
so the record and its check change together; read before an object is reused, reviewed or exported. An
object stored before checks existed has none: it is only required to exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, bindparam, delete, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.records.database import Database
from studio.records.schema import Base, utcnow


class ObjectCheckRow(Base):
    __tablename__ = "object_checks"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class ObjectCheck:
    """An object's size in bytes and SHA-256 (hex) as stored."""

    size: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> ObjectCheck:
        return cls(len(data), hashlib.sha256(data).hexdigest())


_FORGET = delete(ObjectCheckRow).where(
    ObjectCheckRow.bucket == bindparam("bucket_"), ObjectCheckRow.key.in_(bindparam("keys", expanding=True))
)
_RECORD = insert(ObjectCheckRow)


def record_checks(s: Session, bucket: str, checks: dict[str, ObjectCheck]) -> None:
    """Replace the checks of these keys (inside the caller's transaction)."""
    if not checks:
        return
    connection = s.connection()
    connection.execute(_FORGET, {"bucket_": bucket, "keys": list(checks)})
    connection.execute(
        _RECORD,
        [
            {"bucket": bucket, "key": key, "size": check.size, "sha256": check.sha256, "stored_at": utcnow()}
            for key, check in checks.items()
        ],
    )


def copy_checks(s: Session, bucket: str, moves: dict[str, str]) -> None:
    """Objects copied from one key to another (`{source: destination}`): the destination gets the source's
    check, or none when the source had none."""
    if not moves:
        return
    found = s.execute(
        select(ObjectCheckRow.key, ObjectCheckRow.size, ObjectCheckRow.sha256).where(
            ObjectCheckRow.bucket == bucket, ObjectCheckRow.key.in_(moves)
        )
    )
    copied = {moves[key]: ObjectCheck(size, sha256) for key, size, sha256 in found}
    s.execute(
        delete(ObjectCheckRow).where(ObjectCheckRow.bucket == bucket, ObjectCheckRow.key.in_(moves.values()))
    )
    record_checks(s, bucket, copied)


def forget_checks(s: Session, bucket: str, prefix: str) -> int:
    """Drop the checks of every key under `prefix/` (inside the caller's transaction)."""
    under = ObjectCheckRow.key.startswith(f"{prefix}/", autoescape=True)
    result = s.execute(delete(ObjectCheckRow).where(ObjectCheckRow.bucket == bucket, under))
    return int(result.rowcount)  # type: ignore[attr-defined]


class ObjectRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def checks(self, bucket: str, keys: list[str]) -> dict[str, ObjectCheck]:
        """The recorded checks of those of `keys` that have one."""
        if not keys:
            return {}
        with self.db.read() as s:
            rows = s.execute(
                select(ObjectCheckRow.key, ObjectCheckRow.size, ObjectCheckRow.sha256).where(
                    ObjectCheckRow.bucket == bucket, ObjectCheckRow.key.in_(keys)
                )
            )
            return {key: ObjectCheck(size, sha256) for key, size, sha256 in rows}

    def record(self, bucket: str, checks: dict[str, ObjectCheck]) -> None:
        with self.db.write() as s:
            record_checks(s, bucket, checks)

    def forget(self, bucket: str, prefix: str) -> int:
        """Drop the checks of every key under `prefix/` (its objects were deleted)."""
        with self.db.write() as s:
            result = s.execute(
                delete(ObjectCheckRow).where(
                    ObjectCheckRow.bucket == bucket,
                    ObjectCheckRow.key.startswith(f"{prefix}/", autoescape=True),
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
