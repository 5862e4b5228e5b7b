"""The Replicate test server, driven by the real client: auth, versions, concurrency, faults, cleanup."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.version import Versions

from studio.settings import DEFAULT_SDXL_VERSION
from tests.servers.replicate import Faults, ReplicateServer, Throttle


@pytest.fixture
async def client(replicate_server: ReplicateServer) -> AsyncIterator[Client]:
    transport = httpx.AsyncHTTPTransport()
    yield Client(replicate_server.token, base_url=replicate_server.base_url, transport=transport)
    await transport.aclose()


async def test_account_and_version_need_the_token(replicate_server: ReplicateServer, client: Client) -> None:
    account = await client.accounts.async_current()
    assert account.username == "studio-test"
    version = await Versions(client, "stability-ai/sdxl").async_get(DEFAULT_SDXL_VERSION)
    assert version.id == DEFAULT_SDXL_VERSION

    transport = httpx.AsyncHTTPTransport()
    stranger = Client("r8_wrong", base_url=replicate_server.base_url, transport=transport)
    with pytest.raises(ReplicateError) as caught:
        await stranger.accounts.async_current()
    await transport.aclose()
    assert caught.value.status == 401


async def test_holds_32_creates_at_once_until_done(replicate_server: ReplicateServer, client: Client) -> None:
    replicate_server.latency = 0.3
    started = time.monotonic()
    predictions = await asyncio.gather(
        *(
            client.predictions.async_create(version=DEFAULT_SDXL_VERSION, input={"prompt": f"p{n}"}, wait=5)
            for n in range(32)
        )
    )
    assert time.monotonic() - started < 0.3 * 2.5
    assert {p.status for p in predictions} == {"succeeded"}
    assert all(p.output and p.output[0].startswith("data:image/png;base64,") for p in predictions)
    assert replicate_server.max_in_flight() == 32
    assert len(replicate_server.charges()) == 32


async def test_faults_depend_on_the_request_not_the_order(client: Client) -> None:
    async def fates(order: list[int]) -> dict[int, str]:
        with ReplicateServer(latency=0.01, faults=Faults(rate_limited=0.3, failed=0.3, seed=7)) as server:
            transport = httpx.AsyncHTTPTransport()
            own = Client(server.token, base_url=server.base_url, transport=transport)
            seen: dict[int, str] = {}
            for n in order:
                try:
                    p = await own.predictions.async_create(
                        version=DEFAULT_SDXL_VERSION, input={"prompt": f"p{n}"}, wait=1
                    )
                    seen[n] = p.status
                except ReplicateError as exc:
                    seen[n] = str(exc.status)
            await transport.aclose()
            return seen

    forward = await fates(list(range(30)))
    assert await fates(list(reversed(range(30)))) == forward
    assert {"succeeded", "failed", "429"} <= set(forward.values())


async def test_per_request_limit_makes_faults_transient(
    replicate_server: ReplicateServer, client: Client
) -> None:
    replicate_server.faults = Faults(unavailable=1.0, per_request=1)
    with pytest.raises(ReplicateError):
        await client.predictions.async_create(version=DEFAULT_SDXL_VERSION, input={"prompt": "x"}, wait=1)
    again = await client.predictions.async_create(version=DEFAULT_SDXL_VERSION, input={"prompt": "x"}, wait=1)
    assert again.status == "succeeded"


async def test_hung_prediction_runs_until_cancelled_and_is_charged(
    replicate_server: ReplicateServer, client: Client
) -> None:
    replicate_server.faults = Faults(hang_when=lambda inputs: inputs["prompt"] == "stuck")
    p = await client.predictions.async_create(version=DEFAULT_SDXL_VERSION, input={"prompt": "stuck"})
    await asyncio.sleep(0.1)
    assert (await client.predictions.async_get(p.id)).status == "processing"
    cancelled = await client.predictions.async_cancel(p.id)
    assert cancelled.status == "canceled"
    (charge,) = replicate_server.charges()
    assert charge.status == "canceled"
    assert charge.predict_time == cancelled.metrics["predict_time"]
    assert charge.predict_time >= 0.1


def test_stop_joins_every_thread_even_with_open_connections() -> None:
    before = threading.active_count()
    server = ReplicateServer().start()
    connection = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.token}"})
    assert connection.get("/v1/account").status_code == 200
    server.stop()
    connection.close()
    assert threading.active_count() == before


async def test_throttle_refuses_creates_past_the_account_limit_with_its_reset(
    replicate_server: ReplicateServer, client: Client
) -> None:
    replicate_server.throttle = Throttle(((3, 60.0),))
    for n in range(3):
        await client.predictions.async_create(version=DEFAULT_SDXL_VERSION, input={"prompt": f"p{n}"})
    async with httpx.AsyncClient(base_url=replicate_server.base_url) as raw:
        refused = await raw.post(
            "/v1/predictions",
            json={"version": DEFAULT_SDXL_VERSION, "input": {"prompt": "p3"}},
            headers={"Authorization": f"Bearer {replicate_server.token}"},
        )
    assert refused.status_code == 429
    assert 58 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["detail"] == "Request was throttled. Your rate limit resets in ~60s."
    assert (replicate_server.throttled, replicate_server.created) == (1, 3)
