from __future__ import annotations

import io
import struct
import time

import pytest
from PIL import Image, PngImagePlugin

from studio.errors import InvalidInput
from studio.generation import png_parameters
from studio.generation.png_parameters import (
    embed_parameters,
    ensure_png,
    format_parameters,
    parse_parameters,
    read_parameters,
    sampler_name,
)

MODEL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"


def _png(size: tuple[int, int] = (64, 48), info: PngImagePlugin.PngInfo | None = None) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _chunk_types(png: bytes) -> list[bytes]:
    types, offset = [], 8
    while offset < len(png):
        length, kind = struct.unpack_from(">I4s", png, offset)
        types.append(kind)
        offset += 12 + length
    return types


def _text() -> str:
    return format_parameters("a cat, 4K", "blurry", 30, "K_EULER", 7.5, 123, 1024, 1024, MODEL)


def test_format_uses_automatic1111_layout() -> None:
    assert format_parameters("a cat", "blurry, text", 30, "K_EULER", 7.5, 123, 1024, 1024, "sdxl") == (
        "a cat\nNegative prompt: blurry, text\n"
        "Steps: 30, Sampler: Euler, CFG scale: 7.5, Seed: 123, Size: 1024x1024, Model: sdxl"
    )
    no_negative = format_parameters("a cat", "", 60, "DDIM", 10.0, 1, 512, 768, "m")
    assert no_negative == "a cat\nSteps: 60, Sampler: DDIM, CFG scale: 10, Seed: 1, Size: 512x768, Model: m"


@pytest.mark.parametrize(
    ("scheduler", "name"),
    [("K_EULER", "Euler"), ("K_EULER_ANCESTRAL", "Euler a"), ("DDIM", "DDIM"),
     ("DPMSolverMultistep", "DPM++ 2M"), ("KarrasDPM", "DPM++ 2M Karras"), ("Custom", "Custom")],
)  # fmt: skip
def test_sampler_names(scheduler: str, name: str) -> None:
    assert sampler_name(scheduler) == name


def test_parse_round_trips_quoted_values() -> None:
    text = format_parameters(
        "a cat, 4K", "blurry", 30, "K_EULER", 7.5, 123, 1024, 1024, MODEL, {"Provider": "local"}
    )
    assert '"stability-ai/sdxl:7762' in text  # a value holding ':' is quoted as A1111 does
    assert parse_parameters(text) == {
        "prompt": "a cat, 4K",
        "negative_prompt": "blurry",
        "Steps": "30",
        "Sampler": "Euler",
        "CFG scale": "7.5",
        "Seed": "123",
        "Size": "1024x1024",
        "Model": MODEL,
        "Provider": "local",
    }


def test_parse_multi_line_prompt_and_text_without_parameters() -> None:
    parsed = parse_parameters(
        "line one\nline two\nNegative prompt: ugly\nworse\nSteps: 20, Sampler: Euler a, Seed: 5"
    )
    assert parsed["prompt"] == "line one\nline two"
    assert parsed["negative_prompt"] == "ugly\nworse"
    assert parsed["Sampler"] == "Euler a"
    assert parse_parameters("just a prompt") == {"prompt": "just a prompt", "negative_prompt": ""}


def test_embed_puts_the_chunk_after_ihdr_and_pillow_reads_it() -> None:
    original = _png()
    stamped = embed_parameters(original, _text())
    assert _chunk_types(stamped)[:2] == [b"IHDR", b"tEXt"]
    with Image.open(io.BytesIO(stamped)) as image:
        assert image.text["parameters"] == _text()  # type: ignore[attr-defined]
    with Image.open(io.BytesIO(stamped)) as image:
        image.verify()  # every chunk CRC
    with Image.open(io.BytesIO(stamped)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.tobytes() == before.tobytes()
    assert read_parameters(stamped) == _text()


def test_embed_replaces_an_earlier_chunk_and_keeps_other_text() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "old")
    info.add_text("Software", "studio")
    twice = embed_parameters(embed_parameters(_png(info=info), "first"), "second")
    assert _chunk_types(twice).count(b"tEXt") == 2
    with Image.open(io.BytesIO(twice)) as image:
        assert image.text == {"parameters": "second", "Software": "studio"}  # type: ignore[attr-defined]


def test_non_latin1_text_goes_into_an_itxt_chunk() -> None:
    text = "東京の夜, neon 🌃\nSteps: 30, Sampler: Euler, Seed: 1"
    stamped = embed_parameters(_png(), text)
    assert b"iTXt" in _chunk_types(stamped)
    with Image.open(io.BytesIO(stamped)) as image:
        assert image.text["parameters"] == text  # type: ignore[attr-defined]
    assert read_parameters(stamped) == text


@pytest.mark.parametrize("kind", ["zip", "itxt"])
def test_read_parameters_written_by_pillow(kind: str) -> None:
    info = PngImagePlugin.PngInfo()
    if kind == "zip":
        info.add_text("parameters", "compressed text", zip=True)
    else:
        info.add_itxt("parameters", "ünïcode text", zip=True)
    assert read_parameters(_png(info=info)) == ("compressed text" if kind == "zip" else "ünïcode text")


def test_read_parameters_none_when_absent() -> None:
    assert read_parameters(_png()) is None


@pytest.mark.parametrize("data", [b"", b"not a png", _png()[:40], b"\x89PNG\r\n\x1a\n"])
def test_malformed_png_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        embed_parameters(data, "x")
    assert caught.value.field == "image"


def test_embedding_is_fast_on_a_full_size_image() -> None:
    big = _png((1024, 1024))
    started = time.perf_counter()
    for _ in range(50):
        stamped = embed_parameters(big, _text())
    assert (time.perf_counter() - started) / 50 < 0.005
    assert read_parameters(stamped) == _text()


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_ensure_png_converts_jpeg_and_webp(fmt: str, content_type: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(out, format=fmt)
    png = ensure_png(out.getvalue(), content_type)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == (40, 30)


def test_ensure_png_passes_png_through_and_keeps_alpha() -> None:
    png = _png()
    assert ensure_png(png, "image/jpeg") is png
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(out, format="WEBP", lossless=True)
    with Image.open(io.BytesIO(ensure_png(out.getvalue(), "image/webp"))) as image:
        assert image.mode == "RGBA"


def test_ensure_png_refuses_garbage_other_formats_and_huge_images(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput, match="could not be decoded"):
        ensure_png(b"definitely not an image", "image/jpeg")
    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, format="GIF")
    with pytest.raises(InvalidInput, match="GIF"):
        ensure_png(gif.getvalue(), "image/gif")
    monkeypatch.setattr(png_parameters, "MAX_CONVERT_PIXELS", 100)
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 20)).save(jpeg, format="JPEG")
    with pytest.raises(InvalidInput, match="too large"):
        ensure_png(jpeg.getvalue(), "image/jpeg")
