"""The review gate: reviewers approve or reject reference versions before clip generation may use them.

Decisions are an append-only audit trail on versions; a reference's status is the latest decision on its
latest version, so a regeneration is pending again while the earlier decisions stay on record.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from studio import jobs, prompt_edits
from studio.characters.priority import CharacterImages, log_clip_choice, resolve
from studio.errors import InvalidInput, NotFound, StudioError
from studio.keys import REFERENCE_BUCKET, ReferenceKind, parse_reference_name, reference_name
from studio.money import from_nanos
from studio.plan import ScenePlan
from studio.planning import ReferenceOverride
from studio.prompts import count_tokens
from studio.prompts.synthesis import cut_to_limit
from studio.prompts.tokens import CLIP_USABLE_TOKENS
from studio.records.reviews import ReviewRow
from studio.records.schema import JobRow, ReferenceVersionRow
from studio.seeding import check_seed, reference_seed
from studio.services import Services
from studio.values import check_text

Decision = Literal["approved", "rejected"]
ReviewStatus = Literal["pending", "approved", "rejected", "missing"]
"""`missing`: the reference has no stored image yet, so there is nothing to review."""
MAX_REASON_CHARS = 500
MAX_REVIEWER_CHARS = 80


class NotApproved(StudioError):
    """The export was asked for while some references are not approved; `refs` maps each to its status."""

    def __init__(self, job_id: str, refs: dict[str, ReviewStatus]) -> None:
        listed = ", ".join(f"{ref} ({status})" for ref, status in refs.items())
        super().__init__(f"job {job_id}: not every reference is approved: {listed}")
        self.job_id = job_id
        self.refs = refs


class ReviewDecision(BaseModel):
    job_id: str
    ref: str
    version: int
    decision: Decision
    reason: str | None
    reviewer: str
    created_at: datetime


class ReferenceVersion(BaseModel):
    version: int
    prompt: str
    negative_prompt: str
    seed: int
    parameters: dict[str, Any]
    storage_key: str
    provider: str
    model_version: str
    cost: Decimal
    note: str | None
    created_at: datetime
    status: ReviewStatus
    """The latest decision on this version, or pending."""
    decisions: list[ReviewDecision]


class ReferenceReview(BaseModel):
    ref: str
    kind: ReferenceKind
    subject_id: str
    status: ReviewStatus
    version: int | None
    """The latest version, the one the status is about."""
    versions: list[ReferenceVersion]
    generation: str
    """Where generation of this reference stands (stored, queued, generating, failed, ...)."""


class CoverageCell(BaseModel):
    scene_id: str
    character_id: str
    status: ReviewStatus
    """The weakest of the two references' statuses: missing, then rejected, then pending."""
    clips: list[int]
    """The clips that put this character in this scene."""


class ReviewBoard(BaseModel):
    job_id: str
    song_id: str | None
    job_status: str
    references: list[ReferenceReview]
    coverage: list[CoverageCell]

    def reference(self, ref: str) -> ReferenceReview:
        for item in self.references:
            if item.ref == ref:
                return item
        raise InvalidInput("reference", f"{ref} is not a reference of job {self.job_id}")

    @property
    def unapproved(self) -> dict[str, ReviewStatus]:
        return {r.ref: r.status for r in self.references if r.status != "approved"}

    @property
    def pending(self) -> list[str]:
        return [r.ref for r in self.references if r.status == "pending"]


class ExportedReference(BaseModel):
    ref: str
    kind: ReferenceKind
    subject_id: str
    version: int
    url: str
    storage_key: str
    prompt: str
    negative_prompt: str
    seed: int
    model_version: str
    parameters: dict[str, Any]
    approved_by: str
    approved_at: datetime


class ExportManifest(BaseModel):
    """What clip generation needs: the approved version of every reference and the song's character."""

    job_id: str
    references: list[ExportedReference]
    character: CharacterImages | None


def default_reviewer() -> str:
    return os.environ.get("USER") or "anonymous"


def _job(services: Services, job_id: str) -> JobRow:
    job = services.records.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    return job


def _decision(row: ReviewRow) -> ReviewDecision:
    return ReviewDecision.model_validate(row, from_attributes=True)


