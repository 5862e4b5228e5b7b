"""API keys of the HTTP API (team mode): a name, a role, and the SHA-256 of the key; the key itself is shown
once, when it is made, and never stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from studio.records.database import Database
from studio.records.schema import Base, utcnow


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiKeyRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, role: str, key_hash: str) -> bool:
        """Record a new key; False when a key of that name exists (revoked or not: names are not reused)."""
        with self.db.write() as s:
            if s.get(ApiKeyRow, name) is not None:
                return False
            s.add(ApiKeyRow(name=name, role=role, key_hash=key_hash, created_at=utcnow()))
            return True

    def all(self) -> list[ApiKeyRow]:
        with self.db.read() as s:
            return list(s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.name)))

    def by_hash(self, key_hash: str) -> ApiKeyRow | None:
        with self.db.read() as s:
            return s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash)).first()

    def revoke(self, name: str) -> bool:
        """Revoke a live key; False when there is no live key of that name."""
        with self.db.write() as s:
            changed = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return bool(getattr(changed, "rowcount", 0))
