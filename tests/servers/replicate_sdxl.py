"""The SDXL side of the Replicate test server: fault settings, bookkeeping records, outputs, input checks."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PIL import Image, ImageDraw

Output = Callable[[dict[str, Any]], Any]
SDXL_SCHEDULERS = {
    "DDIM",
    "DPMSolverMultistep",
    "HeunDiscrete",
    "KarrasDPM",
    "K_EULER_ANCESTRAL",
    "K_EULER",
    "PNDM",
}


@dataclass
class Faults:
    """What share of requests go wrong, and how. Draws depend only on (seed, input, attempt number)."""

    rate_limited: float = 0.0
    """Share of creates answered 429 with Retry-After."""
    unavailable: float = 0.0
    """Share of creates answered 503."""
    failed: float = 0.0
    """Share of predictions that end `failed` after running (their predict time is charged)."""
    hung: float = 0.0
    """Share of predictions that never finish until cancelled."""
    hang_when: Callable[[dict[str, Any]], bool] | None = None
    """Inputs whose predictions always hang, besides the `hung` share."""
    retry_after: float = 0.05
    per_request: int | None = None
    """At most this many faults per input (transient: a later attempt succeeds); None: no limit."""
    cost_reported_later: bool = False
    """A cancel's answer says `canceled` before the predict time is counted (as Replicate's often does): the
    metrics come with the next read."""
    seed: int = 0


@dataclass
class Throttle:
    """Account-wide limits on creating predictions, as Replicate's: at most `count` creates in any `period`
    seconds, for each (count, period) of `limits`; a create past one is answered 429 with when it resets."""

    limits: tuple[tuple[int, float], ...]
    retry_after_header: bool = True
    """False: the reset is only said in the answer's detail ("resets in ~Ns")."""

    @classmethod
    def per_second(cls, count: int) -> Throttle:
        return cls(((count, 1.0),))


@dataclass(frozen=True)
class Charge:
    prediction_id: str
    status: str
    predict_time: float
    cost: Decimal


@dataclass(frozen=True)
class CreateRequest:
    """A create as the server saw it, answered or refused."""

    version: str
    input: dict[str, Any]
    prefer: str | None
    answered: int


@dataclass
class Version:
    id: str
    model: str
    output: Output
    validate: Callable[[dict[str, Any]], list[str]] | None = None
    price_per_image: Decimal | None = None
    """Priced per image (a succeeded prediction costs this, a failed one nothing); None: per second."""


@dataclass
class Prediction:
    id: str
    version: Version
    input: dict[str, Any]
    created: float
    fate: str
    done_at: float
    cancelled_at: float | None = None
    output: Any = None
    settled: bool = False
    charge: Charge | None = None
    read_since_cancel: bool = False


def png_data_url(width: int, height: int, seed: int, prompt: str) -> str:
    """A small PNG whose colours follow the prompt and seed, so different requests give different images."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    image = Image.new("RGB", (width, height), tuple(digest[:3]))
    ImageDraw.Draw(image).rectangle((0, height // 2, width, height), fill=tuple(digest[3:6]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def sdxl_output(scale: float = 1.0) -> Output:
    """SDXL's output: `num_outputs` PNG data URLs of width x height, scaled down by `scale` to stay cheap."""

    def output(inputs: dict[str, Any]) -> list[str]:
        width = max(8, round(int(inputs.get("width", 1024)) * scale))
        height = max(8, round(int(inputs.get("height", 1024)) * scale))
        seed = int(inputs.get("seed") or 0)
        count = int(inputs.get("num_outputs", 1))
        return [png_data_url(width, height, seed + n, str(inputs.get("prompt", ""))) for n in range(count)]

    return output


def sdxl_problems(inputs: dict[str, Any]) -> list[str]:
    """The SDXL input schema's checks that matter here, in Replicate's `- input.field: problem` style."""
    problems: list[str] = []
    if not isinstance(inputs.get("prompt", ""), str):
        problems.append("input.prompt: Invalid type. Expected: string")
    bounds = {
        "width": (128, 2048),
        "height": (128, 2048),
        "num_outputs": (1, 4),
        "num_inference_steps": (1, 500),
    }
    for name, (low, high) in bounds.items():
        value = inputs.get(name)
        if value is not None and (not isinstance(value, int) or not low <= value <= high):
            problems.append(f"input.{name}: Must be an integer from {low} to {high}")
    guidance = inputs.get("guidance_scale")
    if guidance is not None and (not isinstance(guidance, int | float) or not 1 <= guidance <= 50):
        problems.append("input.guidance_scale: Must be a number from 1 to 50")
    strength = inputs.get("prompt_strength")
    if strength is not None and (not isinstance(strength, int | float) or not 0 <= strength <= 1):
        problems.append("input.prompt_strength: Must be a number from 0 to 1")
    if inputs.get("scheduler", "K_EULER") not in SDXL_SCHEDULERS:
        problems.append("input.scheduler: Must be one of " + ", ".join(sorted(SDXL_SCHEDULERS)))
    return problems