def _version(row: ReferenceVersionRow, decisions: list[ReviewDecision]) -> ReferenceVersion:
    mine = [d for d in decisions if d.version == row.version]
    return ReferenceVersion(
        version=row.version,
        prompt=row.prompt,
        negative_prompt=row.negative_prompt,
        seed=row.seed,
        parameters=json.loads(row.parameters_json),
        storage_key=row.storage_key,
        provider=row.provider,
        model_version=row.model_version,
        cost=from_nanos(row.cost_nanos),
        note=row.note,
        created_at=row.created_at,
        status=mine[-1].decision if mine else "pending",
        decisions=mine,
    )


def _weakest(*statuses: ReviewStatus) -> ReviewStatus:
    order: tuple[ReviewStatus, ...] = ("missing", "rejected", "pending")
    return next((status for status in order if status in statuses), "approved")


def _coverage(plan: ScenePlan, status: dict[str, ReviewStatus]) -> list[CoverageCell]:
    cells = []
    for scene in plan.scenes:
        for character in plan.characters:
            clips = [
                clip.clip_index
                for clip in plan.clip_scripts
                if scene.id in clip.scenes and character.id in clip.characters
            ]
            cells.append(
                CoverageCell(
                    scene_id=scene.id,
                    character_id=character.id,
                    status=_weakest(
                        status[reference_name("scene", scene.id)],
                        status[reference_name("character", character.id)],
                    ),
                    clips=clips,
                )
            )
    return cells


def review_board(services: Services, job_id: str) -> ReviewBoard:
    """Every reference the job's plan asks for, in plan order, with its versions, decisions and status."""
    job = _job(services, job_id)
    plan = ScenePlan.model_validate_json(job.plan_json)
    rows = services.records.references.of_job(job_id)
    all_versions = services.records.references.versions(job_id)
    all_decisions = [_decision(r) for r in services.records.reviews.decisions(job_id)]
    subjects: list[tuple[ReferenceKind, str]] = [("scene", s.id) for s in plan.scenes]
    subjects += [("character", c.id) for c in plan.characters]
    references = []
    for kind, subject_id in subjects:
        ref = reference_name(kind, subject_id)
        decisions = [d for d in all_decisions if d.ref == ref]
        versions = [_version(v, decisions) for v in all_versions if v.ref == ref]
        row = rows.get(ref)
        references.append(
            ReferenceReview(
                ref=ref,
                kind=kind,
                subject_id=subject_id,
                status=versions[-1].status if versions else "missing",
                version=versions[-1].version if versions else None,
                versions=versions,
                generation=row.status if row is not None else "not started",
            )
        )
    status = {r.ref: r.status for r in references}
    return ReviewBoard(
        job_id=job_id,
        song_id=job.song_id,
        job_status=job.status,
        references=references,
        coverage=_coverage(plan, status),
    )


def _reviewed(board: ReviewBoard, ref: str) -> ReferenceReview:
    parse_reference_name(ref)
    reference = board.reference(ref)
    if reference.version is None:
        raise InvalidInput("reference", f"{ref} has no stored image to review yet ({reference.generation})")
    return reference


def _clean_reviewer(reviewer: str | None) -> str:
    name = " ".join((reviewer if reviewer is not None else default_reviewer()).split())
    if not name:
        raise InvalidInput("reviewer", "must not be empty")
    return check_text("reviewer", name, MAX_REVIEWER_CHARS)


def record_decision(
    services: Services,
    job_id: str,
    ref: str,
    decision: Decision,
    reason: str | None = None,
    reviewer: str | None = None,
    version: int | None = None,
) -> ReviewDecision:
    """Add a decision on `version` (default: the latest) of a reference; a rejection needs a reason."""
    if decision not in ("approved", "rejected"):
        raise InvalidInput("decision", f"{decision!r} is not approved or rejected")
    reason = " ".join(reason.split()) if reason is not None else None
    if decision == "rejected" and not reason:
        raise InvalidInput("reason", "a rejection needs a reason (what is wrong with the image)")
    if reason is not None:
        check_text("reason", reason, MAX_REASON_CHARS)
    name = _clean_reviewer(reviewer)
    reference = _reviewed(review_board(services, job_id), ref)
    target = reference.version if version is None else version
    if target not in {v.version for v in reference.versions}:
        raise InvalidInput("version", f"{ref} has no version {target}")
    row = services.records.reviews.add(job_id, ref, target, decision, reason or None, name)
    return _decision(row)


def approve(
    services: Services, job_id: str, ref: str, reviewer: str | None = None, version: int | None = None
) -> ReviewDecision:
    return record_decision(services, job_id, ref, "approved", None, reviewer, version)


