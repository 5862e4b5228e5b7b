"""Image bytes for upload tests, hostile ones included, made in memory."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, PngImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(size: tuple[int, int] = (60, 80), colour: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    return encode(Image.new("RGB", size, colour), "PNG")


def jpeg(size: tuple[int, int] = (60, 80), colour: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG", quality=95)


def webp(size: tuple[int, int] = (60, 80), colour: tuple[int, int, int] = (30, 160, 90)) -> bytes:
    return encode(Image.new("RGB", size, colour), "WEBP", lossless=True)


def mpo(size: tuple[int, int] = (60, 80)) -> bytes:
    """A phone camera's JPEG with Multi-Picture data: a red first frame, a blue second (Pillow: MPO)."""
    first, second = Image.new("RGB", size, (220, 30, 30)), Image.new("RGB", size, (30, 30, 220))
    return encode(first, "MPO", save_all=True, append_images=[second], quality=95)


def two_tone(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: shows which way a rotation went."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image


def jpeg_rotated_by_exif() -> bytes:
    """A 40x20 JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6), with camera tags."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Studio Test Camera"
    exif[0x8825] = {1: "N"}  # GPS info
    return encode(two_tone(), "JPEG", quality=95, exif=exif.tobytes())


def png_with_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone private")
    info.add_text("parameters", "a smuggled prompt")
    return encode(Image.new("RGB", (30, 30), (10, 20, 30)), "PNG", pnginfo=info)


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)


def animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), i) for i in (1, 2, 3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def still_gif() -> bytes:
    return encode(Image.new("P", (20, 20), 1), "GIF")


def animated_png() -> bytes:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0))]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0))]
    return encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height: a decompression bomb's calling card."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def noisy_png(size: tuple[int, int] = (200, 200)) -> bytes:
    """Incompressible pixels, so cutting the file in half really cuts pixel data."""
    import random

    rng = random.Random(7)
    image = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    return encode(image, "PNG")


def noisy_jpeg(size: tuple[int, int] = (200, 200)) -> bytes:
    return encode(Image.open(io.BytesIO(noisy_png(size))), "JPEG", quality=90)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
