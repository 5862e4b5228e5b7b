"""SDXL on Replicate (official client): one prediction a call, cancelled at the timeout, priced by metrics."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import contextvars
import email.utils
import time
from decimal import Decimal
from typing import Any

import httpx
from replicate.client import Client as ReplicateClient
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from studio.errors import ConfigurationError, GenerationError
from studio.generation.base import GeneratedImage, GenerationRequest
from studio.generation.pricing import ESTIMATE_PER_IMAGE, hardware_for, prediction_cost, price_per_second
from studio.settings import DEFAULT_SDXL_VERSION, Settings

SDXL_MODEL = "stability-ai/sdxl"
PROMPT_STRENGTH = 0.8
"""How far SDXL img2img may move away from an init image (1.0 ignores it)."""
CANCEL_GRACE_SECONDS = 2.0
"""Predict time a cancelled prediction may still bill past the timeout (poll gap + the cancel round trip)."""
TERMINAL = frozenset({"succeeded", "failed", "canceled"})

_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "replicate_retry_after", default=None
)


def _parse_retry_after(value: str | None) -> float | None:
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
    """ReplicateError keeps only status and body, so a 429's Retry-After header is kept here for this task."""
    if response.status_code == 429:
        _retry_after.set(_parse_retry_after(response.headers.get("Retry-After")))


def connection_pool() -> httpx.AsyncHTTPTransport:
    """One kept-alive connection per concurrent prediction (httpx keeps 20; more reconnect each call)."""
    return httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=256, max_keepalive_connections=256))


