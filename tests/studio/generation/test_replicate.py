"""The Replicate generator, with the real `replicate` client against the project's Replicate server."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from studio.clients import Clients, replicate_client
from studio.errors import ConfigurationError, GenerationError
from studio.generation.base import GenerationRequest, ImageGenerator
from studio.generation.pricing import ESTIMATE_PER_IMAGE, PRICE_PER_SECOND, prediction_cost
from studio.generation.replicate import ReplicateImageGenerator
from studio.settings import DEFAULT_SDXL_VERSION, Settings
from tests.servers.replicate import Faults, ReplicateServer

L40S = PRICE_PER_SECOND["gpu-l40s"]


def request(**changes: object) -> GenerationRequest:
    values: dict[str, object] = {
        "prompt": "a rooftop at dusk, neon, highly detailed",
        "negative_prompt": "blurry, static, low quality, distorted, watermark, text overlay",
        "seed": 1234,
        "kind": "scene",
        "subject": "rooftop",
        "label": "scene_rooftop",
    }
    values.update(changes)
    return GenerationRequest(**values)  # type: ignore[arg-type]


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


async def test_sends_the_seed_inputs_and_returns_the_downloaded_png(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    image = await generator.generate(request())

    assert isinstance(generator, ImageGenerator)
    (create,) = replicate_server.creates
    assert create.version == DEFAULT_SDXL_VERSION
    assert create.prefer == "wait=5"
    assert create.input == {
        "prompt": "a rooftop at dusk, neon, highly detailed",
        "negative_prompt": "blurry, static, low quality, distorted, watermark, text overlay",
        "width": 1024,
        "height": 1024,
        "num_outputs": 1,
        "guidance_scale": 7.5,
        "num_inference_steps": 30,
        "scheduler": "K_EULER",
        "seed": 1234,
    }
    assert image.content_type == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (32, 32)
    assert image.provider == "replicate"
    assert image.model == f"stability-ai/sdxl:{DEFAULT_SDXL_VERSION}" == generator.model_version
    (charge,) = replicate_server.charges()
    assert image.prediction_id == charge.prediction_id
    assert image.units == Decimal(str(charge.predict_time)) > 0
    assert image.unit_price == L40S
    assert image.cost == charge.cost == prediction_cost(image.units, L40S)


async def test_init_image_goes_as_a_data_url_with_its_true_type(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    jpeg = image_bytes("JPEG")
    await generator.generate(request(init_image=jpeg))

    sent = replicate_server.creates[0].input
    assert sent["image"] == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert sent["prompt_strength"] == pytest.approx(0.8)


async def test_a_requested_strength_is_sent_and_an_impossible_one_refused(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    jpeg = image_bytes("JPEG")
    await generator.generate(request(init_image=jpeg, strength=0.35))
    assert replicate_server.creates[0].input["prompt_strength"] == pytest.approx(0.35)
    with pytest.raises(GenerationError) as refused:
        await generator.generate(request(init_image=jpeg, strength=1.5))
    assert not refused.value.retryable and "prompt_strength" in str(refused.value)


async def test_output_url_is_downloaded_and_typed_by_its_bytes(replicate_server: ReplicateServer) -> None:
    webp = image_bytes("WEBP")
    url = replicate_server.add_file("out-0.png", webp, "image/png")
    replicate_server.add_version("a" * 64, lambda _inputs: [url])
    generator = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), version="a" * 64, timeout=5
    )
    try:
        image = await generator.generate(request())
    finally:
        await generator.aclose()
    assert image.data == webp
    assert image.content_type == "image/webp"


async def test_rate_limit_is_retryable_after_the_servers_retry_after(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    replicate_server.faults = Faults(rate_limited=1.0, retry_after=0.25)
    with pytest.raises(GenerationError) as caught:
        await generator.generate(request())
    assert caught.value.retryable
    assert caught.value.reason == "rate_limited"
    assert caught.value.retry_after == pytest.approx(0.25)
    assert caught.value.charged == 0
    assert replicate_server.created == 0


async def test_rate_limit_without_the_hook_is_still_retryable(replicate_server: ReplicateServer) -> None:
    from replicate.client import Client

    replicate_server.faults = Faults(rate_limited=1.0)
    transport = httpx.AsyncHTTPTransport()
    client = Client(replicate_server.token, base_url=replicate_server.base_url, transport=transport)
    generator = ReplicateImageGenerator(client)
    try:
        with pytest.raises(GenerationError) as caught:
            await generator.generate(request())
    finally:
        await transport.aclose()
    assert caught.value.retryable
    assert caught.value.retry_after == 1.0, "the reset the answer's detail names (resets in ~1s)"


async def test_service_unavailable_is_retryable(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    replicate_server.faults = Faults(unavailable=1.0)
    with pytest.raises(GenerationError) as caught:
        await generator.generate(request())
    assert caught.value.retryable
    assert caught.value.reason == "unavailable"


async def test_invalid_input_is_final(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    with pytest.raises(GenerationError) as caught:
        await generator.generate(request(width=4096))
    assert not caught.value.retryable
    assert caught.value.reason == "invalid_input"
    assert "input.width" in str(caught.value)
    assert replicate_server.created == 0


async def test_unknown_version_is_final(replicate_server: ReplicateServer) -> None:
    generator = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), version="f" * 64
    )
    try:
        with pytest.raises(GenerationError) as caught:
            await generator.generate(request())
    finally:
        await generator.aclose()
    assert not caught.value.retryable
    assert caught.value.reason == "invalid_input"


async def test_failed_prediction_is_retryable_and_charged(
    generator: ReplicateImageGenerator, replicate_server: ReplicateServer
) -> None:
    replicate_server.faults = Faults(failed=1.0)
    with pytest.raises(GenerationError) as caught:
        await generator.generate(request())
    assert caught.value.retryable
    assert caught.value.reason == "prediction_failed"
    (charge,) = replicate_server.charges()
    assert charge.status == "failed"
    assert caught.value.charged == charge.cost > 0


@pytest.mark.parametrize("later", [False, True], ids=["cost in the cancel's answer", "cost reported later"])
async def test_timeout_cancels_the_prediction_and_is_final(
    replicate_server: ReplicateServer, later: bool
) -> None:
    """The call is charged what the provider reports, however late it reports it (not the elapsed time)."""
    replicate_server.faults = Faults(hung=1.0, cost_reported_later=later)
    generator = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), timeout=1.2, poll_interval=0.05
    )
    started = time.monotonic()
    try:
        with pytest.raises(GenerationError) as caught:
            await generator.generate(request())
    finally:
        await generator.aclose()
    assert 1.2 <= time.monotonic() - started < 2.5
    assert not caught.value.retryable
    assert caught.value.reason == "timeout"
    (prediction_id,) = replicate_server.cancel_requests
    assert replicate_server.cancelled == 1
    (charge,) = replicate_server.charges()
    assert charge.prediction_id == prediction_id
    assert caught.value.charged == charge.cost and caught.value.units == Decimal(str(charge.predict_time))
    assert charge.cost <= generator.max_cost(request())


async def test_short_timeout_polls_without_holding_the_create(replicate_server: ReplicateServer) -> None:
    generator = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), timeout=0.9, poll_interval=0.02
    )
    try:
        image = await generator.generate(request())
    finally:
        await generator.aclose()
    assert replicate_server.creates[0].prefer is None
    assert image.content_type == "image/png"


@pytest.mark.parametrize("limit", [0.9, 1.5], ids=["while polling", "while the create is held"])
async def test_cancelling_the_task_abandons_the_prediction_and_still_reports_its_id(
    replicate_server: ReplicateServer, limit: float
) -> None:
    """A caller that goes away (a worker handing its job back) leaves the call to whoever adopts it."""
    replicate_server.faults = Faults(hung=1.0)
    generator = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), timeout=limit, poll_interval=0.02
    )
    reported: list[str] = []
    task = asyncio.create_task(generator.generate(request(), reported.append))
    for _ in range(200):
        if replicate_server.created:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await generator.aclose()
    assert replicate_server.cancelled == 0
    assert reported == list(replicate_server.predictions)


async def test_an_abandoned_prediction_is_found_and_adopted_not_paid_again(
    replicate_server: ReplicateServer,
) -> None:
    replicate_server.latency = 0.3
    replicate_server.page_size = 2  # the search pages through the list
    client = replicate_client(replicate_server.token, replicate_server.base_url)
    since = datetime.now(UTC) - timedelta(seconds=5)
    first = ReplicateImageGenerator(client, timeout=5, poll_interval=0.02)
    others = [first.generate(request(seed=2)), first.generate(request(prompt="another place"))]
    task = asyncio.create_task(first.generate(request()))
    await asyncio.gather(*others)
    for _ in range(500):
        if replicate_server.created >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    taker = ReplicateImageGenerator(client, timeout=5, poll_interval=0.02)
    found = await taker.find(request(), since)
    assert len(found) == 1
    settled = await taker.adopt(found[0], request())
    image = await settled.fetch()
    await first.aclose()
    await taker.aclose()
    assert image.prediction_id == found[0] and image.content_type == "image/png"
    assert replicate_server.created == 3, "nothing was requested again"
    charge = next(c for c in replicate_server.charges() if c.prediction_id == found[0])
    assert image.cost == charge.cost
    assert await taker.find(request(), datetime.now(UTC)) == [], "only predictions since the given moment"


async def test_cancel_stops_a_running_prediction_which_then_reports_its_cost(
    replicate_server: ReplicateServer,
) -> None:
    replicate_server.faults = Faults(hung=1.0)
    generator = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), timeout=30, poll_interval=0.02
    )
    reported: list[str] = []
    task = asyncio.create_task(generator.generate(request(), reported.append))
    for _ in range(500):
        if replicate_server.created:
            break
        await asyncio.sleep(0.01)
    (prediction_id,) = list(replicate_server.predictions)
    await generator.cancel(prediction_id)
    with pytest.raises(GenerationError) as caught:
        await task
    await generator.aclose()
    assert caught.value.reason == "canceled" and not caught.value.retryable
    assert caught.value.prediction_id == prediction_id
    assert reported == [], "the answer came when the call had ended: its id comes with its error"
    (charge,) = replicate_server.charges()
    assert caught.value.charged == charge.cost > 0 and caught.value.units == Decimal(str(charge.predict_time))


async def test_wrong_token_is_a_clear_final_error(replicate_server: ReplicateServer) -> None:
    generator = ReplicateImageGenerator(replicate_client("r8_wrong_token", replicate_server.base_url))
    try:
        with pytest.raises(GenerationError) as caught:
            await generator.generate(request())
    finally:
        await generator.aclose()
    assert not caught.value.retryable
    assert caught.value.reason == "unauthorized"
    assert "REPLICATE_API_TOKEN" in str(caught.value)
    assert "r8_wrong_token" not in str(caught.value)


async def test_unreachable_server_is_a_retryable_network_error() -> None:
    with ReplicateServer() as server:
        base_url = server.base_url
    transport = httpx.AsyncHTTPTransport()
    generator = ReplicateImageGenerator(replicate_client("r8_token", base_url, transport))
    try:
        with pytest.raises(GenerationError) as caught:
            await generator.generate(request())
    finally:
        await transport.aclose()
    assert caught.value.retryable
    assert caught.value.reason == "network"


def test_costs_come_from_the_timeout_and_the_estimate() -> None:
    generator = ReplicateImageGenerator(replicate_client("r8_token"), timeout=120)
    assert generator.max_cost(request()) == prediction_cost(Decimal("122"), L40S)
    assert generator.estimated_cost(request()) == ESTIMATE_PER_IMAGE


def test_missing_token_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="REPLICATE_API_TOKEN"):
        ReplicateImageGenerator.from_settings(Settings(), Clients(Settings()).replicate)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [("production", "b" * 64), ("development", "c" * 64)],
)
async def test_model_version_follows_the_settings(
    replicate_server: ReplicateServer, monkeypatch: pytest.MonkeyPatch, environment: str, expected: str
) -> None:
    for version in ("b" * 64, "c" * 64):
        replicate_server.add_version(version)
    monkeypatch.setenv("REPLICATE_API_TOKEN", replicate_server.token)
    monkeypatch.setenv("REPLICATE_BASE_URL", replicate_server.base_url)
    monkeypatch.setenv("REFERENCE_MODEL_VERSION", "b" * 64)
    monkeypatch.setenv("REFERENCE_MODEL_DEV", "c" * 64)
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("REFERENCE_GEN_TIMEOUT", "7")
    settings = Settings()
    generator = ReplicateImageGenerator.from_settings(settings, Clients(settings).replicate)
    try:
        await generator.generate(request())
    finally:
        await generator.aclose()
    assert generator.model_version == f"stability-ai/sdxl:{expected}"
    assert generator.timeout == 7
    assert replicate_server.creates[0].version == expected


def test_pinned_version_by_default() -> None:
    settings = Settings(replicate_api_token="r8_token")
    generator = ReplicateImageGenerator.from_settings(settings, Clients(settings).replicate)
    assert generator.model_version == f"stability-ai/sdxl:{DEFAULT_SDXL_VERSION}"
