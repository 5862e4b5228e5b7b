"""Reference generation for a scene plan: the run of a job (`run.py`), one reference (`task.py`), its budget
(`budget.py`) and the outcome (`result.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from studio.pipeline.result import partial_success

if TYPE_CHECKING:
    from studio.events import EventHandler
    from studio.plan import ScenePlan
    from studio.planning import ReferenceOverride
    from studio.references import ReferenceImages
    from studio.services import Services

__all__ = ["generate_references", "partial_success"]


async def generate_references(
    services: Services,
    job_id: str | UUID,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    on_event: EventHandler | None = None,
    *,
    concurrency: int | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
    song_id: str | None = None,
) -> ReferenceImages | None:
    """Generate, or resume, a plan's references (studio.jobs.generate); None when the partial-success
    rule fails: clip generation then falls back to text-only prompts."""
    from studio.errors import InvalidInput
    from studio.jobs import generate

    if str(job_id) != str(plan.job_id):
        raise InvalidInput("job_id", f"{job_id} does not match the plan's job_id {plan.job_id}")
    generated = await generate(
        services,
        plan,
        duration_seconds,
        on_event,
        concurrency=concurrency,
        overrides=overrides,
        song_id=song_id,
    )
    return generated.result
