"""Generation parameters inside each reference PNG, in AUTOMATIC1111's `parameters` text chunk.

The chunk is spliced in by raw chunk manipulation (no re-encode), so stamping an image costs a copy.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Iterator, Mapping

import regex
from PIL import Image, UnidentifiedImageError

from studio.errors import InvalidInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS_KEYWORD = b"parameters"
MAX_CONVERT_PIXELS = 50_000_000
"""Largest image `ensure_png` decodes: a guard against decompression bombs from a provider."""

SAMPLER_NAMES = {
    "K_EULER": "Euler",
    "K_EULER_ANCESTRAL": "Euler a",
    "DDIM": "DDIM",
    "DPMSolverMultistep": "DPM++ 2M",
    "KarrasDPM": "DPM++ 2M Karras",
    "HeunDiscrete": "Heun",
    "PNDM": "PLMS",
    "K_DPM_2": "DPM2",
    "K_DPM_2_ANCESTRAL": "DPM2 a",
    "K_LMS": "LMS",
}
_PARAM = regex.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_CONVERTIBLE = {"PNG", "JPEG", "MPO", "WEBP"}


def sampler_name(scheduler: str) -> str:
    """AUTOMATIC1111's name for a diffusers/Replicate scheduler; unknown names are kept."""
    return SAMPLER_NAMES.get(scheduler, scheduler)


def _quote(value: str) -> str:
    """A1111 quotes a value holding `,`, `:` or a newline as a JSON string."""
    return json.dumps(value, ensure_ascii=False) if "," in value or ":" in value or "\n" in value else value


def format_parameters(
    prompt: str,
    negative_prompt: str,
    steps: int,
    sampler: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    model: str,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The A1111 infotext: the prompt, `Negative prompt: ...`, then `Steps: 30, Sampler: Euler, ...`."""
    fields = {
        "Steps": str(steps),
        "Sampler": sampler_name(sampler),
        "CFG scale": f"{cfg_scale:g}",
        "Seed": str(seed),
        "Size": f"{width}x{height}",
        "Model": model,
        **(extra or {}),
    }
    lines = [prompt.strip()]
    if negative_prompt.strip():
        lines.append(f"Negative prompt: {negative_prompt.strip()}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in fields.items()))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict[str, str]:
    """The inverse of `format_parameters`: `prompt`, `negative_prompt`, then each `Key: value` as written."""
    *lines, last = text.strip().split("\n")
    if len(_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            negative.append(line.removeprefix("Negative prompt:").strip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    result = {"prompt": "\n".join(prompt).strip(), "negative_prompt": "\n".join(negative).strip()}
    for key, value in _PARAM.findall(last):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = json.loads(value)
        result[key.strip()] = value.strip()
    return result


def _chunks(png: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(offset, type, data length) of each chunk; raises InvalidInput on a malformed or truncated PNG."""
    if not png.startswith(PNG_SIGNATURE):
        raise InvalidInput("image", "is not a PNG (bad signature)")
    offset = len(PNG_SIGNATURE)
    while offset < len(png):
        if offset + 12 > len(png):
            raise InvalidInput("image", "is a truncated PNG")
        length, kind = struct.unpack_from(">I4s", png, offset)
        if offset + 12 + length > len(png):
            raise InvalidInput("image", f"is a truncated PNG (chunk {kind!r})")
        yield offset, kind, length
        offset += 12 + length
        if kind == b"IEND":
            return
    raise InvalidInput("image", "is a PNG without an IEND chunk")


def _text_of(kind: bytes, data: bytes) -> tuple[bytes, str] | None:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk; None for other chunks or a damaged one."""
    keyword, sep, rest = data.partition(b"\x00")
    if not sep:
        return None
    try:
        if kind == b"tEXt":
            return keyword, rest.decode("latin-1")
        if kind == b"zTXt":
            return keyword, zlib.decompress(rest[1:]).decode("latin-1")
        if kind == b"iTXt":
            compressed, body = rest[0], rest[2:]
            body = body.split(b"\x00", 2)[2]
            return keyword, (zlib.decompress(body) if compressed else body).decode("utf-8")
    except (IndexError, zlib.error, UnicodeDecodeError):
        return None
    return None


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def parameters_chunk(text: str) -> bytes:
    """A `parameters` tEXt chunk, or iTXt (UTF-8) when the text is not Latin-1."""
    try:
        return _chunk(b"tEXt", PARAMETERS_KEYWORD + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", PARAMETERS_KEYWORD + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def embed_parameters(png: bytes, text: str) -> bytes:
    """`png` with one `parameters` chunk right after IHDR, replacing any earlier one; pixels untouched."""
    parts: list[bytes | memoryview] = [PNG_SIGNATURE]
    view = memoryview(png)
    end = len(png)
    for index, (offset, kind, length) in enumerate(_chunks(png)):
        end = offset + 12 + length
        if index == 0:
            if kind != b"IHDR":
                raise InvalidInput("image", "is a PNG whose first chunk is not IHDR")
            parts += [view[offset:end], parameters_chunk(text)]
            continue
        if (
            kind in (b"tEXt", b"zTXt", b"iTXt")
            and png[offset + 8 : offset + 8 + 11] == PARAMETERS_KEYWORD + b"\x00"
        ):
            continue
        parts.append(view[offset:end])
    parts.append(view[end:])
    return b"".join(parts)


def read_parameters(png: bytes) -> str | None:
    """The text of the `parameters` chunk, or None when the PNG has none."""
    for offset, kind, length in _chunks(png):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            found = _text_of(kind, png[offset + 8 : offset + 8 + length])
            if found and found[0] == PARAMETERS_KEYWORD:
                return found[1]
    return None


def ensure_png(data: bytes, content_type: str = "") -> bytes:
    """PNG bytes whatever a provider returned: PNG passes through, JPEG and WebP are converted."""
    if data.startswith(PNG_SIGNATURE):
        return data
    what = content_type or "image"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in _CONVERTIBLE:
                raise InvalidInput("image", f"{what} is {image.format}, not PNG, JPEG or WebP")
            if image.width * image.height > MAX_CONVERT_PIXELS:
                raise InvalidInput("image", f"{what} is {image.width}x{image.height}, too large to convert")
            image.load()
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            converted = image.convert("RGBA" if has_alpha else "RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidInput("image", f"{what} could not be decoded ({type(exc).__name__})") from None
    out = io.BytesIO()
    converted.save(out, format="PNG", compress_level=3)
    return out.getvalue()