def reject(
    services: Services,
    job_id: str,
    ref: str,
    reason: str,
    reviewer: str | None = None,
    version: int | None = None,
) -> ReviewDecision:
    return record_decision(services, job_id, ref, "rejected", reason, reviewer, version)


def prompt_note(reason: str) -> str:
    """A rejection reason as prompt words: sentence punctuation becomes SDXL's comma-separated clauses."""
    words = reason.replace("\n", " ")
    for mark in (";", ".", "!", "?", ":"):
        words = words.replace(mark, ",")
    clauses = [" ".join(c.split()) for c in words.split(",")]
    return ", ".join(c for c in clauses if c).lower()


def with_note(prompt: str, note: str) -> str:
    """The prompt with the note appended; moved up behind the subject when CLIP would cut it off the end."""
    appended = f"{prompt.rstrip(' ,')}, {note}"
    if count_tokens(appended) <= CLIP_USABLE_TOKENS:
        return cut_to_limit(appended)
    subject, _, rest = prompt.partition(", ")
    return cut_to_limit(", ".join(part for part in (subject, note, rest) if part))


def regenerate_rejected(
    services: Services,
    job_id: str,
    ref: str,
    *,
    note: str | None = None,
    seed: int | None = None,
) -> str:
    """Queue a new version of a rejected reference, its rejection reason turned into a prompt note.

    `note` replaces the words taken from the reason (a reviewer may rephrase a complaint as guidance);
    the seed changes (unless one is given or the creator locked it), so the new image really differs.
    The new prompt and seed also become the creator's prompt edits. Returns the job id.
    """
    job = _job(services, job_id)
    board = review_board(services, job_id)
    reference = _reviewed(board, ref)
    if reference.status != "rejected":
        raise InvalidInput("reference", f"{ref} is {reference.status}; only a rejected one is regenerated")
    latest = reference.versions[-1]
    reason = latest.decisions[-1].reason or ""
    words = prompt_note(note if note is not None else reason)
    if not words:
        raise InvalidInput("note", "must contain some words to add to the prompt")
    plan = ScenePlan.model_validate_json(job.plan_json)
    locked = prompt_edits.edits(services, job_id).get(ref, prompt_edits.PromptEdit()).seed_locked
    if seed is not None:
        check_seed(seed)
    elif locked:
        seed = latest.seed
    else:
        seed = reference_seed(job_id, f"{ref}_v{latest.version + 1}")
        if seed == latest.seed:
            seed = (seed + 1) % 2**32
    prompt = with_note(latest.prompt, words)
    overrides = jobs.job_overrides(services, job_id)
    earlier = overrides.get(ref, ReferenceOverride())
    overrides[ref] = ReferenceOverride(
        prompt=prompt,
        negative_prompt=earlier.negative_prompt,
        seed=seed,
        note=f"rejected v{latest.version}: {reason}",
    )
    # the creator's prompt edits follow, so a later "generate again" reproduces this version
    prompt_edits.edit_reference(services, plan, ref, prompt_edits.PromptChange(prompt=prompt, seed=seed))
    return jobs.submit(
        services,
        plan,
        job.duration_seconds,
        overrides,
        concurrency=job.concurrency,
        song_id=job.song_id,
    )


def export_manifest(services: Services, job_id: str) -> ExportManifest:
    """The approved version of every reference with fresh signed URLs; NotApproved while any is not."""
    board = review_board(services, job_id)
    if board.unapproved:
        raise NotApproved(job_id, board.unapproved)
    ttl = services.settings.signed_url_ttl
    exported = []
    for reference in board.references:
        version = reference.versions[-1]
        approval = version.decisions[-1]
        exported.append(
            ExportedReference(
                ref=reference.ref,
                kind=reference.kind,
                subject_id=reference.subject_id,
                version=version.version,
                url=services.storage.signed_url(REFERENCE_BUCKET, version.storage_key, ttl),
                storage_key=version.storage_key,
                prompt=version.prompt,
                negative_prompt=version.negative_prompt,
                seed=version.seed,
                model_version=version.model_version,
                parameters=version.parameters,
                approved_by=approval.reviewer,
                approved_at=approval.created_at,
            )
        )
    character = resolve(services, board.song_id) if board.song_id else None
    if character is not None:
        log_clip_choice(character, job_id)
    return ExportManifest(job_id=job_id, references=exported, character=character)
