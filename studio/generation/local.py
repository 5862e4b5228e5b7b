"""The offline image generator: a deterministic Pillow sketch of each reference, labelled as a preview.

It lets creators and tests run the whole studio with no keys and no network; the picture follows the
request (palette, scene or character, time of day, the subject's words) so references can be told apart,
and an init image shows through as much as the request's strength leaves of it (img2img's meaning). A
reference-conditioned model is imitated by drawing from its reference images: their colours, the first one
showing through, and each of them as a small inset.
"""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

import regex
from PIL import Image, ImageFont, ImageOps, UnidentifiedImageError

from studio.errors import GenerationError
from studio.generation.base import (
    DEFAULT_STRENGTH,
    GeneratedImage,
    GenerationRequest,
    PredictionListener,
    WithoutPredictions,
)
from studio.generation.local_figure import draw_character
from studio.generation.local_sketches import SIZE, Canvas, draw_scene

MAX_INIT_PIXELS = 50_000_000
_TIME_WORDS = regex.compile(
    r"\b(dawn|sunrise|morning|noon|midday|afternoon|dusk|sunset|midnight|night)\b", regex.I
)
_TIME_ALIASES = {"sunrise": "dawn", "midday": "noon", "sunset": "dusk"}


def _decode_init(image: bytes, draft: int) -> Image.Image:
    """An init image as RGB, decoded at about `draft` pixels a side; GenerationError when it cannot be."""
    try:
        with Image.open(io.BytesIO(image)) as opened:
            if opened.width * opened.height > MAX_INIT_PIXELS:
                raise GenerationError(
                    "init_image is too large to analyse", retryable=False, reason="invalid_input"
                )
            opened.draft("RGB", (draft, draft))
            return opened.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise GenerationError(
            f"init_image could not be decoded ({type(exc).__name__})", retryable=False, reason="invalid_input"
        ) from None


def dominant_colours(image: bytes, count: int = 5) -> tuple[str, ...]:
    """The most common colours of an image, as hex, most frequent first (the consistency job's palette)."""
    small = _decode_init(image, 128)
    small.thumbnail((64, 64))
    quantized = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    ranked = sorted(((n, i) for n, i in quantized.getcolors() or [] if isinstance(i, int)), reverse=True)
    return tuple("#{:02X}{:02X}{:02X}".format(*palette[i * 3 : i * 3 + 3]) for _, i in ranked)


def time_of_day(prompt: str) -> str | None:
    """The first time-of-day word of a prompt (synthesis writes `at dusk`, `at night`, ...)."""
    found = _TIME_WORDS.search(prompt)
    return _TIME_ALIASES.get(found.group(1).lower(), found.group(1).lower()) if found else None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, max_lines: int
) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(",.;") + "…"
    return lines


def _draw_labels(canvas: Canvas, request: GenerationRequest, model: str) -> None:
    pen = canvas.pen
    badge = _font(34)
    pen.rounded_rectangle(
        (28, 28, 40 + badge.getlength("OFFLINE PREVIEW") + 28, 92), radius=16, fill=(0, 0, 0, 170)
    )
    pen.text((54, 42), "OFFLINE PREVIEW", font=badge, fill=(255, 214, 102))
    kind = request.label or request.kind
    width = badge.getlength(kind)
    pen.rounded_rectangle((SIZE - width - 80, 28, SIZE - 28, 92), radius=16, fill=(0, 0, 0, 170))
    pen.text((SIZE - width - 54, 42), kind, font=badge, fill=(255, 255, 255))
    caption, small = _font(44), _font(24)
    lines = _wrap(request.subject or request.prompt, caption, SIZE - 120, 4)
    top = SIZE - 60 - 56 * len(lines) - 44
    pen.rectangle((0, top, SIZE, SIZE), fill=(0, 0, 0, 165))
    for index, line in enumerate(lines):
        pen.text((60, top + 24 + index * 56), line, font=caption, fill=(255, 255, 255))
    swatch = 60
    for colour in canvas.palette[:6]:
        pen.rounded_rectangle((swatch, SIZE - 52, swatch + 36, SIZE - 24), radius=6, fill=colour)
        swatch += 46
    strength = f" · strength {_strength(request):g}" if request.init_image and not request.references else ""
    pen.text(
        (swatch + 14, SIZE - 52), f"seed {request.seed}{strength} · {model}", font=small, fill=(220, 220, 220)
    )


