"""The model catalogue: a reference-conditioned model on its own endpoint, priced per image, and images that
travel as the provider wants (URL, small data URL, files API), through the real client and test server."""

from __future__ import annotations

import base64
import io
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PIL import Image, ImageStat

from studio.errors import GenerationError, InvalidInput
from studio.generation.base import GenerationRequest, ReferenceImage
from studio.generation.local import LocalImageGenerator
from studio.generation.models import (
    CATALOGUE,
    MAX_INLINE_BYTES,
    NANO_BANANA_2,
    SDXL,
    aspect_ratio,
    image_model,
)
from studio.generation.replicate import ReplicateImageGenerator
from tests.servers.replicate import ReplicateServer

NANO = CATALOGUE[NANO_BANANA_2]


def png(colour: tuple[int, int, int], size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def big_png() -> bytes:
    """A PNG over 1 MB (noise does not compress)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (640, 640), os.urandom(640 * 640 * 3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) > MAX_INLINE_BYTES
    return data


def request(**changes: object) -> GenerationRequest:
    values: dict[str, object] = {
        "prompt": "the singer in a red coat, studio light",
        "negative_prompt": "blurry",
        "seed": 7,
        "kind": "character",
        "subject": "the singer",
        "label": "song:s1:r1-1",
    }
    values.update(changes)
    return GenerationRequest(**values)  # type: ignore[arg-type]


def test_the_catalogue_names_how_each_model_is_called_and_priced() -> None:
    assert image_model(None).name == SDXL
    assert (image_model(SDXL).endpoint, image_model(SDXL).pricing, image_model(SDXL).seed) == (
        "version", "per_second", True,
    )  # fmt: skip
    assert (NANO.endpoint, NANO.pricing, NANO.output, NANO.max_references, NANO.seed) == (
        "model", "per_image", "uri", 14, False,
    )  # fmt: skip
    assert aspect_ratio(1024, 1024) == "1:1" and aspect_ratio(1920, 1080) == "16:9"
    with pytest.raises(InvalidInput, match="model: unknown model 'owner/none'"):
        image_model("owner/none")


async def test_a_conditioned_model_gets_its_references_as_image_input_and_costs_one_image(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    references = (
        ReferenceImage(png((200, 0, 0)), name="pose-a"),
        ReferenceImage(big_png(), name="look:r1-1"),
        ReferenceImage(b"", url="https://example.supabase.co/sign/pose-b.png?token=t", name="pose-b"),
    )
    made = request(model=NANO_BANANA_2, references=references)
    with pytest.raises(GenerationError) as refused:  # the server cannot fetch that URL: it says so
        await generator.generate(made)
    assert "image_input.2" in str(refused.value)
    served = replicate_server.add_file("pose-b.png", png((0, 0, 200)), "image/png")
    references = (*references[:2], ReferenceImage(b"", url=served, name="pose-b"))
    image = await generator.generate(request(model=NANO_BANANA_2, references=references))

    sent = replicate_server.creates[-1]
    assert sent.version == NANO_BANANA_2 and sent.answered == 201
    assert set(sent.input) == {"prompt", "image_input", "aspect_ratio", "resolution", "output_format"}
    first, second, third = sent.input["image_input"]
    assert first.startswith("data:image/png;base64,")
    assert second.startswith(f"{replicate_server.base_url}/files/")  # over 1 MB: the files API
    assert third == served
    assert sent.input["output_format"] == "png" and sent.input["aspect_ratio"] == "1:1"
    assert [size for _, size, _ in replicate_server.uploads] == [len(references[1].data)]
    assert (image.model, image.cost, image.units, image.unit_name) == (
        NANO_BANANA_2, NANO.price_per_image, Decimal(1), "image",
    )  # fmt: skip
    assert image.content_type == "image/png"
    assert replicate_server.charged_total() == NANO.price_per_image
    assert generator.max_cost(made) == NANO.price_per_image


async def test_sdxl_sends_an_init_image_over_1_mb_as_an_uploaded_file_once(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    init = big_png()
    await generator.generate(request(init_image=init, strength=0.5))
    await generator.generate(request(init_image=init, strength=0.5, seed=8))
    creates = [create for create in replicate_server.creates if create.answered == 201]
    assert all(create.input["image"].startswith(replicate_server.base_url) for create in creates)
    assert len(replicate_server.uploads) == 1


def test_the_server_refuses_a_data_url_of_1_mb_or_more(replicate_server: ReplicateServer) -> None:
    status, body, _ = replicate_server.create_for_model(
        NANO_BANANA_2,
        {"prompt": "x", "image_input": ["data:image/png;base64," + base64.b64encode(big_png()).decode()]},
        None,
    )
    assert status == 422 and "1 MB" in body["detail"]


async def test_the_offline_preview_draws_from_the_reference_images() -> None:
    local = LocalImageGenerator()
    red = (ReferenceImage(png((220, 20, 20), 64), name="pose-a"),)
    blue = (ReferenceImage(png((20, 20, 220), 64), name="pose-a"),)
    from_red = await local.generate(request(model=NANO_BANANA_2, references=red, width=256, height=256))
    from_blue = await local.generate(request(model=NANO_BANANA_2, references=blue, width=256, height=256))

    def mean(data: bytes) -> tuple[float, ...]:
        with Image.open(io.BytesIO(data)) as image:
            return tuple(ImageStat.Stat(image.convert("RGB")).mean)

    assert mean(from_red.data)[0] > mean(from_blue.data)[0]
    assert mean(from_blue.data)[2] > mean(from_red.data)[2]
    assert from_red.model == f"local-preview-1 as {NANO_BANANA_2}"


async def test_a_conditioned_prediction_is_found_adopted_and_timed_out_without_charge(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    made = request(model=NANO_BANANA_2, references=(ReferenceImage(png((9, 9, 9)), name="pose-a"),))
    since = datetime.now(UTC) - timedelta(seconds=5)
    first = await generator.predict(made)
    assert await generator.find(made, since) == [first.prediction_id]
    assert await generator.find(request(model=NANO_BANANA_2, prompt="another"), since) == []
    assert first.prediction_id is not None
    adopted = await generator.adopt(first.prediction_id, made)
    assert (adopted.cost, adopted.unit_name) == (NANO.price_per_image, "image")

    replicate_server.faults.hang_when = lambda inputs: inputs.get("prompt") == "hangs"
    generator.timeout = 0.3
    with pytest.raises(GenerationError) as timed_out:
        await generator.predict(request(model=NANO_BANANA_2, prompt="hangs"))
    assert timed_out.value.reason == "timeout" and timed_out.value.charged == 0
    assert replicate_server.cancelled == 1
