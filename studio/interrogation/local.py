"""Offline interrogation: Pillow measures colour, light, contrast and framing and says them in words.

It cannot recognise a face or clothing, but a named palette, the light and the framing are what keep a
regenerated character close to its reference, and it costs nothing and never fails for lack of a network.
"""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageChops, ImageFilter, ImageOps, ImageStat, UnidentifiedImageError

from studio.errors import InvalidInput
from studio.interrogation.base import Interrogation
from studio.prompts import colour_name

MODEL = "local-analysis-1"
ANALYSIS_SIZE = 128
"""Longest side analysed: enough for palette and framing, and fast on a 40-megapixel upload."""
SUBJECT_THRESHOLD = 48
"""How far (0-255, largest channel) a pixel must differ from the border colour to count as subject."""
MIN_COLOUR_SHARE = 0.08
ORIENTATION_TAG = 0x0112

_RATIOS: tuple[tuple[int, int], ...] = (
    (1, 1), (2, 3), (3, 4), (4, 5), (9, 16), (1, 2), (3, 2), (4, 3), (5, 4), (16, 9), (2, 1), (21, 9),
)  # fmt: skip
_PADDING_TAGS = ("clear readable shapes", "balanced composition", "crisp edges", "studio quality")
_MAX_PROMPT_WORDS = 80
_MIN_PROMPT_WORDS = 40


@dataclass(frozen=True)
class ImageAnalysis:
    """What the pixels say, already in words."""

    colours: tuple[str, ...]
    """Subject colours (the whole image when there is no distinct subject), most common first."""
    background: str | None
    """The border colour's name, or None when the subject fills the frame."""
    light: str
    contrast: str
    saturation: str
    shot: str
    """`full-body`, `medium shot`, `close-up`, `wide shot` or `frame-filling`."""
    position: str
    """`centred`, `off-centre left` or `off-centre right`."""
    aspect: str
    """`portrait 2:3`, `square 1:1`, `landscape 16:9`, ..."""
    width: int
    height: int

    @property
    def framing(self) -> str:
        return f"{self.shot}, {self.position}"


