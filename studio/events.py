"""Progress events of a job, in the seed's vocabulary, persisted so every browser tab sees the same run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from studio.records import Records

log = logging.getLogger("studio.events")

EventType = Literal[
    "stage_update",
    "reference_generation_start",
    "reference_generation_complete",
    "reference_generation_failed",
    "reference_generation_retry",
]
FailureReason = Literal[
    "no_scenes_or_characters",
    "budget_exceeded",
    "unexpected_error",
    "no_generation_results",
    "threshold_not_met",
]


class Event(BaseModel):
    type: EventType
    job_id: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


EventHandler = Callable[[Event], None]


class EventSink:
    """Hands each event to the caller's handler at once and records them in batches (`flush`).

    A failing handler never stops a job. Batching keeps the records off the per-image hot path; the
    pipeline flushes a few times a second and at the end, so pages polling the records lag by that much.
    """

    def __init__(self, records: Records, job_id: str, handler: EventHandler | None) -> None:
        self.records = records
        self.job_id = job_id
        self.handler = handler
        self._pending: list[tuple[str, dict[str, Any]]] = []

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self.records.add_events(self.job_id, pending)

    def __call__(self, type_: EventType, **data: Any) -> Event:
        event = Event(type=type_, job_id=self.job_id, data=data)
        self._pending.append((type_, data))
        if self.handler is not None:
            try:
                self.handler(event)
            except Exception:
                log.exception("event handler failed on %s for job %s", type_, self.job_id)
        return event