def _strength(request: GenerationRequest) -> float:
    return DEFAULT_STRENGTH if request.strength is None else request.strength


def _show_through(canvas: Canvas, init_image: bytes, strength: float) -> None:
    """Blend the init image over the drawing by what the strength keeps of it (0 keeps it, 1 ignores it)."""
    if strength >= 1:
        return
    init = ImageOps.fit(_decode_init(init_image, SIZE), (SIZE, SIZE), Image.Resampling.BILINEAR)
    canvas.image.paste(Image.blend(canvas.image, init, 1 - strength))


REFERENCE_SHOW_THROUGH = 0.45
"""How much of the first reference image a reference-conditioned preview keeps (its identity)."""
INSET = 128


def _draw_references(canvas: Canvas, references: list[bytes]) -> None:
    """Imitate reference conditioning: the first reference shows through, every one is drawn as an inset."""
    _show_through(canvas, references[0], 1 - REFERENCE_SHOW_THROUGH)
    left = SIZE - 28 - INSET
    for data in references[:6]:
        inset = ImageOps.fit(_decode_init(data, INSET), (INSET, INSET), Image.Resampling.BILINEAR)
        canvas.image.paste(inset, (left, 112))
        left -= INSET + 12


def render_preview(request: GenerationRequest, model: str = "local-preview-1") -> bytes:
    """The PNG bytes of one preview; pure and deterministic (same request, same bytes)."""
    references = [image.data for image in request.references]
    if request.init_image and not references and request.model != "sdxl":
        references = [request.init_image]
    if references:
        return _render_conditioned(request, references, model)
    palette = dominant_colours(request.init_image) if request.init_image else request.palette
    canvas = Canvas(request, palette)
    if request.kind == "scene":
        draw_scene(canvas, time_of_day(request.prompt))
    else:
        draw_character(canvas, request.subject)
    if request.init_image:
        _show_through(canvas, request.init_image, _strength(request))
    _draw_labels(canvas, request, model)
    return _encoded(canvas.image, request)


def _render_conditioned(request: GenerationRequest, references: list[bytes], model: str) -> bytes:
    canvas = Canvas(request, dominant_colours(references[0]))
    if request.kind == "scene":
        draw_scene(canvas, time_of_day(request.prompt))
    else:
        draw_character(canvas, request.subject)
    _draw_references(canvas, references)
    _draw_labels(canvas, request, f"{model} as {request.model}")
    return _encoded(canvas.image, request)


def _encoded(image: Image.Image, request: GenerationRequest) -> bytes:
    if (request.width, request.height) != (SIZE, SIZE):
        image = image.resize((request.width, request.height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def preview_model(version: str, request: GenerationRequest) -> str:
    """The preview's model name, saying which model it stands in for when that is not SDXL."""
    return version if request.model == "sdxl" else f"{version} as {request.model}"


class LocalImageGenerator(WithoutPredictions):
    """The `local` image provider: free, offline, deterministic previews."""

    name = "local"
    model_version = "local-preview-1"

    def max_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal("0")

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal("0")

    async def generate(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> GeneratedImage:
        if not (64 <= request.width <= 2048 and 64 <= request.height <= 2048):
            raise GenerationError(
                f"size {request.width}x{request.height} is outside 64..2048",
                retryable=False,
                reason="invalid_input",
            )
        data = await asyncio.to_thread(render_preview, request, self.model_version)
        return GeneratedImage(
            data=data,
            content_type="image/png",
            provider=self.name,
            model=preview_model(self.model_version, request),
            cost=Decimal("0"),
        )

    async def aclose(self) -> None:
        return None
