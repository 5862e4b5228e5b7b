"""Fakes that are real implementations of the studio's bases, recording what they were asked (`history`)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from PIL import Image

from studio.errors import GenerationError
from studio.generation.base import (
    GeneratedImage,
    GenerationRequest,
    PredictionListener,
    WithoutPredictions,
)
from studio.services import Services

Outcome = GenerationError | BaseException | None


def tiny_png(colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class ScriptedGenerator(WithoutPredictions):
    """An ImageGenerator whose outcome per reference and attempt is scripted (None means success)."""

    cost: Decimal = Decimal("0.01")
    ceiling: Decimal | None = None
    latency: float = 0.0
    script: dict[str, list[Outcome]] = field(default_factory=dict)
    fail_when: Callable[[GenerationRequest], Outcome] | None = None
    name: str = "scripted"
    model_version: str = "scripted-1"
    history: list[GenerationRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    called: asyncio.Event = field(default_factory=asyncio.Event)

    def max_cost(self, request: GenerationRequest) -> Decimal:
        return self.ceiling if self.ceiling is not None else self.cost

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        return self.cost

    async def generate(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> GeneratedImage:
        self.history.append(request)
        self.called.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            planned = self.script.get(request.label)
            outcome = planned.pop(0) if planned else (self.fail_when(request) if self.fail_when else None)
            if outcome is not None:
                raise outcome
            return GeneratedImage(
                data=tiny_png(),
                content_type="image/png",
                provider=self.name,
                model=self.model_version,
                cost=self.cost,
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None

    def calls_for(self, ref: str) -> int:
        return sum(1 for request in self.history if request.label == ref)


def retryable(reason: str = "unavailable", retry_after: float | None = None) -> GenerationError:
    return GenerationError(f"scripted {reason}", retryable=True, retry_after=retry_after, reason=reason)


def fatal(reason: str = "invalid_input") -> GenerationError:
    return GenerationError(f"scripted {reason}", retryable=False, reason=reason)


class FailingPuts:
    """A Storage that stores nothing (`error` is raised by every put) and reads what `inner` holds."""

    def __init__(self, inner: object, error: Exception) -> None:
        self.inner = inner
        self.error = error
        self.name = getattr(inner, "name", "failing")

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        raise self.error

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def as_if_killed(services: Services, job_id: str) -> None:
    """Leave a finished job as a run killed after storing its images leaves it: no result handed over, so
    the next run resumes it (and what it reuses is a saving)."""
    from sqlalchemy import update

    from studio.records.schema import JobRow

    with services.records.db.write() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id).values(result_json=None))
