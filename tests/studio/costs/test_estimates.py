"""Estimates come from what the model's images cost recently, the generator's own estimate until then."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from benchmarks.plans import synthetic_plan
from studio.characters import looks
from studio.characters.songs import create_song
from studio.generation.base import GenerationRequest
from studio.references import jobs
from studio.services import Services
from studio.work.runner import drain
from tests.fakes import ScriptedGenerator


@dataclasses.dataclass
class PricedLikeSdxl(ScriptedGenerator):
    """Images cost $0.0024 while the generator's own estimate is the seed's $0.005."""

    cost: Decimal = Decimal("0.0024")

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal("0.005")


def test_the_estimate_follows_what_images_actually_cost(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=PricedLikeSdxl())
    first, second = synthetic_plan(4, seed=1), synthetic_plan(10, seed=2)
    before = jobs.estimate_cost(scripted, second, None)
    assert before.cost == Decimal("0.05"), "no history yet: the seed's $0.005 an image"
    jobs.submit(scripted, first)
    asyncio.run(drain(scripted))
    after = jobs.estimate_cost(scripted, second, None)
    assert after.to_pay == 10 and after.cost == Decimal("0.024"), "ten images at what four just cost"


def test_a_round_of_looks_is_estimated_at_the_same_price(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=PricedLikeSdxl())
    jobs.submit(scripted, synthetic_plan(2, seed=3))
    asyncio.run(drain(scripted))
    create_song(scripted, "priced")
    scripted.records.songs.update_song("priced", character_reference_key="songs/priced/character_pose_a.png")
    estimate = looks.estimate(scripted, "priced", looks.LooksRequest(count=4, prompt="a test look"))
    assert estimate.per_look == Decimal("0.0024") and estimate.total == Decimal("0.0096")
