"""The offline interrogator names what it measures: colours, light, framing and aspect."""

from __future__ import annotations

import asyncio
import io
import time
from decimal import Decimal

import pytest
from PIL import Image

from studio.errors import InvalidInput
from studio.interrogation.local import LocalInterrogator, analyse
from tests.studio.interrogation.images import figure


def test_red_figure_on_white_is_named_and_framed() -> None:
    analysis = analyse(figure())
    assert analysis.colours[0] == "red"
    assert analysis.background == "white"
    assert analysis.shot == "full-body"
    assert analysis.position == "centred"
    assert analysis.aspect == "portrait 2:3"
    assert analysis.light == "bright"
    assert analysis.saturation == "vivid"


async def test_interrogation_is_a_useful_free_description() -> None:
    result = await LocalInterrogator().interrogate(figure(), "image/png")
    assert result.source == "local" and result.model == "local-analysis-1"
    assert result.cost == Decimal("0") and result.units == Decimal("0")
    assert 40 <= len(result.prompt.split()) <= 80
    assert "red" in result.prompt and "full-body" in result.prompt and "white background" in result.prompt
    assert 2 <= result.character_description.count(". ") + 1 <= 3
    assert "red" in result.character_description and "full-body" in result.character_description
    assert "red" in result.style_notes and "portrait 2:3" in result.style_notes


@pytest.mark.parametrize(
    ("box", "shot", "position"),
    [
        ((0.05, 0.1, 0.3, 0.9), "full-body", "off-centre left"),
        ((0.7, 0.1, 0.95, 0.9), "full-body", "off-centre right"),
        ((0.05, 0.05, 0.95, 1.0), "close-up", "centred"),
        ((0.2, 0.4, 0.8, 1.0), "medium shot", "centred"),
        ((0.45, 0.45, 0.55, 0.55), "wide shot", "centred"),
    ],
)
def test_framing_follows_the_subject_box(
    box: tuple[float, float, float, float], shot: str, position: str
) -> None:
    analysis = analyse(figure(box=box))
    assert (analysis.shot, analysis.position) == (shot, position)


def test_dark_low_key_image_and_landscape_aspect() -> None:
    analysis = analyse(figure(colour=(40, 60, 200), background=(10, 10, 12), size=(1600, 900)))
    assert analysis.light == "low-key"
    assert analysis.aspect == "landscape 16:9"
    assert analysis.background == "black"
    assert analysis.colours[0] in {"blue", "royal blue", "cobalt"}


def test_muted_grey_noise_fills_the_frame() -> None:
    noise = Image.effect_noise((300, 300), 40).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    analysis = analyse(buffer.getvalue())
    assert analysis.shot == "frame-filling" and analysis.background is None
    assert analysis.saturation == "monochrome"
    assert analysis.aspect == "square 1:1"


def test_jpeg_and_webp_agree_with_png() -> None:
    png = analyse(figure())
    for fmt in ("JPEG", "WEBP"):
        other = analyse(figure(fmt=fmt))
        assert (other.colours[0], other.shot, other.aspect) == (png.colours[0], png.shot, png.aspect)


def test_transparent_background_reads_as_white() -> None:
    image = Image.new("RGBA", (300, 450), (0, 0, 0, 0))
    image.paste((30, 160, 60, 255), (120, 60, 180, 400))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    analysis = analyse(buffer.getvalue())
    assert analysis.background == "white" and analysis.colours[0] == "green"


def test_deterministic_and_fast_on_a_large_image() -> None:
    big = figure(size=(6000, 4000), fmt="JPEG")
    started = time.perf_counter()
    first = analyse(big)
    assert time.perf_counter() - started < 2.0
    assert analyse(big) == first
    assert (first.width, first.height, first.aspect) == (6000, 4000, "landscape 3:2")


def test_unreadable_bytes_are_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        asyncio.run(LocalInterrogator().interrogate(b"not an image", "image/png"))
    assert caught.value.field == "image"
