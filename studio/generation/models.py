"""The image models the studio can ask for: how each is called, what it takes and answers, what it costs.

SDXL (a pinned version, img2img from one init image, priced per second of predict time) stays the scenes'
model and every song's default; reference-conditioned models (the model's own predictions endpoint, several
reference images as `image_input`, priced per image) are what a song may choose for its character.
Inputs follow each model's input schema on its Replicate API page.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from studio.errors import InvalidInput

SDXL = "sdxl"
NANO_BANANA_2 = "google/nano-banana-2"
DEFAULT_MODEL = SDXL
MAX_INLINE_BYTES = 1_000_000
"""Replicate takes data URLs only for files under 1 MB; larger ones go through its files API."""
PRICES_TAKEN_ON = "2026-11-21"


@dataclass(frozen=True)
class ImageModel:
    """One catalogued model."""

    name: str
    """What songs and the CLI call it: `sdxl`, `google/nano-banana-2`."""
    label: str
    endpoint: Literal["version", "model"]
    """`version`: a pinned version (the settings' SDXL one); `model`: the model's own predictions endpoint."""
    output: Literal["list", "uri"]
    pricing: Literal["per_second", "per_image"]
    price_per_image: Decimal = Decimal("0")
    strength: bool = False
    """Whether it takes an img2img strength (how far it may move from its one init image)."""
    seed: bool = False
    """Whether a seed makes its images again exactly."""
    max_references: int = 1
    references_field: str = "image"
    reproducible_note: str = ""

    @property
    def conditioned(self) -> bool:
        """Whether it keeps a character from several reference images (not img2img from one)."""
        return self.endpoint == "model"

    @property
    def unit_name(self) -> str:
        return "second" if self.pricing == "per_second" else "image"

    def reference_inputs(self, prompt: str, images: list[str], width: int, height: int) -> dict[str, Any]:
        """A reference-conditioned model's inputs: prompt, images as URIs, a PNG at the size's ratio."""
        inputs: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": aspect_ratio(width, height),
            "resolution": "1K",
            "output_format": "png",
        }
        if images:
            inputs[self.references_field] = images[: self.max_references]
        return inputs


_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def aspect_ratio(width: int, height: int) -> str:
    """The listed aspect ratio nearest to width x height."""
    wanted = width / height
    return min(_RATIOS, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - wanted))


CATALOGUE: dict[str, ImageModel] = {
    SDXL: ImageModel(
        name=SDXL,
        label="SDXL (img2img from one image, seeded)",
        endpoint="version",
        output="list",
        pricing="per_second",
        strength=True,
        seed=True,
        max_references=1,
        references_field="image",
    ),
    NANO_BANANA_2: ImageModel(
        name=NANO_BANANA_2,
        label="Nano Banana 2 (keeps the face from up to 14 reference images)",
        endpoint="model",
        output="uri",
        pricing="per_image",
        price_per_image=Decimal("0.067"),
        max_references=14,
        references_field="image_input",
        reproducible_note="google/nano-banana-2 takes no seed: its images cannot be remade exactly",
    ),
}
"""Every model a song may use, by name; prices from each model's Replicate page on PRICES_TAKEN_ON."""


def image_model(name: str | None, field: str = "model") -> ImageModel:
    """The catalogued model of that name (None: the default); InvalidInput naming `field` otherwise."""
    if name is None or name == "":
        return CATALOGUE[DEFAULT_MODEL]
    found = CATALOGUE.get(name.strip())
    if found is None:
        raise InvalidInput(field, f"unknown model {name!r}: one of {', '.join(CATALOGUE)}")
    return found
