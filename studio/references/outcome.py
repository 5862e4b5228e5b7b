"""What a run produced: per-reference outcomes, the seed's partial-success rule, the ReferenceImages."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from studio.records.references import ReferenceStatus
from studio.references.planning import PlannedReference
from studio.references.result import ReferenceImage, ReferenceImages, ReferenceMetadata
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET

CANCELLED_BY_YOU = "cancelled by you"
"""The error of every reference a cancel stopped: nothing about it failed."""


@dataclass
class Outcome:
    planned: PlannedReference
    status: ReferenceStatus
    generation_time: float = 0.0
    cost: Decimal = Decimal("0")
    reused: bool = False
    error: str | None = None
    budget_refused: bool = False


def partial_success(outcomes: list[Outcome]) -> bool:
    """The seed's rule: at least half the images, at least one scene and at least one character."""
    stored = [o for o in outcomes if o.status == ReferenceStatus.STORED]
    return (
        bool(outcomes)
        and len(stored) * 2 >= len(outcomes)
        and any(o.planned.kind == "scene" for o in stored)
        and any(o.planned.kind == "character" for o in stored)
    )


def build_result(
    services: Services, job_id: str, outcomes: list[Outcome], wall: float, waited: float = 0.0
) -> ReferenceImages:
    settings = services.settings
    scenes: list[ReferenceImage] = []
    characters: list[ReferenceImage] = []
    for outcome in outcomes:
        if outcome.status != ReferenceStatus.STORED:
            continue
        request = outcome.planned.request
        image = ReferenceImage(
            scene_id=outcome.planned.subject_id if outcome.planned.kind == "scene" else None,
            character_id=outcome.planned.subject_id if outcome.planned.kind == "character" else None,
            image_url=services.storage.signed_url(
                REFERENCE_BUCKET, outcome.planned.storage_key, settings.signed_url_ttl
            ),
            prompt_used=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            generation_time=round(outcome.generation_time, 4),
            cost=outcome.cost,
            storage_key=outcome.planned.storage_key,
            reused=outcome.reused,
        )
        (scenes if outcome.planned.kind == "scene" else characters).append(image)
    return ReferenceImages(
        job_id=job_id,
        scene_references=scenes,
        character_references=characters,
        total_references=len(scenes) + len(characters),
        total_generation_time=round(wall, 4),
        total_cost=sum((o.cost for o in outcomes), Decimal("0")),
        rate_limit_wait_seconds=round(waited, 3),
        status="success" if len(scenes) + len(characters) == len(outcomes) else "partial",
        metadata=ReferenceMetadata(
            model_version=services.generator.model_version,
            environment=settings.environment,
            provider=services.generator.name,
        ),
    )


REASON_WORDS: dict[str, str] = {
    "no_scenes_or_characters": "the plan has no scenes or characters to draw",
    "budget_exceeded": "the job's budget ran out before enough images were made",
    "unexpected_error": "something unexpected went wrong (the log has the details)",
    "no_generation_results": "no image could be made",
    "threshold_not_met": (
        "too few images were made: clip generation needs at least half of them, with a scene and a character"
    ),
}
"""Why a job fell back to text-only prompts, in words (the seed's codes stay in events and JSON)."""


def reason_words(reason: str | None) -> str:
    return REASON_WORDS.get(reason or "", reason or "")


IMAGE_FAILURE_WORDS: dict[str, str] = {
    "budget_exceeded": "The job's budget ran out before this image could be paid for.",
    "timeout": "The provider took too long to draw it.",
    "network": "The provider could not be reached.",
    "connection": "The provider could not be reached.",
    "unavailable": "The provider was unavailable.",
    "rate_limited": "The provider kept asking the studio to slow down.",
    "invalid_input": "The provider refused the request as it was asked.",
    "refused": "The provider refused to draw it (often its safety filter): rephrase the prompt.",
    "content_policy": "The provider refused to draw it (often its safety filter): rephrase the prompt.",
    "prediction_failed": "The provider's model failed while drawing it.",
    "bad_output": "The provider answered with something that is not a usable image.",
    "invalid_answer": "The provider answered with something the studio could not read.",
    "download": "The image was made but could not be downloaded from the provider.",
    "unauthorized": "The provider refused the API token: check REPLICATE_API_TOKEN.",
    "canceled": "Cancelled before it was drawn.",
}
"""Why one image failed, in a creator's words; the provider's own message stays one click away."""


def image_failure_words(reason: str | None) -> str:
    return IMAGE_FAILURE_WORDS.get(reason or "", "The image could not be made.")
