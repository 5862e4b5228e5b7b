"""The output of reference generation, in the seed's shape (`ReferenceImages`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class ReferenceImage(BaseModel):
    scene_id: str | None = None
    character_id: str | None = None
    image_url: str
    prompt_used: str
    generation_time: float
    cost: Decimal
    negative_prompt: str = ""
    seed: int | None = None
    storage_key: str = ""
    reused: bool = False
    """True when a stored image with identical parameters was reused at no cost."""


class ReferenceMetadata(BaseModel):
    model_version: str
    dimensions: str = "1024x1024"
    format: Literal["PNG"] = "PNG"
    environment: str
    provider: str = ""


class ReferenceImages(BaseModel):
    job_id: str
    scene_references: list[ReferenceImage] = Field(default_factory=list)
    character_references: list[ReferenceImage] = Field(default_factory=list)
    total_references: int = 0
    total_generation_time: float = 0.0
    """Wall-clock seconds of the whole run, not the sum of per-image times."""
    total_cost: Decimal = Decimal("0")
    rate_limit_wait_seconds: float = 0.0
    """Wall-clock seconds during which images waited for the provider's rate limit."""
    status: Literal["success", "partial", "failed"]
    metadata: ReferenceMetadata


def run_summary(result: ReferenceImages) -> str:
    """What a run did, in the words a creator reads: `4 generated · 2 reused · $0.02 this run`."""
    from studio.money import usd

    references = [*result.scene_references, *result.character_references]
    reused = sum(1 for reference in references if reference.reused)
    summary = f"{len(references) - reused} generated · {reused} reused · {usd(result.total_cost)} this run"
    if result.rate_limit_wait_seconds >= 0.1:
        summary += f" · waited {result.rate_limit_wait_seconds:.1f} s for the provider's rate limit"
    return summary
