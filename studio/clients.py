"""Clients of the external services, built once per process (per services container) and shared by every
backend that talks to the service: the SDXL generator, the img2prompt interrogator and the doctor all use one
Replicate client, with one Retry-After rule; the OpenAI interrogator and the doctor share one OpenAI client.
"""

from __future__ import annotations

import contextvars
import email.utils
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from studio.errors import ConfigurationError, GenerationError
from studio.generation.pace import Pace, account_key
from studio.settings import Settings

if TYPE_CHECKING:
    import openai
    from replicate.client import Client as ReplicateClient
    from replicate.exceptions import ReplicateError

    from studio.records.database import Database

T = TypeVar("T")

REPLICATE_TIMEOUT = httpx.Timeout(10.0, read=75.0, write=30.0, pool=30.0)
"""Reads may wait out a `Prefer: wait` of up to 60 s."""
PREFER_WAIT_SECONDS = 60

_RESETS_IN = re.compile(r"resets in ~?\s*(\d+(?:\.\d+)?)\s*s")
"""Replicate's 429 says when the limit resets in its detail (`Your rate limit resets in ~30s.`)."""

_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar("retry_after", default=None)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _remember_retry_after(response: httpx.Response) -> None:
    """The Replicate client's errors keep status and body only, so a 429's Retry-After is kept here."""
    if response.status_code == 429:
        _retry_after.set(parse_retry_after(response.headers.get("Retry-After")))


async def with_retry_after(
    call: Callable[[], Awaitable[T]],
) -> tuple[T | None, BaseException | None, float | None]:
    """Run one request; (result, error, the Retry-After a 429 on the way carried)."""
    _retry_after.set(None)
    try:
        return await call(), None, _retry_after.get()
    except Exception as error:  # the caller classifies it
        return None, error, _retry_after.get()


def resets_in(detail: str | None) -> float | None:
    """The seconds a 429's detail says the rate limit resets in, when it says so."""
    found = _RESETS_IN.search(detail or "")
    return float(found.group(1)) if found else None


def replicate_error(exc: ReplicateError, doing: str, retry_after: float | None = None) -> GenerationError:
    """A Replicate API error by its HTTP status: 429 and 5xx retryable, every other 4xx final. A 429 keeps
    when the limit resets: its Retry-After, else what its detail says."""
    status = exc.status
    said = exc.detail or exc.title or "no detail"
    if status == 429:
        return GenerationError(
            f"Replicate rate-limited {doing} (HTTP 429)",
            retryable=True,
            retry_after=retry_after if retry_after is not None else resets_in(exc.detail),
            reason="rate_limited",
        )
    if status is not None and status >= 500:
        return GenerationError(
            f"Replicate failed {doing} (HTTP {status}): {said}", retryable=True, reason="unavailable"
        )
    if status in (401, 403):
        return GenerationError(
            f"Replicate refused the API token (HTTP {status}) {doing}: check REPLICATE_API_TOKEN",
            retryable=False,
            reason="unauthorized",
        )
    return GenerationError(
        f"Replicate rejected {doing} (HTTP {status}): {said}",
        retryable=False,
        reason="invalid_input" if status == 422 else "rejected",
    )


class LoopLocalTransport(httpx.AsyncBaseTransport):
    """One connection pool per event loop behind a single transport: a process's one client may be used from
    the worker's loop and from a page's short-lived loop without sharing sockets between loops."""

    def __init__(self, factory: Callable[[], httpx.AsyncBaseTransport] | None = None) -> None:
        self._factory = factory or keep_alive_pool
        self._pools: weakref.WeakKeyDictionary[Any, httpx.AsyncBaseTransport] = weakref.WeakKeyDictionary()

    def _pool(self) -> httpx.AsyncBaseTransport:
        import asyncio

        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = self._factory()
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool().handle_async_request(request)

    async def aclose(self) -> None:
        import asyncio

        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()


def keep_alive_pool() -> httpx.AsyncHTTPTransport:
    """A kept-alive connection per concurrent call (httpx keeps 20), kept a minute between jobs (after httpx's
    5 s, every job after a pause would open all its connections again)."""
    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=512, keepalive_expiry=60)
    )


def replicate_client(
    api_token: str, base_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> ReplicateClient:
    """The official client, pointed at `base_url` when given, with the hook that keeps Retry-After."""
    from replicate.client import Client

    return Client(
        api_token=api_token,
        base_url=base_url or None,
        timeout=REPLICATE_TIMEOUT,
        transport=transport or LoopLocalTransport(),
        event_hooks={"response": [_remember_retry_after]},
    )


class Clients:
    """The process's clients, built on first use from the settings; `aclose` releases what the running event
    loop holds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._replicate: ReplicateClient | None = None
        self._replicate_transport = LoopLocalTransport()
        self._openai: weakref.WeakKeyDictionary[Any, openai.AsyncOpenAI] = weakref.WeakKeyDictionary()
        token, key = settings.replicate_api_token, settings.openai_api_key
        self.replicate_pace = Pace(
            account_key("replicate", token.get_secret_value() if token else None),
            settings.replicate_creates_per_minute,
            "REPLICATE_CREATES_PER_MINUTE",
        )
        """Creates of predictions on the Replicate account (the calls its rate limit counts)."""
        self.openai_pace = Pace(
            account_key("openai", key.get_secret_value() if key else None),
            settings.openai_requests_per_minute,
            "OPENAI_REQUESTS_PER_MINUTE",
        )

    def share_paces(self, db: Database) -> None:
        """Pace every account through the records, shared with every process that uses them."""
        self.replicate_pace.share(db)
        self.openai_pace.share(db)

    @property
    def replicate(self) -> ReplicateClient:
        if self._replicate is None:
            token = self.settings.replicate_api_token
            if token is None or not token.get_secret_value():
                raise ConfigurationError("Replicate needs REPLICATE_API_TOKEN; set it or use local backends")
            self._replicate = replicate_client(
                token.get_secret_value(), self.settings.replicate_base_url, self._replicate_transport
            )
        return self._replicate

    @property
    def openai(self) -> openai.AsyncOpenAI:
        """The OpenAI client of the running event loop (its HTTP stack keeps connections per loop)."""
        import asyncio

        import openai

        from studio.interrogation.openai import MAX_RETRIES, TIMEOUT_SECONDS

        key = self.settings.openai_api_key
        if key is None or not key.get_secret_value():
            raise ConfigurationError("OpenAI needs OPENAI_API_KEY; set it or use another interrogator")
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            loop = self
        client = self._openai.get(loop)
        if client is None:
            client = self._openai[loop] = openai.AsyncOpenAI(
                api_key=key.get_secret_value(),
                base_url=self.settings.openai_base_url,
                max_retries=MAX_RETRIES,
                timeout=TIMEOUT_SECONDS,
            )
        return client

    async def aclose(self) -> None:
        import asyncio

        await self._replicate_transport.aclose()
        client = self._openai.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()
