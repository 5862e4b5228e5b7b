"""What the studio knows, listed for pickers and headings: every plan (a creator's drafts and the plans
jobs ran, whoever started them: the app, the CLI or `worker`) and every job, each named by its plan's title.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from studio.money import from_nanos
from studio.plans.scene_plan import ScenePlan
from studio.services import Services

TITLE_CHARS = 48


def plan_title(video_summary: str, job_id: str) -> str:
    """The plan's summary, first sentence, cut at a word to `TITLE_CHARS`; `Plan 1a2b3c4d` without one."""
    text = " ".join(video_summary.split())
    sentence = text.split(". ")[0].rstrip(".")
    if not sentence:
        return f"Plan {job_id[:8]}"
    if len(sentence) <= TITLE_CHARS:
        return sentence
    cut = sentence[: TITLE_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return f"{cut}…"


def counted(number: int, noun: str) -> str:
    """`1 scene`, `4 scenes`."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def title_of(plan: ScenePlan) -> str:
    return plan_title(plan.video_summary, str(plan.job_id))


class PlanSummary(BaseModel):
    """One plan the studio knows, for pickers: its job id, title, where it came from and how big it is."""

    job_id: str
    title: str
    summary: str
    source: str
    scenes: int
    characters: int
    updated_at: datetime

    @property
    def images(self) -> int:
        return self.scenes + self.characters

    @property
    def size(self) -> str:
        return f"{counted(self.scenes, 'scene')}, {counted(self.characters, 'character')}"


class JobSummary(BaseModel):
    """One job, for pickers and lists: named by its plan's title."""

    job_id: str
    title: str
    status: str
    provider: str
    spent: Decimal
    budget: Decimal
    failure_reason: str | None
    created_at: datetime

    @property
    def label(self) -> str:
        """How pickers and charts name the job, told apart from any other: two jobs of plans with one summary
        started in one minute differ in their second and their id's end (`#000001`, not `0000`)."""
        return f"{self.title} · {self.created_at:%b %d %H:%M:%S} · #{short_id(self.job_id)}"


def short_id(job_id: str) -> str:
    """The end of a job id, the part that differs between a plan's ids (`…-000000000001` is `000001`)."""
    return job_id.replace("-", "")[-6:]


def _summary(job_id: str, plan_json: str, source: str, updated_at: datetime) -> PlanSummary:
    data = json.loads(plan_json)
    summary = str(data.get("video_summary") or "")
    return PlanSummary(
        job_id=job_id,
        title=plan_title(summary, job_id),
        summary=summary,
        source=source,
        scenes=len(data.get("scenes") or []),
        characters=len(data.get("characters") or []),
        updated_at=updated_at,
    )


def list_plans(services: Services, limit: int = 50) -> list[PlanSummary]:
    """Drafts and jobs' plans, one per job id (a draft wins over the plan its job ran), newest first."""
    drafts = services.records.drafts.drafts(limit)
    found = {r.job_id: _summary(r.job_id, r.plan_json, r.source, r.updated_at) for r in drafts}
    for job in services.records.jobs.recent(limit):
        if job.id not in found:
            found[job.id] = _summary(job.id, job.plan_json, "job", job.created_at)
    return sorted(found.values(), key=lambda p: p.updated_at, reverse=True)[:limit]


def list_jobs(services: Services, limit: int = 50) -> list[JobSummary]:
    """The newest jobs, each with its plan's title."""
    return [
        JobSummary(
            job_id=job.id,
            title=plan_title(str(json.loads(job.plan_json).get("video_summary") or ""), job.id),
            status=job.status,
            provider=job.provider,
            spent=from_nanos(job.spent_nanos),
            budget=from_nanos(job.budget_nanos),
            failure_reason=job.failure_reason,
            created_at=job.created_at,
        )
        for job in services.records.jobs.recent(limit)
    ]
