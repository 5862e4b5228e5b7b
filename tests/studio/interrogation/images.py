"""Small images drawn for interrogation tests: a figure on a plain background, in any format."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def figure(
    *,
    colour: tuple[int, int, int] = (220, 30, 30),
    background: tuple[int, int, int] = (255, 255, 255),
    size: tuple[int, int] = (400, 600),
    box: tuple[float, float, float, float] = (0.4, 0.15, 0.6, 0.9),
    fmt: str = "PNG",
) -> bytes:
    """A standing figure (head and body) inside `box` (fractions of the frame)."""
    width, height = size
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    head = (bottom - top) * 0.18
    centre = (left + right) / 2
    draw.ellipse((centre - head / 2, top, centre + head / 2, top + head), fill=colour)
    draw.rectangle((left, top + head, right, bottom), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()
