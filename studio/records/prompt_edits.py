"""Tables for a creator's work in progress: plan drafts and per-reference prompt edits.

Edits live apart from the synthesized prompts (which are always recomputed from the plan), so a
re-synthesis after a plan change never loses them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio.records.schema import Base, utcnow


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
