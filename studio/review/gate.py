"""The review gate: reviewers approve or reject reference versions before clip generation may use them.

Decisions are an append-only audit trail on versions; a reference's status is the latest decision on its
latest version, so a regeneration is pending again while the earlier decisions stay on record.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel

from studio.access.roles import MAX_AUDIT_CHARS, Actor, local_operator, require
from studio.errors import InvalidInput, NotFound
from studio.inputs.text_and_numbers import check_text
from studio.logs import log_step
from studio.money import from_nanos
from studio.plans.scene_plan import ScenePlan
from studio.records.jobs import ACTIVE, Job
from studio.records.reviews import Decision, ReviewRow, ReviewStatus
from studio.records.schema import ReferenceRow, ReferenceVersionRow
from studio.references.gallery import stored_content
from studio.services import Services
from studio.storage.keys import ReferenceKind, parse_reference_name, reference_name

BoardFilter = Literal["all", "pending", "rejected", "failed", "approved"]
"""What the board shows; `failed` is every reference whose last generation attempt failed."""
BOARD_FILTERS: tuple[BoardFilter, ...] = get_args(BoardFilter)
MAX_REASON_CHARS = 500
MAX_REVIEWER_CHARS = MAX_AUDIT_CHARS
log = logging.getLogger("studio.review")


class ReviewDecision(BaseModel):
    job_id: str
    ref: str
    version: int
    decision: Decision
    reason: str | None
    reviewer: str
    channel: str | None = None
    """How it arrived: `page`, `cli` (the reviewer is then the local operator's label, not a signed-in
    identity) or `api` (the reviewer is `key:<name>`, or the local operator in local mode)."""
    created_at: datetime

    @property
    def via(self) -> str:
        """How the decision arrived, in words: never shows a typed CLI name as a signed-in reviewer."""
        if self.channel == "cli":
            return "command line: the local operator's label, not a signed-in identity"
        if self.channel == "api":
            return "API key" if self.reviewer.startswith("key:") else "API, as the local operator"
        if self.channel == "page":
            return "page"
        return "not recorded (before channels were)"


class ReferenceVersion(BaseModel):
    version: int
    prompt: str
    negative_prompt: str
    seed: int
    parameters: dict[str, Any]
    params_hash: str = ""
    storage_key: str
    provider: str
    model_version: str
    cost: Decimal
    note: str | None
    created_at: datetime
    status: ReviewStatus
    """The latest decision on this version, or pending."""
    decisions: list[ReviewDecision]

    @property
    def content_id(self) -> str:
        """Changes whenever this version's image does (for the thumbnail cache, made as it is stored)."""
        return stored_content(self.params_hash, self.version)


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
    error: str | None = None
    """The full error of the last generation attempt, when it failed or was cancelled."""
    failure_reason: str | None = None
    """Why the last attempt failed, as a word (content_policy, timeout, budget_exceeded, ...)."""
    attempts: int = 0
    description: str = ""
    """The scene's or the character's description in the plan: what the image should show."""

    @property
    def failed(self) -> bool:
        return self.generation == "failed"

    @property
    def latest(self) -> ReferenceVersion | None:
        return self.versions[-1] if self.versions else None

    def shown_in(self, board_filter: BoardFilter) -> bool:
        if board_filter == "failed":
            return self.failed
        return board_filter == "all" or self.status == board_filter


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
        return {r.ref: r.status for r in self.references if r.status != ReviewStatus.APPROVED}

    @property
    def pending(self) -> list[str]:
        return [r.ref for r in self.references if r.status == ReviewStatus.PENDING]

    def matching(self, board_filter: BoardFilter) -> list[ReferenceReview]:
        if board_filter not in BOARD_FILTERS:
            raise InvalidInput("filter", f"{board_filter!r} is not one of {', '.join(BOARD_FILTERS)}")
        return [r for r in self.references if r.shown_in(board_filter)]

    def counts(self) -> dict[BoardFilter, int]:
        return {name: len(self.matching(name)) for name in BOARD_FILTERS}

    def step(self, ref: str, offset: int, board_filter: BoardFilter = "all") -> str | None:
        """The reference `offset` places from `ref` among those the filter shows, wrapping around.

        From a reference outside the filter: the next one inside it in plan order. None when none is shown.
        """
        shown = [r.ref for r in self.matching(board_filter)]
        if not shown:
            return None
        if ref in shown:
            return shown[(shown.index(ref) + offset) % len(shown)]
        order = [r.ref for r in self.references]
        after = order[order.index(ref) + 1 :] if ref in order else order
        return next((r for r in after if r in shown), shown[0])

    def next_pending(self, after: str) -> str:
        """The next pending reference after `after` in plan order, wrapping; `after` when none is left."""
        following = self.step(after, 1, "pending")
        return following if following is not None else after


