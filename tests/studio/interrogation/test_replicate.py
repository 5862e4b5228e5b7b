"""Contract: the real replicate client against the local Replicate-compatible server, img2prompt pinned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from replicate.client import Client

from studio.clients import Clients, replicate_client
from studio.errors import ConfigurationError, GenerationError
from studio.generation.pricing import PRICE_PER_SECOND
from studio.interrogation.replicate import (
    IMG2PROMPT_MODEL,
    IMG2PROMPT_VERSION,
    ReplicateInterrogator,
    split_prompt,
)
from studio.settings import Settings
from tests.servers.replicate import Faults, ReplicateServer
from tests.studio.interrogation.images import figure

ANSWER = (
    "a woman in a red dress standing on a white background, by artgerm, trending on artstation, digital art"
)


def img2prompt(inputs: dict[str, Any]) -> str:
    assert str(inputs["image"]).startswith("data:image/")
    return ANSWER


@pytest.fixture
def server(replicate_server: ReplicateServer) -> ReplicateServer:
    replicate_server.add_version(IMG2PROMPT_VERSION, img2prompt, model=IMG2PROMPT_MODEL)
    return replicate_server


@pytest.fixture
async def client(server: ReplicateServer) -> AsyncIterator[Client]:
    async with httpx.AsyncHTTPTransport() as transport:
        yield Client(api_token=server.token, base_url=server.base_url, transport=transport)


def interrogator(client: Client, **options: Any) -> ReplicateInterrogator:
    return ReplicateInterrogator(client, poll_interval=0.01, **options)


async def test_prompt_is_split_and_priced_by_predict_time(server: ReplicateServer, client: Client) -> None:
    result = await interrogator(client).interrogate(figure(fmt="JPEG"), "image/jpeg")
    assert result.source == "replicate"
    assert result.model == f"{IMG2PROMPT_MODEL}:{IMG2PROMPT_VERSION}"
    assert result.prompt == ANSWER
    assert result.character_description == "A woman in a red dress standing on a white background."
    assert result.style_notes == "by artgerm, trending on artstation, digital art"
    [charge] = server.charges()
    assert result.units == Decimal(str(charge.predict_time)) > 0
    assert result.cost == (result.units * PRICE_PER_SECOND["gpu-t4"]).quantize(Decimal("0.000000001"))
    [create] = server.creates
    assert create.version == IMG2PROMPT_VERSION
    assert create.input["image"].startswith("data:image/jpeg;base64,")


async def test_failed_prediction_is_charged_and_retryable(server: ReplicateServer, client: Client) -> None:
    server.faults = Faults(failed=1.0)
    with pytest.raises(GenerationError) as caught:
        await interrogator(client).interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == ("prediction_failed", True)
    assert caught.value.charged > 0


async def test_rate_limits_are_waited_out_without_failing(server: ReplicateServer) -> None:
    server.faults = Faults(rate_limited=1.0, retry_after=0.05, per_request=2)
    built = ReplicateInterrogator(replicate_client(server.token, server.base_url), poll_interval=0.01)
    answer = await built.interrogate(figure(), "image/png")
    assert answer.prediction_id is not None
    assert (server.answered[429], server.answered[201]) == (2, 1)


async def test_hung_prediction_is_cancelled_at_the_timeout(server: ReplicateServer, client: Client) -> None:
    server.faults = Faults(hung=1.0)
    with pytest.raises(GenerationError) as caught:
        await interrogator(client, timeout=0.2).interrogate(figure(), "image/png")
    assert caught.value.reason == "timeout"
    assert server.cancelled == 1


async def test_unknown_version_is_rejected(server: ReplicateServer, client: Client) -> None:
    with pytest.raises(GenerationError) as caught:
        await interrogator(client, version="0" * 64).interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == ("invalid_input", False)


async def test_the_process_client_honours_base_url_and_token(server: ReplicateServer) -> None:
    settings = Settings(replicate_api_token=server.token, replicate_base_url=server.base_url)
    built = ReplicateInterrogator.from_settings(settings, Clients(settings).replicate)
    built.poll_interval = 0.01
    result = await built.interrogate(figure(), "image/png")
    assert result.prompt == ANSWER
    wrong = ReplicateInterrogator(replicate_client("r8_wrong", server.base_url))
    with pytest.raises(GenerationError) as caught:
        await wrong.interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == ("unauthorized", False)


def test_without_a_token_it_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="REPLICATE_API_TOKEN"):
        ReplicateInterrogator.from_settings(Settings(), Clients(Settings()).replicate)


def test_one_replicate_client_serves_the_generator_and_the_interrogator(server: ReplicateServer) -> None:
    from studio.services import build_services

    settings = Settings(
        replicate_api_token=server.token, replicate_base_url=server.base_url, interrogator="replicate,local"
    )
    services = build_services(settings)
    try:
        replicate = services.interrogators[0]
        assert isinstance(replicate, ReplicateInterrogator)
        assert replicate._client is services.generator.client is services.clients.replicate  # type: ignore[attr-defined]
    finally:
        services.close()


def test_split_prompt_of_a_single_clause() -> None:
    assert split_prompt("a knight in silver armour") == ("A knight in silver armour.", "")
