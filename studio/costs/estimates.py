"""What an image will likely cost, for the estimates shown before anything is paid."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from decimal import Decimal

from studio.generation.base import GenerationRequest
from studio.generation.models import image_model
from studio.money import from_nanos
from studio.services import Services


def image_price(services: Services) -> Callable[[GenerationRequest], Decimal]:
    """The price of one image of the generator's model: the median of what its newest stored images cost
    (retries and all), else the generator's own estimate (the seed's $0.005 an image for SDXL). A model
    priced per image (a song's character model) costs its price."""
    generator = services.generator
    recent = services.records.references.recent_costs(generator.name, generator.model_version)
    if not recent:
        return generator.estimated_cost
    typical = from_nanos(int(statistics.median(recent)))

    def price(request: GenerationRequest) -> Decimal:
        if image_model(request.model).pricing == "per_image":
            return generator.estimated_cost(request)
        return typical

    return price
