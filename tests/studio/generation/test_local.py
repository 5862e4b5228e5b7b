from __future__ import annotations

import asyncio
import io
import time
from dataclasses import replace
from decimal import Decimal

import pytest
from PIL import Image, ImageChops, ImageStat

from studio.errors import GenerationError
from studio.generation.base import GenerationRequest, ImageGenerator
from studio.generation.local import LocalImageGenerator, dominant_colours, render_preview, time_of_day

SCENE = GenerationRequest(
    prompt="wide establishing shot of narrow alley with puddles, no people, at night, hot pink color scheme",
    negative_prompt="blurry",
    seed=3704423044,
    kind="scene",
    subject="Narrow alley with puddles reflecting pink and cyan neon signs",
    palette=("#FF2E88", "#00E5FF", "#1B1B2F", "#FFD166"),
    label="scene_alley",
)
CHARACTER = replace(
    SCENE,
    prompt="full-body character reference of older woman with long grey braid, red wool coat",
    kind="character",
    subject="Older woman with long grey braid, red wool coat, round glasses",
    label="character_stranger",
)
SWATCH = (78, 985)  # centre of the first palette swatch in the caption band


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_implements_the_generator_protocol_for_free() -> None:
    generator = LocalImageGenerator()
    assert isinstance(generator, ImageGenerator)
    assert (generator.name, generator.model_version) == ("local", "local-preview-1")
    assert generator.max_cost(SCENE) == generator.estimated_cost(SCENE) == Decimal("0")
    result = await generator.generate(SCENE)
    assert (result.content_type, result.provider, result.model) == ("image/png", "local", "local-preview-1")
    assert result.cost == Decimal("0")
    assert result.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert _image(result.data).size == (1024, 1024)
    await generator.aclose()


async def test_same_request_gives_the_same_bytes_and_any_change_shows() -> None:
    generator = LocalImageGenerator()
    first = await generator.generate(SCENE)
    assert (await generator.generate(SCENE)).data == first.data
    variants = [replace(SCENE, seed=1), replace(SCENE, subject="A harbor"), CHARACTER,
                replace(SCENE, palette=("#2A9D8F",))]  # fmt: skip
    datas = {first.data} | {(await generator.generate(v)).data for v in variants}
    assert len(datas) == len(variants) + 1


def test_palette_and_offline_label_are_drawn() -> None:
    image = _image(render_preview(SCENE)).convert("RGB")
    assert image.getpixel(SWATCH) == (0xFF, 0x2E, 0x88)
    badge = image.crop((28, 28, 360, 92))
    assert (255, 214, 102) in {colour for _, colour in badge.getcolors(maxcolors=100_000) or []}


def test_scene_and_character_compositions_differ() -> None:
    scene = _image(render_preview(SCENE)).convert("RGB")
    character = _image(render_preview(CHARACTER)).convert("RGB")
    assert scene.getpixel((512, 100)) != character.getpixel((512, 100))
    assert character.getpixel((512, 450)) == (225, 30, 30)  # "red wool coat" dresses the figure in red


def test_time_of_day_from_the_prompt() -> None:
    assert time_of_day("wide shot of a nightclub, at dusk, golden hour") == "dusk"
    assert time_of_day("a street at sunrise") == "dawn"
    assert time_of_day("a street") is None
    night = _image(render_preview(SCENE)).convert("L").getpixel((512, 30))
    noon = _image(render_preview(replace(SCENE, prompt="a street at noon"))).convert("L").getpixel((512, 30))
    assert isinstance(night, int) and isinstance(noon, int) and noon > night + 60


def test_init_image_colours_become_the_palette() -> None:
    source = Image.new("RGB", (200, 100), (20, 120, 220))
    source.paste((240, 200, 40), (0, 0, 60, 100))
    out = io.BytesIO()
    source.save(out, format="PNG")
    assert dominant_colours(out.getvalue())[:2] == ("#1478DC", "#F0C828")
    image = _image(render_preview(replace(CHARACTER, init_image=out.getvalue()))).convert("RGB")
    assert image.getpixel(SWATCH) == (20, 120, 220)


def _difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two renders' figure areas, 0 (same) to 255."""
    box = (160, 100, 864, 860)
    first, second = (_image(d).convert("L").crop(box) for d in (a, b))
    return float(ImageStat.Stat(ImageChops.difference(first, second)).mean[0])


def test_seeds_give_visibly_different_characters_and_each_seed_the_same_one() -> None:
    looks = [render_preview(replace(CHARACTER, seed=seed)) for seed in range(1, 5)]
    assert render_preview(replace(CHARACTER, seed=3)) == looks[2]
    pairs = [(a, b) for index, a in enumerate(looks) for b in looks[index + 1 :]]
    assert min(_difference(a, b) for a, b in pairs) > 8


def test_strength_says_how_much_of_the_init_image_shows_through() -> None:
    init = io.BytesIO()
    Image.new("RGB", (300, 400), (10, 200, 30)).save(init, format="PNG")
    at = {
        strength: _image(render_preview(replace(CHARACTER, init_image=init.getvalue(), strength=strength)))
        .convert("RGB")
        .getpixel((100, 500))
        for strength in (0.0, 0.5, 1.0)
    }
    assert at[0.0] == (10, 200, 30)
    halfway = [(a + b) / 2 for a, b in zip(at[0.0], at[1.0], strict=True)]
    assert at[1.0] != at[0.0] and at[0.5] == pytest.approx(halfway, abs=1)


async def test_bad_requests_fail_without_retry() -> None:
    generator = LocalImageGenerator()
    with pytest.raises(GenerationError) as caught:
        await generator.generate(replace(SCENE, init_image=b"not an image"))
    assert not caught.value.retryable
    with pytest.raises(GenerationError) as caught:
        await generator.generate(replace(SCENE, width=10_000))
    assert not caught.value.retryable


async def test_other_sizes_are_honoured() -> None:
    result = await LocalImageGenerator().generate(replace(SCENE, width=512, height=768))
    assert _image(result.data).size == (512, 768)


async def test_rendering_does_not_block_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await asyncio.gather(*(LocalImageGenerator().generate(replace(SCENE, seed=n)) for n in range(3)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ticks >= 2


def test_rendering_is_fast() -> None:
    render_preview(SCENE)
    started = time.perf_counter()
    for n in range(6):
        render_preview(replace(SCENE if n % 2 else CHARACTER, seed=n))
    assert (time.perf_counter() - started) / 6 < 0.5  # ~30 ms on a laptop core; generous for loaded CI
