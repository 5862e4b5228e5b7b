"""Review decisions on reference versions: an append-only audit trail (rows are added, never changed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from studio.records.database import Database
from studio.records.schema import Base, utcnow


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewStatus(StrEnum):
    """A reference's status for review: the latest decision on its latest version."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    MISSING = "missing"
    """The reference has no stored image yet, so there is nothing to review."""


class ReviewRow(Base):
    """One reviewer's decision (`approved` or `rejected`, with a reason) on one version of a reference."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """How the decision arrived: `page`, `cli` (the reviewer is the local operator's label) or `api`."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewRecords:
    """Adds and reads decisions; there is no update or delete."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        job_id: str,
        ref: str,
        version: int,
        decision: str,
        reason: str | None,
        reviewer: str,
        channel: str | None = None,
    ) -> ReviewRow:
        (row,) = self.add_many(job_id, [(ref, version, decision, reason)], reviewer, channel)
        return row

    def add_many(
        self,
        job_id: str,
        decisions: Sequence[tuple[str, int, str, str | None]],
        reviewer: str,
        channel: str | None = None,
    ) -> list[ReviewRow]:
        """Decisions (ref, version, decision, reason) by one reviewer, in one transaction."""
        with self.db.write() as s:
            rows = [
                ReviewRow(
                    job_id=job_id,
                    ref=ref,
                    version=version,
                    decision=decision,
                    reason=reason,
                    reviewer=reviewer,
                    channel=channel,
                    created_at=utcnow(),
                )
                for ref, version, decision, reason in decisions
            ]
            s.add_all(rows)
            s.flush()
            return rows

    def decisions(self, job_id: str, ref: str | None = None) -> list[ReviewRow]:
        """Oldest first, so the last decision on a version is the one that counts."""
        with self.db.read() as s:
            query = select(ReviewRow).where(ReviewRow.job_id == job_id)
            if ref is not None:
                query = query.where(ReviewRow.ref == ref)
            return list(s.scalars(query.order_by(ReviewRow.id)))
