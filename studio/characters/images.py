"""Character image uploads: accepted by their bytes, never their names, and re-encoded clean.

Dimensions come from the header and are checked before any pixel is decoded, so a decompression bomb is
refused for the price of reading a few bytes. The stored bytes are a fresh encode: EXIF orientation applied,
no EXIF, ICC or text chunks, and an extension and content type that match them.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

from studio.errors import InvalidInput

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000

_FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
}
_READ_AS = {"MPO": "JPEG"}
"""Phone cameras add Multi-Picture data to their JPEGs (Pillow says MPO): the first picture is the photo."""
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError)


@dataclass(frozen=True)
class CharacterImage:
    """An upload ready to store: clean bytes and what they are."""

    data: bytes
    format: str
    extension: str
    content_type: str
    width: int
    height: int


def _refuse(field: str, problem: str) -> InvalidInput:
    return InvalidInput(field, problem)


def _check_header(data: bytes, field: str) -> tuple[str, tuple[int, int]]:
    """Format and size as the header states them; refuses unknown formats, bombs and animations."""
    try:
        with Image.open(BytesIO(data)) as probe:
            fmt = probe.format or ""
            size = probe.size
            frames = int(getattr(probe, "n_frames", 1) or 1)
    except Image.DecompressionBombError:
        raise _refuse(field, f"is larger than {MAX_PIXELS // 1_000_000} megapixels") from None
    except UnidentifiedImageError:
        raise _refuse(field, "is not a PNG, JPEG or WebP image") from None
    except _DECODE_ERRORS as exc:
        raise _refuse(field, f"could not be read as an image ({exc})") from None
    if fmt in _READ_AS:
        fmt, frames = _READ_AS[fmt], 1
    if fmt not in _FORMATS:
        raise _refuse(field, f"is a {fmt or 'unknown'} image; only PNG, JPEG and WebP are accepted")
    width, height = size
    if width < 1 or height < 1:
        raise _refuse(field, f"has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        megapixels = width * height / 1_000_000
        limit = MAX_PIXELS // 1_000_000
        raise _refuse(
            field, f"is {width}x{height} ({megapixels:.1f} megapixels); at most {limit} are allowed"
        )
    if frames > 1:
        raise _refuse(field, f"is an animated {fmt} ({frames} frames); upload a still image")
    return fmt, size


def _decode(data: bytes, field: str) -> Image.Image:
    """Verify the file's structure, then decode it fully; truncated or corrupt files are refused."""
    try:
        with Image.open(BytesIO(data)) as checked:
            checked.verify()
        image = Image.open(BytesIO(data))
        image.load()
    except Image.DecompressionBombError:
        raise _refuse(field, f"is larger than {MAX_PIXELS // 1_000_000} megapixels") from None
    except _DECODE_ERRORS as exc:
        raise _refuse(field, f"is truncated or corrupt ({exc})") from None
    return image


def _clean_pixels(image: Image.Image) -> Image.Image:
    """Upright RGB or RGBA pixels with no metadata attached."""
    upright = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    if upright.mode in ("I;16", "I;16B", "I;16L", "I"):
        upright = upright.point(lambda value: value / 256).convert("L")
    target = "RGBA" if has_alpha else "RGB"
    converted = upright if upright.mode == target else upright.convert(target)
    return Image.frombytes(target, converted.size, converted.tobytes())


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=95, subsampling=0)
    elif fmt == "WEBP":
        image.save(buffer, format="WEBP", quality=95, method=4)
    else:
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def prepare_character_image(data: bytes, field: str = "image") -> CharacterImage:
    """Validate an uploaded character image and re-encode it; raises InvalidInput naming `field`."""
    if not data:
        raise _refuse(field, "is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refuse(
            field,
            f"is {len(data) / 1024 / 1024:.1f} MB; at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB are allowed",
        )
    fmt, _ = _check_header(data, field)
    with _decode(data, field) as image:
        try:
            clean = _clean_pixels(image)
        except _DECODE_ERRORS as exc:
            raise _refuse(field, f"could not be converted to RGB ({exc})") from None
    extension, content_type = _FORMATS[fmt]
    return CharacterImage(
        data=_encode(clean, fmt),
        format=fmt,
        extension=extension,
        content_type=content_type,
        width=clean.width,
        height=clean.height,
    )


def sniff_content_type(data: bytes) -> str:
    """The content type of stored image bytes, by their header (for bytes this module wrote)."""
    try:
        with Image.open(BytesIO(data)) as probe:
            fmt = _READ_AS.get(probe.format or "", probe.format or "")
            return _FORMATS.get(fmt, ("", "application/octet-stream"))[1]
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        return "application/octet-stream"
