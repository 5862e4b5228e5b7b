"""Tables for a creator's work in progress: plan drafts and per-reference prompt edits.

Edits live apart from the synthesized prompts (which are always recomputed from the plan), so a
re-synthesis after a plan change never loses them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from studio.records.database import Database
from studio.records.schema import Base, JobRow, utcnow


class PlanDraftRow(Base):
    """The latest plan a creator loaded or edited, per job id, before (and after) it is submitted."""

    __tablename__ = "plan_drafts"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_json: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(160), default="")
    """Where the plan came from: `sample minimal`, `upload plan.json`, `edited in the page`."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PromptEditRow(Base):
    """A creator's edits to one reference of a job; a null column means "as synthesized"."""

    __tablename__ = "prompt_edits"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    negative_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seed_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    """A locked seed is kept by "reroll unlocked seeds"."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DraftRecords:
    """Plan drafts and prompt edits: what a creator is working on."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_plan(self, job_id: str, plan_json: str, source: str) -> None:
        with self.db.write() as s:
            row = s.get(PlanDraftRow, job_id)
            if row is None:
                row = PlanDraftRow(job_id=job_id)
                s.add(row)
            row.plan_json = plan_json
            row.source = source[:160]

    def plan_json(self, job_id: str) -> str | None:
        """The job's draft, else the plan it was submitted with, else None."""
        with self.db.read() as s:
            draft = s.get(PlanDraftRow, job_id)
            if draft is not None:
                return draft.plan_json
            job = s.get(JobRow, job_id)
            return job.plan_json if job is not None else None

    def drafts(self, limit: int = 50) -> list[PlanDraftRow]:
        """Saved drafts, most recently changed first."""
        with self.db.read() as s:
            return list(s.scalars(select(PlanDraftRow).order_by(PlanDraftRow.updated_at.desc()).limit(limit)))

    def edits(self, job_id: str) -> list[PromptEditRow]:
        with self.db.read() as s:
            return list(s.scalars(select(PromptEditRow).where(PromptEditRow.job_id == job_id)))

    def store_edit(self, job_id: str, ref: str, values: dict[str, Any] | None) -> None:
        """Set one reference's edit columns, or delete its edit when `values` is None."""
        with self.db.write() as s:
            row = s.get(PromptEditRow, (job_id, ref))
            if values is None:
                if row is not None:
                    s.delete(row)
                return
            if row is None:
                row = PromptEditRow(job_id=job_id, ref=ref)
                s.add(row)
            for name, value in values.items():
                setattr(row, name, value)