def _job(services: Services, job_id: str) -> Job:
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
        params_hash=row.params_hash,
        storage_key=row.storage_key,
        provider=row.provider,
        model_version=row.model_version,
        cost=from_nanos(row.cost_nanos),
        note=row.note,
        created_at=row.created_at,
        status=ReviewStatus(mine[-1].decision) if mine else ReviewStatus.PENDING,
        decisions=mine,
    )


def _weakest(*statuses: ReviewStatus) -> ReviewStatus:
    order = (ReviewStatus.MISSING, ReviewStatus.REJECTED, ReviewStatus.PENDING)
    return next((status for status in order if status in statuses), ReviewStatus.APPROVED)


def _coverage(plan: ScenePlan, status: dict[str, ReviewStatus]) -> list[CoverageCell]:
    clips: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for clip in plan.clip_scripts:
        for scene_id in clip.scenes:
            for character_id in clip.characters:
                clips[(scene_id, character_id)].append(clip.clip_index)
    return [
        CoverageCell(
            scene_id=scene.id,
            character_id=character.id,
            status=_weakest(
                status[reference_name("scene", scene.id)],
                status[reference_name("character", character.id)],
            ),
            clips=clips[(scene.id, character.id)],
        )
        for scene in plan.scenes
        for character in plan.characters
    ]


def _reference(
    kind: ReferenceKind,
    subject_id: str,
    row: ReferenceRow | None,
    versions: list[ReferenceVersion],
    description: str = "",
) -> ReferenceReview:
    generation = row.status if row is not None else "not started"
    return ReferenceReview(
        ref=reference_name(kind, subject_id),
        kind=kind,
        subject_id=subject_id,
        status=versions[-1].status if versions else ReviewStatus.MISSING,
        version=versions[-1].version if versions else None,
        versions=versions,
        generation=generation,
        error=row.error if row is not None and generation in ("failed", "cancelled") else None,
        failure_reason=row.failure_reason if row is not None and generation == "failed" else None,
        attempts=row.attempts if row is not None else 0,
        description=description,
    )


def review_board(services: Services, job_id: str) -> ReviewBoard:
    """Every reference the job's plan asks for, in plan order, with its versions, decisions and status.

    Four reads whatever the plan's size (job, references, versions, decisions), grouped here by reference.
    """
    job = _job(services, job_id)
    plan = ScenePlan.model_validate_json(job.plan_json)
    rows = services.records.references.of_job(job_id)
    decisions: defaultdict[str, list[ReviewDecision]] = defaultdict(list)
    for decision_row in services.records.reviews.decisions(job_id):
        decisions[decision_row.ref].append(_decision(decision_row))
    versions: defaultdict[str, list[ReferenceVersion]] = defaultdict(list)
    for version_row in services.records.references.versions(job_id):
        versions[version_row.ref].append(_version(version_row, decisions[version_row.ref]))
    subjects: list[tuple[ReferenceKind, str, str]] = [("scene", s.id, s.description) for s in plan.scenes]
    subjects += [("character", c.id, c.description) for c in plan.characters]
    references = [
        _reference(kind, subject_id, rows.get(ref), versions[ref], description)
        for kind, subject_id, description in subjects
        for ref in [reference_name(kind, subject_id)]
    ]
    status = {r.ref: r.status for r in references}
    return ReviewBoard(
        job_id=job_id,
        song_id=job.song_id,
        job_status=job.status,
        references=references,
        coverage=_coverage(plan, status),
    )