def _open(image: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded picture (JPEGs drafted small) and its true, upright size."""
    try:
        opened = Image.open(io.BytesIO(image))
        width, height = opened.size
        if opened.getexif().get(ORIENTATION_TAG) in (5, 6, 7, 8):
            width, height = height, width
        opened.draft("RGB", (ANALYSIS_SIZE * 2, ANALYSIS_SIZE * 2))
        picture = ImageOps.exif_transpose(opened)
        picture.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput("image", f"not a readable image ({type(exc).__name__})") from exc
    return picture, (width, height)


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB on white: a transparent background reads as the plain backdrop it is shown on."""
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(backdrop, rgba).convert("RGB")
    return picture.convert("RGB")


def _border_colour(small: Image.Image) -> tuple[int, int, int]:
    width, height = small.size
    pixels = small.load()
    assert pixels is not None
    border = [pixels[x, y] for x in range(width) for y in (0, height - 1)]
    border += [pixels[x, y] for y in range(height) for x in (0, width - 1)]
    channels = [sorted(int(p[i]) for p in border) for i in range(3)]  # type: ignore[index]
    middle = len(border) // 2
    return channels[0][middle], channels[1][middle], channels[2][middle]


def _subject_mask(small: Image.Image, border: tuple[int, int, int]) -> Image.Image:
    difference = ImageChops.difference(small, Image.new("RGB", small.size, border))
    red, green, blue = difference.split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    mask = largest.point(lambda value: 255 if value > SUBJECT_THRESHOLD else 0)
    return mask.filter(ImageFilter.MedianFilter(3))


def _palette(pixels: list[tuple[int, int, int]]) -> tuple[str, ...]:
    strip = Image.new("RGB", (len(pixels), 1))
    strip.putdata(pixels)
    quantized = strip.quantize(colors=6, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    shares: dict[str, int] = {}
    for count, entry in quantized.getcolors(256) or []:
        index = cast(int, entry)
        rgb = (palette[index * 3], palette[index * 3 + 1], palette[index * 3 + 2])
        name = colour_name(rgb)
        shares[name] = shares.get(name, 0) + count
    total = sum(shares.values()) or 1
    ranked = sorted(shares.items(), key=lambda item: (-item[1], item[0]))
    kept = [name for name, count in ranked if count / total >= MIN_COLOUR_SHARE][:3]
    return tuple(kept or [ranked[0][0]])


def _aspect(width: int, height: int) -> str:
    ratio = width / height
    across, down = min(_RATIOS, key=lambda r: abs(math.log(ratio * r[1] / r[0])))
    if abs(math.log(ratio * down / across)) > 0.04:
        across, down = round(ratio * 100), 100
        divisor = math.gcd(across, down)
        across, down = across // divisor, down // divisor
    orientation = "square" if across == down else ("portrait" if across < down else "landscape")
    return f"{orientation} {across}:{down}"


def _shot(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[str, str]:
    width, height = size
    left, top, right, bottom = box
    margin_x, margin_y = max(1, width // 50), max(1, height // 50)
    touches_top, touches_bottom = top <= margin_y, bottom >= height - margin_y
    touches = sum((left <= margin_x, right >= width - margin_x, touches_top, touches_bottom))
    box_width, box_height = (right - left) / width, (bottom - top) / height
    centre = (left + right) / 2 / width
    position = "off-centre left" if centre < 0.4 else "off-centre right" if centre > 0.6 else "centred"
    if touches >= 3 or box_width * box_height >= 0.85:
        return "close-up", position
    if touches_bottom and not touches_top and box_height >= 0.5:
        return "medium shot", position
    if touches >= 2 or box_width * box_height >= 0.6:
        return "close-up", position
    if box_height >= 0.4 and box_height >= box_width * 1.2:
        return "full-body", position
    if box_height < 0.3 and box_width < 0.3:
        return "wide shot", position
    return "medium shot", position


def analyse(image: bytes) -> ImageAnalysis:
    """Measure an image: deterministic, and fast because everything after decoding runs on a thumbnail."""
    picture, (width, height) = _open(image)
    small = _flatten(picture)
    small.thumbnail((ANALYSIS_SIZE, ANALYSIS_SIZE), Image.Resampling.BILINEAR)
    border = _border_colour(small)
    mask = _subject_mask(small, border)
    box = mask.getbbox()
    subject_share = (ImageStat.Stat(mask).mean[0] / 255) if box else 0.0
    pixels = cast("tuple[tuple[int, int, int], ...]", small.get_flattened_data())
    distinct = box is not None and 0.005 <= subject_share <= 0.9
    if distinct and box is not None:
        shot, position = _shot(box, small.size)
        core = mask.filter(ImageFilter.MinFilter(3))
        sample = core if core.getbbox() else mask
        chosen = [p for p, m in zip(pixels, sample.get_flattened_data(), strict=True) if m]
        background: str | None = colour_name(border)
        saturation_mask: Image.Image | None = mask
    else:
        shot, position = "frame-filling", "centred"
        chosen = list(pixels)
        background, saturation_mask = None, None
    luminance = ImageStat.Stat(small.convert("L"))
    mean, spread = luminance.mean[0], luminance.stddev[0]
    saturation = ImageStat.Stat(small.convert("HSV"), saturation_mask).mean[1]
    return ImageAnalysis(
        colours=_palette(chosen),
        background=background,
        light="bright"
        if mean >= 170
        else "evenly lit"
        if mean >= 110
        else "dim"
        if mean >= 60
        else "low-key",
        contrast="high contrast" if spread >= 70 else "moderate contrast" if spread >= 35 else "low contrast",
        saturation="vivid"
        if saturation >= 140
        else "moderately saturated"
        if saturation >= 70
        else "muted"
        if saturation >= 25
        else "monochrome",
        shot=shot,
        position=position,
        aspect=_aspect(width, height),
        width=width,
        height=height,
    )


OFFLINE_NOTE = "measured offline from colour, light and framing; faces and clothing are not identified"
"""Said to the creator beside the description, never inside it (so never inside a prompt)."""


def _and(words: tuple[str, ...] | list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _colour_phrase(analysis: ImageAnalysis) -> str:
    main, rest = analysis.colours[0], analysis.colours[1:]
    return f"mainly {main}" + (f" with {_and(rest)} accents" if rest else "")


_SUBJECTS = {
    "full-body": "full-body character reference of a single figure",
    "medium shot": "medium shot of a character",
    "close-up": "close-up of a character",
    "wide shot": "wide shot of a small figure",
    "frame-filling": "frame-filling character image",
}


def _prompt(analysis: ImageAnalysis) -> str:
    setting = (
        f"against a plain {analysis.background} background" if analysis.background else "filling the frame"
    )
    tags = [
        _SUBJECTS[analysis.shot],
        analysis.position,
        f"rendered {_colour_phrase(analysis)}",
        setting,
        f"{analysis.light} lighting",
        analysis.contrast,
        f"{analysis.saturation} colours",
        f"{analysis.aspect} composition",
        "clean silhouette",
        "consistent character design",
        "clear readable features",
        "sharp focus",
        "highly detailed",
        "professional illustration",
    ]
    padding = list(_PADDING_TAGS)
    while len(", ".join(tags).split()) < _MIN_PROMPT_WORDS and padding:
        tags.append(padding.pop(0))
    while len(", ".join(tags).split()) > _MAX_PROMPT_WORDS:
        tags.pop()
    return ", ".join(tags)


def describe(analysis: ImageAnalysis) -> Interrogation:
    """An analysis as the interrogation every backend returns."""
    if analysis.background:
        subject = (
            f"A single figure rendered {_colour_phrase(analysis)}, shown {analysis.shot} and "
            f"{analysis.position} against a plain {analysis.background} background. "
        )
    else:
        subject = (
            f"A frame-filling image rendered {_colour_phrase(analysis)}, with no plain background around it. "
        )
    description = (
        subject + f"The image is {analysis.light} with {analysis.contrast} and {analysis.saturation} colour, "
        f"in a {analysis.aspect} frame."
    )
    backdrop = f" on {analysis.background}" if analysis.background else ""
    style_notes = (
        f"{analysis.saturation} palette of {_and(analysis.colours)}{backdrop}; "
        f"{analysis.light} lighting, {analysis.contrast}; {analysis.framing} framing; {analysis.aspect}"
    )
    return Interrogation(
        prompt=_prompt(analysis),
        character_description=description,
        style_notes=style_notes,
        source="local",
        model=MODEL,
        notes=[OFFLINE_NOTE],
    )


class LocalInterrogator:
    """The offline interrogator: always available, free, the last link of every chain."""

    name = "local"
    model = MODEL

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        return describe(await asyncio.to_thread(analyse, image))