def build_client(
    api_token: str, base_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> ReplicateClient:
    """The official client (async API), pointed at `base_url` when given, with the hook keeping Retry-After.

    Whoever passes `transport` closes it; the client itself has no close method.
    """
    return ReplicateClient(
        api_token=api_token,
        base_url=base_url or None,
        transport=transport or connection_pool(),
        event_hooks={"response": [_remember_retry_after]},
    )


def image_type(data: bytes) -> str | None:
    """The content type the bytes really are (PNG, JPEG or WebP), whatever a URL or header claims."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _full_version(version: str) -> str:
    return version if ":" in version else f"{SDXL_MODEL}:{version}"


def _predict_time(prediction: Prediction) -> Decimal | None:
    value = (prediction.metrics or {}).get("predict_time")
    if value is None:
        return None
    return Decimal(str(value))


class ReplicateImageGenerator:
    """Text-to-image (img2img given an init image) on Replicate SDXL; each generate() is one attempt."""

    name = "replicate"

    def __init__(
        self,
        client: ReplicateClient | None = None,
        *,
        api_token: str | None = None,
        base_url: str | None = None,
        version: str = DEFAULT_SDXL_VERSION,
        timeout: float = 120.0,
        poll_interval: float = 0.5,
        downloader: httpx.AsyncClient | None = None,
    ) -> None:
        self._transport: httpx.AsyncBaseTransport | None = None
        if client is None:
            if not api_token:
                raise ConfigurationError(
                    "Replicate needs REPLICATE_API_TOKEN; set it or use STUDIO_IMAGE_PROVIDER=local"
                )
            self._transport = connection_pool()
            client = build_client(api_token, base_url, self._transport)
        self.client = client
        self.model_version = _full_version(version)
        self.version_id = self.model_version.rpartition(":")[2]
        self.hardware = hardware_for(self.model_version)
        self.unit_price = price_per_second(self.model_version)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._downloader = downloader
        self._owns_downloader = downloader is None
        self._background: set[asyncio.Future[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicateImageGenerator:
        token = settings.replicate_api_token.get_secret_value() if settings.replicate_api_token else ""
        return cls(
            api_token=token,
            base_url=settings.replicate_base_url,
            version=settings.model_version,
            timeout=settings.reference_gen_timeout,
        )

    def max_cost(self, request: GenerationRequest) -> Decimal:
        return prediction_cost(
            Decimal(str(self.timeout)) + Decimal(str(CANCEL_GRACE_SECONDS)), self.unit_price
        )

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        return ESTIMATE_PER_IMAGE

    def inputs(self, request: GenerationRequest) -> dict[str, Any]:
        """The SDXL inputs sent for a request: every parameter explicit, the seed included."""
        inputs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "width": request.width,
            "height": request.height,
            "num_outputs": 1,
            "guidance_scale": request.guidance_scale,
            "num_inference_steps": request.steps,
            "scheduler": request.scheduler,
            "seed": request.seed,
        }
        if request.init_image is not None:
            kind = image_type(request.init_image)
            if kind is None:
                raise GenerationError(
                    "init_image: not a PNG, JPEG or WebP image", retryable=False, reason="invalid_input"
                )
            inputs["image"] = f"data:{kind};base64,{base64.b64encode(request.init_image).decode()}"
            inputs["prompt_strength"] = PROMPT_STRENGTH
        return inputs

    async def generate(self, request: GenerationRequest) -> GeneratedImage:
        inputs = self.inputs(request)
        started = time.monotonic()
        prediction = await self._create(inputs)
        try:
            prediction = await self._settle(prediction, started + self.timeout, started)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_quietly(prediction.id))
            raise
        return await self._finish(prediction, request)

    async def _create(self, inputs: dict[str, Any]) -> Prediction:
        """Create with `Prefer: wait`; if our caller is cancelled mid-call, cancel the prediction later."""
        hold = min(60, int(self.timeout))
        context = contextvars.copy_context()
        context.run(_retry_after.set, None)
        call = self.client.predictions.async_create(
            version=self.version_id, input=inputs, wait=hold if hold >= 1 else False
        )
        task = asyncio.get_running_loop().create_task(call, context=context)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._track(task)
            task.add_done_callback(self._cancel_orphan)
            raise
        except ReplicateError as exc:
            raise self._api_error(exc, "creating a prediction", context.get(_retry_after)) from exc
        except httpx.TransportError as exc:
            raise GenerationError(
                f"Replicate unreachable while creating a prediction: {type(exc).__name__}",
                retryable=True,
                reason="network",
            ) from exc

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _cancel_orphan(self, task: asyncio.Task[Prediction]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._track(asyncio.ensure_future(self._cancel_quietly(task.result().id)))

    async def _settle(self, prediction: Prediction, deadline: float, started: float) -> Prediction:
        """Poll until the prediction ends; past the deadline cancel it and raise a timeout."""
        while prediction.status not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return await self._cancel_for_timeout(prediction, started)
            await asyncio.sleep(min(self.poll_interval, remaining))
            try:
                prediction = await self.client.predictions.async_get(prediction.id)
            except httpx.TransportError:
                continue
            except ReplicateError as exc:
                if exc.status is not None and (exc.status == 429 or exc.status >= 500):
                    continue
                await self._cancel_quietly(prediction.id)
                raise self._api_error(exc, f"reading prediction {prediction.id}") from exc
        return prediction

    async def _cancel_for_timeout(self, prediction: Prediction, started: float) -> Prediction:
        elapsed = Decimal(str(round(time.monotonic() - started, 3)))
        try:
            cancelled = await self.client.predictions.async_cancel(prediction.id)
        except (ReplicateError, httpx.TransportError) as exc:
            raise GenerationError(
                f"prediction {prediction.id} passed the {self.timeout:g} s timeout and cancelling it failed "
                f"({type(exc).__name__})",
                retryable=False,
                charged=prediction_cost(elapsed, self.unit_price),
                reason="timeout",
            ) from exc
        if cancelled.status == "succeeded":
            return cancelled
        seconds = _predict_time(cancelled)
        raise GenerationError(
            f"prediction {prediction.id} passed the {self.timeout:g} s timeout and was cancelled",
            retryable=False,
            charged=prediction_cost(elapsed if seconds is None else seconds, self.unit_price),
            reason="timeout",
        )

    async def _cancel_quietly(self, prediction_id: str) -> None:
        with contextlib.suppress(ReplicateError, httpx.TransportError):
            await self.client.predictions.async_cancel(prediction_id)

    async def _finish(self, prediction: Prediction, request: GenerationRequest) -> GeneratedImage:
        seconds = _predict_time(prediction)
        cost = ESTIMATE_PER_IMAGE if seconds is None else prediction_cost(seconds, self.unit_price)
        if prediction.status != "succeeded":
            charged = Decimal("0") if seconds is None else cost
            raise GenerationError(
                f"prediction {prediction.id} {prediction.status}: {prediction.error or 'no error given'}",
                retryable=prediction.status == "failed",
                charged=charged,
                reason="prediction_failed" if prediction.status == "failed" else "canceled",
            )
        data = await self._download(prediction, cost)
        content_type = image_type(data)
        if content_type is None:
            raise GenerationError(
                f"prediction {prediction.id} returned something that is not a PNG, JPEG or WebP image",
                retryable=False,
                charged=cost,
                reason="bad_output",
            )
        return GeneratedImage(
            data=data,
            content_type=content_type,
            provider=self.name,
            model=self.model_version,
            cost=cost,
            units=seconds or Decimal("0"),
            unit_price=self.unit_price if seconds is not None else Decimal("0"),
            prediction_id=prediction.id,
            details={"hardware": self.hardware, "label": request.label},
        )

    async def _download(self, prediction: Prediction, cost: Decimal) -> bytes:
        """Fetch the first output now: Replicate deletes API outputs after an hour."""
        output = prediction.output
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str):
            raise GenerationError(
                f"prediction {prediction.id} succeeded without an output URL",
                retryable=False,
                charged=cost,
                reason="bad_output",
            )
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            try:
                return (
                    base64.b64decode(payload, validate=True)
                    if header.endswith(";base64")
                    else payload.encode()
                )
            except binascii.Error as exc:
                raise GenerationError(
                    f"prediction {prediction.id}: output data URL is not valid base64",
                    retryable=False,
                    charged=cost,
                    reason="bad_output",
                ) from exc
        if self._downloader is None:
            self._downloader = httpx.AsyncClient(
                timeout=httpx.Timeout(30.0, connect=5.0), follow_redirects=True
            )
        try:
            response = await self._downloader.get(url)
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise GenerationError(
                f"downloading the output of prediction {prediction.id} failed with HTTP {status}",
                retryable=status >= 500 or status == 429,
                charged=cost,
                reason="download",
            ) from exc
        except httpx.TransportError as exc:
            raise GenerationError(
                f"downloading the output of prediction {prediction.id} failed: {type(exc).__name__}",
                retryable=True,
                charged=cost,
                reason="download",
            ) from exc
        return response.content

    def _api_error(
        self, exc: ReplicateError, doing: str, retry_after: float | None = None
    ) -> GenerationError:
        """Classify by HTTP status: 429 and 5xx retryable, every other 4xx final."""
        status = exc.status
        said = exc.detail or exc.title or "no detail"
        if status == 429:
            return GenerationError(
                f"Replicate rate-limited {doing} (HTTP 429)",
                retryable=True,
                retry_after=retry_after,
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

    async def aclose(self) -> None:
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._downloader is not None and self._owns_downloader:
            await self._downloader.aclose()
            self._downloader = None
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None