def board_fingerprint(services: Services, job_id: str, *, decisions: bool = True) -> str:
    """Changes when anything the board shows does (job status, a reference's generation or version, and
    a review decision), so a page can poll it cheaply and redraw only then.

    Without `decisions` (a lightbox is open) only a new version and the job's end count: each redraw behind
    an open dialog is a moment in which the reviewer's Esc can be lost, so there are as few as can be.
    """
    job = _job(services, job_id)
    rows = services.records.references.of_job(job_id).values()
    if not decisions:
        versions = [(r.ref, r.version) for r in rows]
        return hashlib.sha256(repr([job.status in ACTIVE, versions]).encode()).hexdigest()[:16]
    made = services.records.reviews.decisions(job_id)
    state: list[object] = [job.status, job.cancel_requested, len(made), made[-1].id if made else 0]
    state += [(r.ref, r.status, r.version, r.params_hash, r.attempts) for r in rows]
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def _reviewed(board: ReviewBoard, ref: str) -> ReferenceReview:
    parse_reference_name(ref)
    reference = board.reference(ref)
    if reference.version is None:
        raise InvalidInput("reference", f"{ref} has no stored image to review yet ({reference.generation})")
    return reference


def _reviewer(reviewer: str | None, actor: Actor | None) -> Actor:
    """Who the audit trail records: the signed-in actor (never a typed name), else the local operator named
    `reviewer` (the CLI); AccessDenied unless they are a reviewer."""
    if actor is not None and reviewer is not None:
        raise InvalidInput("reviewer", "a signed-in reviewer is recorded by their identity, not a typed name")
    return require(actor if actor is not None else local_operator(reviewer), "review")


def _intact(services: Services, versions: dict[str, ReferenceVersion]) -> None:
    """Nobody approves, rejects or exports an image that is missing or changed since it was stored."""
    from studio.storage.intact import require_references_intact

    require_references_intact(services, {ref: (v.storage_key, v.version) for ref, v in versions.items()})


def record_decision(
    services: Services,
    job_id: str,
    ref: str,
    decision: Decision,
    reason: str | None = None,
    reviewer: str | None = None,
    version: int | None = None,
    *,
    actor: Actor | None = None,
) -> ReviewDecision:
    """Add a decision on `version` (default: the latest) of a reference; a rejection needs a reason.

    Only reviewers decide: `actor` is the signed-in identity; without one, the local operator `reviewer`."""
    if decision not in tuple(Decision):
        raise InvalidInput("decision", f"{decision!r} is not approved or rejected")
    reason = " ".join(reason.split()) if reason is not None else None
    if decision == Decision.REJECTED and not reason:
        raise InvalidInput("reason", "a rejection needs a reason (what is wrong with the image)")
    if reason is not None:
        check_text("reason", reason, MAX_REASON_CHARS)
    acting = _reviewer(reviewer, actor)
    name = acting.who
    reference = _reviewed(review_board(services, job_id), ref)
    target = reference.version if version is None else version
    chosen = next((v for v in reference.versions if v.version == target), None)
    if chosen is None:
        raise InvalidInput("version", f"{ref} has no version {target}")
    _intact(services, {ref: chosen})
    row = services.records.reviews.add(
        job_id, ref, chosen.version, decision, reason or None, name, acting.channel
    )
    log_step(log, "review decision", job_id=job_id, reference=ref, outcome=decision, reviewer=name)
    return _decision(row)


def approve(
    services: Services,
    job_id: str,
    ref: str,
    reviewer: str | None = None,
    version: int | None = None,
    *,
    actor: Actor | None = None,
) -> ReviewDecision:
    return record_decision(services, job_id, ref, Decision.APPROVED, None, reviewer, version, actor=actor)


def reject(
    services: Services,
    job_id: str,
    ref: str,
    reason: str,
    reviewer: str | None = None,
    version: int | None = None,
    *,
    actor: Actor | None = None,
) -> ReviewDecision:
    return record_decision(services, job_id, ref, Decision.REJECTED, reason, reviewer, version, actor=actor)


def approve_many(
    services: Services,
    job_id: str,
    refs: list[str],
    reviewer: str | None = None,
    *,
    actor: Actor | None = None,
) -> list[ReviewDecision]:
    """Approve the latest version of each of `refs` (the board's approve-selected), reading the board once;
    when any of them cannot be approved, nothing is written."""
    acting = _reviewer(reviewer, actor)
    name = acting.who
    board = review_board(services, job_id)
    targets = [(ref, _reviewed(board, ref).version) for ref in refs]
    _intact(services, {ref: board.reference(ref).versions[-1] for ref in refs})
    decisions = [(ref, version, Decision.APPROVED, None) for ref, version in targets if version is not None]
    rows = services.records.reviews.add_many(job_id, decisions, name, acting.channel)
    log_step(
        log,
        "review decisions",
        job_id=job_id,
        reference=",".join(refs),
        outcome=Decision.APPROVED,
        reviewer=name,
    )
    return [_decision(row) for row in rows]
