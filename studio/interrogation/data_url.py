"""Images go to vision models as data URLs whose MIME type comes from the bytes, never from a file name."""

from __future__ import annotations

import base64

from studio.errors import InvalidInput

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_content_type(image: bytes) -> str | None:
    """`image/png`, `image/jpeg`, `image/webp` or `image/gif` from the leading bytes; None when unknown."""
    if len(image) >= 12 and image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _SIGNATURES if image.startswith(magic)), None)


def data_url(image: bytes, field: str = "image") -> str:
    """`data:<sniffed type>;base64,...`; bytes that are no known image are refused, naming `field`."""
    content_type = sniff_content_type(image)
    if content_type is None:
        raise InvalidInput(field, "not a PNG, JPEG, WebP or GIF image")
    return f"data:{content_type};base64,{base64.b64encode(image).decode('ascii')}"
