"""What a job cost: its ledger (and its song's consistency job), summarised for the Costs page and the CLI.

Every figure is computed from the ledger rows in Decimal, so the summaries always add up to the total.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from studio.errors import NotFound
from studio.money import from_nanos, plain_decimal
from studio.references.planning import budget_for
from studio.services import Services

ZERO = Decimal("0")


class CostEntry(BaseModel):
    stage: str
    provider: str
    model: str
    ref: str | None
    job_id: str | None
    song_id: str | None
    units: Decimal
    unit_name: str
    unit_price: Decimal
    amount: Decimal
    cache_hit: bool
    saved: Decimal
    prediction_id: str | None
    created_at: datetime


class StageProviderCost(BaseModel):
    stage: str
    provider: str
    calls: int
    amount: Decimal


class SpendPoint(BaseModel):
    """Spend up to and including the entry recorded at `at`."""

    at: datetime
    amount: Decimal
    cumulative: Decimal


class Savings(BaseModel):
    """What was not paid: stored images reused on a resume, and other cache hits."""

    total: Decimal
    resumed_images: int
    saved_by_resumes: Decimal
    cache_hits: int
    saved_by_cache: Decimal


class CostReport(BaseModel):
    job_id: str
    song_id: str | None
    budget: Decimal
    total: Decimal
    """Every entry below: the job's calls and its song's consistency job."""
    job_spent: Decimal
    """The job's own spend as its budget sees it (the song's calls are outside the job's budget)."""
    remaining: Decimal
    images: int
    """Images stored: every reference version and every generated character image."""
    cost_per_image: Decimal | None
    by_stage_provider: list[StageProviderCost]
    cumulative: list[SpendPoint]
    savings: Savings
    entries: list[CostEntry]


class JobCost(BaseModel):
    job_id: str
    status: str
    budget: Decimal
    spent: Decimal
    created_at: datetime


def _by_stage_provider(entries: list[CostEntry]) -> list[StageProviderCost]:
    groups: dict[tuple[str, str], list[CostEntry]] = defaultdict(list)
    for entry in entries:
        if not entry.cache_hit or entry.amount:
            groups[(entry.stage, entry.provider)].append(entry)
    return [
        StageProviderCost(
            stage=stage, provider=provider, calls=len(group), amount=sum((e.amount for e in group), ZERO)
        )
        for (stage, provider), group in sorted(groups.items())
    ]


def _cumulative(entries: list[CostEntry]) -> list[SpendPoint]:
    points = []
    running = ZERO
    for entry in sorted(entries, key=lambda e: e.created_at):
        running += entry.amount
        points.append(SpendPoint(at=entry.created_at, amount=entry.amount, cumulative=running))
    return points


def _savings(entries: list[CostEntry]) -> Savings:
    resumes = [e for e in entries if e.cache_hit and e.stage == "generation"]
    cached = [e for e in entries if e.cache_hit and e.stage != "generation"]
    by_resumes = sum((e.saved for e in resumes), ZERO)
    by_cache = sum((e.saved for e in cached), ZERO)
    return Savings(
        total=by_resumes + by_cache,
        resumed_images=len(resumes),
        saved_by_resumes=by_resumes,
        cache_hits=len(cached),
        saved_by_cache=by_cache,
    )


def cost_report(services: Services, job_id: str) -> CostReport:
    """The job's ledger and its linked song's, with totals against the budget and the summaries."""
    found = services.records.ledger.job_report(job_id)
    if found is None:
        raise NotFound(f"job {job_id}")
    job, ledger, versions, generated = found
    entries = [CostEntry.model_validate(asdict(entry)) for entry in ledger]
    budget = from_nanos(job.budget_nanos) or budget_for(services.settings, job.duration_seconds)
    job_spent = from_nanos(job.spent_nanos)
    song_id = job.song_id
    total = sum((e.amount for e in entries), ZERO)
    images = versions + generated
    return CostReport(
        job_id=job_id,
        song_id=song_id,
        budget=budget,
        total=total,
        job_spent=job_spent,
        remaining=budget - job_spent,
        images=images,
        cost_per_image=(total / images).quantize(Decimal("0.000000001")) if images else None,
        by_stage_provider=_by_stage_provider(entries),
        cumulative=_cumulative(entries),
        savings=_savings(entries),
        entries=entries,
    )


def job_costs(services: Services, limit: int = 50) -> list[JobCost]:
    """The newest jobs with their spend against their budget, for the per-job overview."""
    return [
        JobCost(
            job_id=job.id,
            status=job.status,
            budget=from_nanos(job.budget_nanos) or budget_for(services.settings, job.duration_seconds),
            spent=from_nanos(job.spent_nanos),
            created_at=job.created_at,
        )
        for job in services.records.jobs.recent(limit)
    ]


class SongCost(BaseModel):
    """A song's own spend (its character: consistency, interrogation, looks) beside the jobs that used it."""

    song_id: str
    by_stage: dict[str, Decimal]
    character: Decimal
    jobs: list[JobCost]
    jobs_spent: Decimal

    @property
    def total(self) -> Decimal:
        return self.character + self.jobs_spent


def song_costs(services: Services, limit: int = 50) -> list[SongCost]:
    """Every song that spent something or whose character a job used, newest job first."""
    spend = services.records.ledger.song_spend()
    by_song: dict[str, list[JobCost]] = defaultdict(list)
    jobs = {job.id: job for job in services.records.jobs.recent(limit)}
    for cost in job_costs(services, limit):
        song_id = jobs[cost.job_id].song_id
        if song_id is not None:
            by_song[song_id].append(cost)
    songs = sorted({*spend, *by_song})
    return [
        SongCost(
            song_id=song_id,
            by_stage=spend.get(song_id, {}),
            character=sum(spend.get(song_id, {}).values(), ZERO),
            jobs=by_song.get(song_id, []),
            jobs_spent=sum((job.spent for job in by_song.get(song_id, [])), ZERO),
        )
        for song_id in songs
    ]


def entries_csv(report: CostReport) -> str:
    """The report's ledger rows as CSV, amounts as plain decimals with every digit (`0.0105`, not `0E-9`)."""
    buffer = io.StringIO()
    fields = list(CostEntry.model_fields)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for entry in report.entries:
        row = entry.model_dump(mode="json")
        row.update({name: plain_decimal(value) for name, value in entry if isinstance(value, Decimal)})
        writer.writerow(row)
    return buffer.getvalue()


def units_words(units: Decimal, unit_name: str) -> str:
    """`1 image`, `0 images`, `2.34 seconds`: what a call was charged for, plurals right."""
    return f"{plain_decimal(units)} {unit_name if units == 1 else unit_name + 's'}"
