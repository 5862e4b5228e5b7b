"""Interrogation by an image-to-prompt model on Replicate, pinned to one version (the original's was not).

The model answers one line of SDXL-style text; its first clause names the subject and the rest are style
tags, which is how the line is split into a description and style notes.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from decimal import Decimal
from typing import Any

import httpx
from replicate.client import Client as ReplicateClient
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from studio.errors import ConfigurationError, GenerationError
from studio.generation.pricing import PRICE_PER_SECOND, hardware_for, prediction_cost
from studio.interrogation.base import Interrogation
from studio.interrogation.data_url import data_url
from studio.settings import Settings

IMG2PROMPT_MODEL = "methexis-inc/img2prompt"
IMG2PROMPT_VERSION = "50adaf2d3ad20a6f911a8a9e3ccf777b263b8596fbd2c8fc26e8888f8a0edbb5"
"""Pinned; it runs on an Nvidia T4 (priced in studio.generation.pricing). `version`/`hardware` override."""
TIMEOUT_SECONDS = 120.0
TERMINAL = frozenset({"succeeded", "failed", "canceled"})

_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "img2prompt_retry_after", default=None
)


async def _remember_retry_after(response: httpx.Response) -> None:
    """ReplicateError keeps no headers, so a 429's Retry-After is kept here for the task that called."""
    if response.status_code == 429:
        try:
            _retry_after.set(max(0.0, float(response.headers.get("Retry-After", ""))))
        except ValueError:
            _retry_after.set(None)


def split_prompt(text: str) -> tuple[str, str]:
    """(character description, style notes): the first clause as a sentence, the remaining tags."""
    clauses = [c.strip() for c in text.replace("\n", " ").split(",") if c.strip()]
    if not clauses:
        return "", ""
    first = clauses[0].rstrip(".")
    description = first[0].upper() + first[1:] + "."
    return description, ", ".join(clauses[1:])


class ReplicateInterrogator:
    """img2prompt through the official client; pass `client` to point it anywhere (tests do)."""

    name = "replicate"

    def __init__(
        self,
        client: ReplicateClient | None = None,
        *,
        api_token: str | None = None,
        base_url: str | None = None,
        version: str = IMG2PROMPT_VERSION,
        model: str = IMG2PROMPT_MODEL,
        hardware: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        poll_interval: float = 0.5,
    ) -> None:
        if client is None and not api_token:
            raise ConfigurationError(
                "the replicate interrogator needs REPLICATE_API_TOKEN; set it or use 'local'"
            )
        self._client = client
        self._api_token = api_token
        self._base_url = base_url
        self.version = version.rpartition(":")[2]
        self.model = f"{model}:{self.version}"
        self.unit_price = PRICE_PER_SECOND[hardware or hardware_for(self.version)]
        self.timeout = timeout
        self.poll_interval = poll_interval

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicateInterrogator:
        token = settings.replicate_api_token.get_secret_value() if settings.replicate_api_token else None
        return cls(
            api_token=token, base_url=settings.replicate_base_url, timeout=settings.reference_gen_timeout
        )

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        inputs = {"image": data_url(image)}
        if self._client is not None:
            return await self._predict(self._client, inputs)
        async with httpx.AsyncHTTPTransport() as transport:
            client = ReplicateClient(
                api_token=self._api_token,
                base_url=self._base_url or None,
                transport=transport,
                event_hooks={"response": [_remember_retry_after]},
            )
            return await self._predict(client, inputs)

    async def _predict(self, client: ReplicateClient, inputs: dict[str, Any]) -> Interrogation:
        started = time.monotonic()
        _retry_after.set(None)
        try:
            prediction = await client.predictions.async_create(version=self.version, input=inputs)
            while prediction.status not in TERMINAL:
                if time.monotonic() - started > self.timeout:
                    await client.predictions.async_cancel(prediction.id)
                    raise GenerationError(
                        f"img2prompt prediction {prediction.id} cancelled at the {self.timeout:g} s timeout",
                        retryable=True,
                        charged=prediction_cost(
                            Decimal(str(round(time.monotonic() - started, 3))), self.unit_price
                        ),
                        reason="timeout",
                    )
                await asyncio.sleep(self.poll_interval)
                prediction = await client.predictions.async_get(prediction.id)
        except ReplicateError as exc:
            raise self._api_error(exc) from exc
        except httpx.TransportError as exc:
            raise GenerationError(
                f"Replicate unreachable: {type(exc).__name__}", retryable=True, reason="connection"
            ) from exc
        return self._answer(prediction)

    def _answer(self, prediction: Prediction) -> Interrogation:
        seconds = Decimal(str((prediction.metrics or {}).get("predict_time", 0)))
        cost = prediction_cost(seconds, self.unit_price)
        if prediction.status != "succeeded":
            raise GenerationError(
                f"img2prompt prediction {prediction.id} {prediction.status}: {prediction.error}",
                retryable=prediction.status == "failed",
                charged=cost,
                reason="prediction_failed" if prediction.status == "failed" else "canceled",
            )
        output = prediction.output
        text = "".join(map(str, output)) if isinstance(output, list) else output
        if not isinstance(text, str) or not text.strip():
            raise GenerationError(
                f"img2prompt prediction {prediction.id} returned no text prompt",
                retryable=False,
                charged=cost,
                reason="invalid_answer",
            )
        prompt = " ".join(text.split())
        description, style_notes = split_prompt(prompt)
        return Interrogation(
            prompt=prompt,
            character_description=description,
            style_notes=style_notes,
            source=self.name,
            model=self.model,
            cost=cost,
            units=seconds,
        )

    def _api_error(self, exc: ReplicateError) -> GenerationError:
        """By HTTP status: 429 and 5xx retryable, every other 4xx final."""
        status = exc.status
        said = exc.detail or exc.title or "no detail"
        if status == 429:
            return GenerationError(
                "Replicate rate-limited img2prompt (HTTP 429)",
                retryable=True,
                retry_after=_retry_after.get(),
                reason="rate_limited",
            )
        if status is not None and status >= 500:
            return GenerationError(
                f"Replicate failed (HTTP {status}): {said}", retryable=True, reason="server_error"
            )
        return GenerationError(
            f"Replicate rejected img2prompt (HTTP {status}): {said}",
            retryable=False,
            reason="auth" if status in (401, 403) else "rejected",
        )
