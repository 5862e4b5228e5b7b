"""What every image generator takes and gives back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from studio.generation.pace import Pace

ImageKind = Literal["scene", "character"]
DEFAULT_STRENGTH = 0.8
"""How far img2img may move away from an init image when a request does not say (1.0 ignores it)."""
PredictionListener = Callable[[str], None]
"""Told a paid call's prediction id the moment the provider gives it while the call is still running, so it
is recorded before the result (a call that ended at once reports its id with its result)."""


@dataclass(frozen=True)
class ReferenceImage:
    """An image a model is conditioned on: bytes, and a URL the provider can fetch if storage gave one."""

    data: bytes
    url: str | None = None
    name: str = ""
    """What it is, for provenance: `look:r1-2`, `pose-a`, `pose-b`."""


@dataclass(frozen=True)
class GenerationRequest:
    """One image to make. `subject` and `palette` let an offline renderer draw something recognisable."""

    prompt: str
    negative_prompt: str
    seed: int
    kind: ImageKind
    subject: str
    palette: tuple[str, ...] = ()
    width: int = 1024
    height: int = 1024
    steps: int = 30
    guidance_scale: float = 7.5
    scheduler: str = "K_EULER"
    init_image: bytes | None = None
    """An image to condition on (the consistency job's reference), where the backend accepts one."""
    strength: float | None = None
    """With `init_image`: how far the image may move away from it, 0 (keep it) to 1 (ignore it);
    None is DEFAULT_STRENGTH."""
    label: str = ""
    """Who asked, for logs and the test servers: `scene_rooftop`, `song:abc`."""
    model: str = "sdxl"
    """The catalogued model (studio.generation.models) to make it with; scenes always use SDXL."""
    references: tuple[ReferenceImage, ...] = ()
    """A reference-conditioned model's images (the character to keep), in the order sent."""


@dataclass(frozen=True)
class GeneratedImage:
    """An image as the provider returned it, with what producing it cost."""

    data: bytes
    content_type: str
    provider: str
    model: str
    cost: Decimal
    units: Decimal = Decimal("0")
    """Billed units (seconds of predict time, or images); zero for a free call."""
    unit_price: Decimal = Decimal("0")
    prediction_id: str | None = None
    unit_name: str = ""
    """`second` or `image`; empty: by `units` (seconds when there are any)."""
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settled:
    """A call the provider has finished and charged for: what it cost, and how to fetch its image."""

    provider: str
    model: str
    cost: Decimal
    fetch: Callable[[], Awaitable[GeneratedImage]]
    units: Decimal = Decimal("0")
    unit_price: Decimal = Decimal("0")
    prediction_id: str | None = None
    unit_name: str = ""
    """`second` or `image`; empty: by `units` (seconds when there are any)."""

    @classmethod
    def of(cls, image: GeneratedImage) -> Settled:
        """An image that came with its call (nothing left to fetch)."""

        async def fetch() -> GeneratedImage:
            return image

        return cls(
            image.provider, image.model, image.cost, fetch, image.units, image.unit_price,
            image.prediction_id, image.unit_name,
        )  # fmt: skip


@runtime_checkable
class ImageGenerator(Protocol):
    """A text-to-image backend. Raises GenerationError, classified retryable or not."""

    name: str
    """`local`, `replicate`, ... as chosen by the image provider setting."""
    model_version: str
    """What is written into each PNG's `Model:` field and the job metadata."""
    pace: Pace | None
    """The provider account's pace its calls go at (studio.generation.pace); None when nothing limits them."""

    def max_cost(self, request: GenerationRequest) -> Decimal:
        """The most one call can cost: reserved against the budget before the call."""
        ...

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        """What one call usually costs, for estimates shown before a job starts."""
        ...

    async def predict(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> Settled:
        """Have the provider make one image and charge for it; raise GenerationError on failure. Fetching the
        image (`Settled.fetch`) needs no slot of the provider's. Cancelling the caller abandons the call: the
        provider finishes it, and whoever runs the work next adopts it."""
        ...

    async def adopt(self, prediction_id: str, request: GenerationRequest) -> Settled:
        """Wait for a prediction another process started for `request`, as `predict` would."""
        ...

    async def generate(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> GeneratedImage:
        """`predict`, then fetch the image."""
        ...

    async def find(self, request: GenerationRequest, since: datetime) -> list[str]:
        """Ids of predictions made for exactly `request` since `since`, oldest first (for adoption)."""
        ...

    async def cancel(self, prediction_id: str) -> None:
        """Ask the provider to stop a prediction (a cancelled job); errors are ignored."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class WithoutPredictions:
    """For generators whose calls have no provider-side life of their own (offline renderers, fakes): the
    image is made by `generate` and comes with the call; nothing is left running to adopt, find or cancel."""

    pace: Pace | None = None

    async def generate(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> GeneratedImage:
        raise NotImplementedError

    async def predict(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> Settled:
        return Settled.of(await self.generate(request, on_prediction))

    async def adopt(self, prediction_id: str, request: GenerationRequest) -> Settled:
        from studio.errors import GenerationError

        raise GenerationError(
            f"prediction {prediction_id} cannot be adopted: this generator makes no predictions",
            retryable=True,
            reason="not_adoptable",
        )

    async def find(self, request: GenerationRequest, since: datetime) -> list[str]:
        return []

    async def cancel(self, prediction_id: str) -> None:
        return None
