"""Progress events of a job, in the seed's vocabulary: each emitted once, then recorded (so every browser
tab and a follower process see the run), handed to the caller, and logged (logging subscribes to events)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from studio.logs import log_step
from studio.records import Records
from studio.records.database import Op, after_commit

log = logging.getLogger("studio.events")
pipeline_log = logging.getLogger("studio.references")

EventType = Literal[
    "stage_update",
    "reference_generation_start",
    "reference_generation_complete",
    "reference_generation_failed",
    "reference_generation_retry",
    "reference_generation_waiting",
]
FailureReason = Literal[
    "no_scenes_or_characters",
    "budget_exceeded",
    "unexpected_error",
    "no_generation_results",
    "threshold_not_met",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a job, as handlers and the log see it (made per image: kept light)."""

    type: EventType
    job_id: str
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


EventHandler = Callable[[Event], None]


_STAGE_MESSAGES = {
    "completed": "reference generation finished",
    "cancelled": "reference generation cancelled by request; stored images kept",
    "failed": "reference generation fell back to text-only",
}


def log_event(event: Event) -> None:
    """The log line of an event: one structured step line, a warning for failures and retries."""
    data = event.data
    fields: dict[str, Any] = {"job_id": event.job_id, "reference": data.get("ref")}
    if event.type == "stage_update":
        status = data.get("status")
        message = _STAGE_MESSAGES.get(str(status), f"reference generation {status}")
        level = logging.WARNING if status == "failed" else logging.INFO
        outcome = data.get("reason") if status == "failed" else data.get("result") or status
        log_step(pipeline_log, message, level=level, stage=data.get("stage"), outcome=outcome,
                 duration=data.get("wall_seconds"), stored=data.get("stored"), total=data.get("total_images"),
                 **fields)  # fmt: skip
    elif event.type == "reference_generation_complete":
        outcome = "reused" if data.get("reused") else "stored"
        message = "reference reused" if data.get("reused") else "reference generated"
        log_step(pipeline_log, message, stage="generation", outcome=outcome,
                 attempt=data.get("attempts"), duration=data.get("generation_time"), cost=data.get("cost"),
                 **fields)  # fmt: skip
    elif event.type == "reference_generation_failed":
        log_step(pipeline_log, "reference failed", level=logging.WARNING, stage="generation",
                 outcome=data.get("reason"), attempt=data.get("attempts"), error=data.get("error"),
                 **fields)  # fmt: skip
    elif event.type == "reference_generation_retry":
        log_step(pipeline_log, "reference retry", level=logging.WARNING, stage="generation",
                 outcome=data.get("reason"), attempt=data.get("attempt"), wait=data.get("wait_seconds"),
                 **fields)  # fmt: skip
    elif event.type == "reference_generation_waiting":
        log_step(pipeline_log, "waiting for the provider's rate limit", stage="generation",
                 outcome="rate_limited", wait=data.get("wait_seconds"), **fields)  # fmt: skip


class EventSink:
    """Emits a job's events: recorded (in the transaction of the change they report, or in one of their own),
    then handed to the caller's handler and to the log once recorded, on the job's event loop: handlers see
    events in the order they are recorded, which is what every other tab and a follower read. A failing
    handler never stops a job."""

    def __init__(self, records: Records, job_id: str, handler: EventHandler | None) -> None:
        self.records = records
        self.job_id = job_id
        self.handler = handler
        self.loop = asyncio.get_running_loop()

    def __call__(self, type_: EventType, **data: Any) -> Event:
        """Emit an event that is recorded on its own."""
        self.records.db.post(self.recorded(type_, **data))
        return Event(type=type_, job_id=self.job_id, data=data)

    def recorded(self, type_: EventType, **data: Any) -> Op[None]:
        """An event, as the op that records it in the caller's transaction (with the change it reports); it is
        told when that transaction commits, and never when it does not (the change was refused)."""
        event = Event(type=type_, job_id=self.job_id, data=data)
        add = self.records.events.add_op(self.job_id, [(type_, data)])

        def op(s: Session) -> None:
            add(s)
            after_commit(s, lambda: self._tell_soon(event))

        return op

    def _tell_soon(self, event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the run is over, nobody listens
            self.loop.call_soon_threadsafe(self._tell, event)

    def _tell(self, event: Event) -> None:
        type_ = event.type
        for subscriber in (self.handler, log_event):
            if subscriber is None:
                continue
            try:
                subscriber(event)
            except Exception:
                log.exception("event handler failed on %s for job %s", type_, self.job_id)
