"""Decisions a reviewer made on the board faster than the server answers, recorded in the order made.

The browser keeps every decision in an outbox until the server says it is recorded (or refused), and sends
the outbox again after a reload; each decision has an id, so one sent twice is recorded once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, Field

from studio.access.roles import Actor
from studio.errors import StudioError
from studio.records.reviews import Decision
from studio.review.gate import record_decision, review_board
from studio.services import Services

CLOCK_SKEW_SECONDS = 2.0
_job_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_guard = threading.Lock()


class KeyedDecision(BaseModel):
    """One decision as the board's outbox holds it."""

    id: str = Field(min_length=1, max_length=80)
    ref: str
    version: int
    decision: Literal["approve", "reject"]
    reason: str | None = None
    made_at: float | None = None
    """When the reviewer pressed the key (the browser's clock, seconds since the epoch)."""


class DecisionOutcome(BaseModel):
    id: str
    ref: str
    recorded: bool
    problem: str | None = None


def _already_recorded(services: Services, job_id: str, item: KeyedDecision) -> bool:
    """After a reload the ids recorded before are unknown: the same decision on the same version made since
    the key was pressed tells, or else the version's latest decision (the same decision twice in a row says
    nothing new)."""
    reference = review_board(services, job_id).reference(item.ref)
    version = next((v for v in reference.versions if v.version == item.version), None)
    if version is None or not version.decisions:
        return False
    wanted = Decision.APPROVED if item.decision == "approve" else Decision.REJECTED
    reason = " ".join(item.reason.split()) if item.reason else None
    same = [d for d in version.decisions if d.decision == wanted and d.reason == reason]
    if item.made_at is not None:
        return any(d.created_at.timestamp() >= item.made_at - CLOCK_SKEW_SECONDS for d in same)
    return version.decisions[-1] in same


def record_in_order(
    services: Services,
    job_id: str,
    outbox: list[KeyedDecision],
    settled: dict[str, DecisionOutcome],
    *,
    actor: Actor | None = None,
) -> list[DecisionOutcome]:
    """Record each decision of `outbox` not in `settled` yet, in order; `settled` gains each as it settles,
    and the new outcomes are returned.

    One job's outboxes are recorded one at a time: a page rerun that starts while the one before is still
    recording (and a second tab sending the same outbox) find what it recorded. A refused decision (a missing
    image, a version that is not there, no reason) does not stop the ones after it.
    """
    with _guard:
        lock = _job_locks[job_id]
    outcomes: list[DecisionOutcome] = []
    with lock:
        for item in outbox:
            if item.id in settled:
                continue
            outcome = _record(services, job_id, item, actor)
            settled[item.id] = outcome
            outcomes.append(outcome)
    return outcomes


def _record(services: Services, job_id: str, item: KeyedDecision, actor: Actor | None) -> DecisionOutcome:
    try:
        if not _already_recorded(services, job_id, item):
            decision = Decision.APPROVED if item.decision == "approve" else Decision.REJECTED
            version = item.version
            record_decision(services, job_id, item.ref, decision, item.reason, version=version, actor=actor)
    except StudioError as error:
        return DecisionOutcome(id=item.id, ref=item.ref, recorded=False, problem=str(error))
    return DecisionOutcome(id=item.id, ref=item.ref, recorded=True)
