"""Interrogation by an image-to-prompt model on Replicate, pinned to one version (the original's was not).

The model answers one line of SDXL-style text; its first clause names the subject and the rest are style
tags, which is how the line is split into a description and style notes.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from studio.clients import replicate_error, with_retry_after
from studio.errors import GenerationError
from studio.generation.pace import Pace, paced
from studio.generation.pricing import PRICE_PER_SECOND, hardware_for, prediction_cost
from studio.interrogation.base import Interrogation
from studio.interrogation.data_url import data_url
from studio.settings import Settings

if TYPE_CHECKING:
    from replicate.client import Client as ReplicateClient

IMG2PROMPT_MODEL = "methexis-inc/img2prompt"
IMG2PROMPT_VERSION = "50adaf2d3ad20a6f911a8a9e3ccf777b263b8596fbd2c8fc26e8888f8a0edbb5"
"""Pinned; it runs on an Nvidia T4 (priced in studio.generation.pricing). `version`/`hardware` override."""
TIMEOUT_SECONDS = 120.0
TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def split_prompt(text: str) -> tuple[str, str]:
    """(character description, style notes): the first clause as a sentence, the remaining tags."""
    clauses = [c.strip() for c in text.replace("\n", " ").split(",") if c.strip()]
    if not clauses:
        return "", ""
    first = clauses[0].rstrip(".")
    description = first[0].upper() + first[1:] + "."
    return description, ", ".join(clauses[1:])


class ReplicateInterrogator:
    """img2prompt through the process's Replicate client (studio.clients)."""

    name = "replicate"

    def __init__(
        self,
        client: ReplicateClient,
        *,
        version: str = IMG2PROMPT_VERSION,
        model: str = IMG2PROMPT_MODEL,
        hardware: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        poll_interval: float = 0.5,
        pace: Pace | None = None,
    ) -> None:
        self._client = client
        self.pace = pace
        self.version = version.rpartition(":")[2]
        self.model = f"{model}:{self.version}"
        self.unit_price = PRICE_PER_SECOND[hardware or hardware_for(self.version)]
        self.timeout = timeout
        self.poll_interval = poll_interval

    @classmethod
    def from_settings(
        cls, settings: Settings, client: ReplicateClient, pace: Pace | None = None
    ) -> ReplicateInterrogator:
        return cls(client, timeout=settings.reference_gen_timeout, pace=pace)

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        return await self._predict(self._client, {"image": data_url(image)})

    async def _predict(self, client: ReplicateClient, inputs: dict[str, Any]) -> Interrogation:
        deadline = time.monotonic() + self.timeout
        created = await paced(lambda: self._create(client, inputs), self.pace, deadline=deadline)
        return await self._settle(client, created, time.monotonic())  # its own timeout, from its creation

    async def _create(self, client: ReplicateClient, inputs: dict[str, Any]) -> Prediction:
        created, error, retry_after = await with_retry_after(
            lambda: client.predictions.async_create(version=self.version, input=inputs)
        )
        if created is None:
            if isinstance(error, ReplicateError):
                raise replicate_error(error, "running img2prompt", retry_after) from error
            if isinstance(error, httpx.TransportError):
                raise GenerationError(
                    f"Replicate unreachable: {type(error).__name__}", retryable=True, reason="connection"
                ) from error
            assert error is not None
            raise error
        return created

    async def _settle(self, client: ReplicateClient, prediction: Prediction, started: float) -> Interrogation:
        try:
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
                        prediction_id=prediction.id,
                    )
                await asyncio.sleep(self.poll_interval)
                prediction = await client.predictions.async_get(prediction.id)
        except ReplicateError as exc:
            raise replicate_error(exc, "running img2prompt") from exc
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
                prediction_id=prediction.id,
                units=seconds,
            )
        output = prediction.output
        text = "".join(map(str, output)) if isinstance(output, list) else output
        if not isinstance(text, str) or not text.strip():
            raise GenerationError(
                f"img2prompt prediction {prediction.id} returned no text prompt",
                retryable=False,
                charged=cost,
                reason="invalid_answer",
                prediction_id=prediction.id,
                units=seconds,
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
            prediction_id=prediction.id,
        )
