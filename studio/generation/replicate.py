"""Replicate's catalogued image models (official client): one prediction a call, cancelled at the timeout.

SDXL runs a pinned version and is priced by metrics; a reference-conditioned model (studio.generation.models)
runs on its own predictions endpoint and is priced per image. Images go as URLs when storage gave one, else
as data URLs under 1 MB, else through Replicate's files API (uploaded once per generator).

A call is created with `Prefer: wait`, so the answer arrives the moment the prediction ends; its id is told
to the caller as soon as it is known. A call whose caller went away is abandoned, not cancelled: the process
that runs the work next adopts it (by id, or found by version, prompt and seed) instead of paying again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from studio.clients import PREFER_WAIT_SECONDS, LoopLocalTransport, replicate_error, with_retry_after
from studio.errors import GenerationError
from studio.generation.base import (
    DEFAULT_STRENGTH,
    GeneratedImage,
    GenerationRequest,
    PredictionListener,
    ReferenceImage,
    Settled,
)
from studio.generation.models import MAX_INLINE_BYTES, ImageModel, image_model
from studio.generation.pace import Pace
from studio.generation.pricing import ESTIMATE_PER_IMAGE, hardware_for, prediction_cost, price_per_second
from studio.settings import DEFAULT_SDXL_VERSION, Settings

if TYPE_CHECKING:
    from replicate.client import Client as ReplicateClient

log = logging.getLogger("studio.generation")

SDXL_MODEL = "stability-ai/sdxl"
PROMPT_STRENGTH = DEFAULT_STRENGTH
"""How far SDXL img2img may move away from an init image when the request does not say (1.0 ignores it)."""
CANCEL_GRACE_SECONDS = 2.0
"""Predict time a cancelled prediction may still bill past the timeout (poll gap + the cancel round trip)."""
ABANDON_GRACE_SECONDS = 2.0
"""How long closing waits for abandoned calls to report their prediction ids."""
REPORT_SECONDS = 10.0
"""How long an ended prediction is read again for the predict time it is billed by."""
FIND_PAGES = 20
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_BACKOFF = 0.25
TERMINAL = frozenset({"succeeded", "failed", "canceled"})


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


def _created_at(prediction: Prediction) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(prediction.created_at).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ReplicateImageGenerator:
    """Text-to-image (img2img given an init image) on Replicate SDXL; each generate() is one attempt."""

    name = "replicate"

    def __init__(
        self,
        client: ReplicateClient,
        *,
        version: str = DEFAULT_SDXL_VERSION,
        timeout: float = 120.0,
        poll_interval: float = 0.5,
        downloader: httpx.AsyncClient | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.client = client
        self.pace = pace
        self.model_version = _full_version(version)
        self.version_id = self.model_version.rpartition(":")[2]
        self.hardware = hardware_for(self.model_version)
        self.unit_price = price_per_second(self.model_version)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._downloader = downloader
        self._owns_downloader = downloader is None
        self._background: set[asyncio.Future[Any]] = set()
        self._uploads: dict[str, str] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, client: ReplicateClient, pace: Pace | None = None
    ) -> ReplicateImageGenerator:
        return cls(client, version=settings.model_version, timeout=settings.reference_gen_timeout, pace=pace)

    def max_cost(self, request: GenerationRequest) -> Decimal:
        model = image_model(request.model)
        if model.pricing == "per_image":
            return model.price_per_image
        return prediction_cost(
            Decimal(str(self.timeout)) + Decimal(str(CANCEL_GRACE_SECONDS)), self.unit_price
        )

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        model = image_model(request.model)
        return model.price_per_image if model.pricing == "per_image" else ESTIMATE_PER_IMAGE

    def model_name(self, request: GenerationRequest) -> str:
        """What the request's model is called in PNGs and the ledger (SDXL: its pinned version)."""
        model = image_model(request.model)
        return model.name if model.endpoint == "model" else self.model_version

    async def sent_inputs(self, request: GenerationRequest) -> dict[str, Any]:
        """The inputs sent for a request, its images as the provider wants them (URL, data URL, file)."""
        model = image_model(request.model)
        if model.endpoint == "model":
            images = [await self._image_uri(image) for image in request.references]
            if request.init_image is not None and not images:
                images = [await self._image_uri(ReferenceImage(request.init_image))]
            return model.reference_inputs(request.prompt, images, request.width, request.height)
        inputs = self.inputs(request)
        if request.init_image is not None:
            inputs["image"] = await self._image_uri(ReferenceImage(request.init_image))
        return inputs

    async def _image_uri(self, image: ReferenceImage) -> str:
        """A URL storage gave; else a data URL under 1 MB; else a file uploaded to Replicate (once)."""
        if image.url is not None and image.url.startswith(("https://", "http://")):
            return image.url
        kind = image_type(image.data)
        if kind is None:
            raise GenerationError(
                f"{image.name or 'init_image'}: not a PNG, JPEG or WebP image",
                retryable=False,
                reason="invalid_input",
            )
        if len(image.data) < MAX_INLINE_BYTES:
            return f"data:{kind};base64,{base64.b64encode(image.data).decode()}"
        digest = hashlib.sha256(image.data).hexdigest()
        if digest not in self._uploads:
            extension = kind.rpartition("/")[2]
            try:
                uploaded = await self.client.files.async_create(
                    io.BytesIO(image.data), filename=f"{digest[:16]}.{extension}", content_type=kind
                )
            except ReplicateError as exc:
                raise replicate_error(exc, "uploading a reference image") from exc
            except httpx.TransportError as exc:
                raise GenerationError(
                    f"uploading a reference image failed: {type(exc).__name__}",
                    retryable=True,
                    reason="network",
                ) from exc
            self._uploads[digest] = uploaded.urls["get"]
        return self._uploads[digest]

    def inputs(self, request: GenerationRequest) -> dict[str, Any]:
        """The SDXL inputs sent for a request: every parameter explicit, the seed included (an init image
        inline here; `sent_inputs` sends a large one as a file)."""
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
            inputs["prompt_strength"] = PROMPT_STRENGTH if request.strength is None else request.strength
        return inputs

    async def generate(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> GeneratedImage:
        return await (await self.predict(request, on_prediction)).fetch()

    async def predict(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> Settled:
        inputs = await self.sent_inputs(request)
        started = time.monotonic()
        since = datetime.now(UTC)
        prediction = await self._create(inputs, request, on_prediction, since)
        prediction = await self._settle(prediction, started + self.timeout, started, request)
        return self._settled(prediction, request)

    async def adopt(self, prediction_id: str, request: GenerationRequest) -> Settled:
        started = time.monotonic()
        deadline = started + self.timeout
        while True:
            try:
                prediction = await self.client.predictions.async_get(prediction_id)
                break
            except ReplicateError as exc:
                if exc.status is not None and exc.status < 500 and exc.status != 429:
                    raise replicate_error(exc, f"reading prediction {prediction_id}") from exc
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                raise GenerationError(
                    f"prediction {prediction_id} could not be read within {self.timeout:g} s",
                    retryable=True,
                    reason="network",
                    prediction_id=prediction_id,
                )
            await asyncio.sleep(self.poll_interval)
        prediction = await self._settle(prediction, deadline, started, request)
        return self._settled(prediction, request)

    async def find(self, request: GenerationRequest, since: datetime) -> list[str]:
        """Predictions of this request's model with its prompt (and SDXL's negative prompt and seed), since
        `since`."""
        model = image_model(request.model)
        wanted = self.inputs(request) if model.endpoint == "version" else {"prompt": request.prompt}
        keys = ("prompt", "negative_prompt", "seed") if model.endpoint == "version" else ("prompt",)
        found: list[tuple[datetime, str]] = []
        cursor: Any = ...
        for _ in range(FIND_PAGES):
            page, error, _ = await with_retry_after(partial(self.client.predictions.async_list, cursor))
            if page is None:
                raise GenerationError(
                    f"listing predictions failed ({type(error).__name__})", retryable=True, reason="network"
                )
            older = False
            for prediction in page.results:
                created = _created_at(prediction)
                if created is not None and created < since:
                    older = True
                    continue
                if model.endpoint == "version" and prediction.version != self.version_id:
                    continue
                if model.endpoint == "model" and getattr(prediction, "model", None) != model.name:
                    continue
                given = prediction.input or {}
                if all(given.get(key) == wanted[key] for key in keys):
                    found.append((created or since, prediction.id))
            if older or not page.next:
                break
            cursor = page.next
        return [prediction_id for _, prediction_id in sorted(found)]

    async def cancel(self, prediction_id: str) -> None:
        with contextlib.suppress(ReplicateError, httpx.TransportError):
            await self.client.predictions.async_cancel(prediction_id)

    async def _create(
        self,
        inputs: dict[str, Any],
        request: GenerationRequest,
        on_prediction: PredictionListener | None,
        since: datetime,
    ) -> Prediction:
        """Create with `Prefer: wait`. The request runs in a task of its own, so a caller that goes away
        leaves it to finish and report its id; a create whose answer was lost is looked for, not repeated."""
        hold = min(PREFER_WAIT_SECONDS, int(self.timeout))
        model = image_model(request.model)
        wait: int | bool = hold if hold >= 1 else False

        def create() -> Awaitable[Prediction]:
            if model.endpoint == "model":
                return self.client.models.predictions.async_create(model=model.name, input=inputs, wait=wait)
            return self.client.predictions.async_create(version=self.version_id, input=inputs, wait=wait)

        async def call() -> tuple[Prediction | None, BaseException | None, float | None]:
            outcome = await with_retry_after(create)
            if outcome[0] is not None and outcome[0].status not in TERMINAL and on_prediction is not None:
                on_prediction(outcome[0].id)  # still running: its id is all there is to record now
            return outcome

        task = asyncio.get_running_loop().create_task(call())
        try:
            prediction, error, retry_after = await asyncio.shield(task)
        except asyncio.CancelledError:
            self._track(task)
            raise
        if prediction is not None:
            return prediction
        if isinstance(error, ReplicateError):
            raise replicate_error(error, "creating a prediction", retry_after) from error
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            raise GenerationError(
                f"Replicate unreachable while creating a prediction: {type(error).__name__}",
                retryable=True,
                reason="network",
            ) from error
        if isinstance(error, httpx.TransportError):  # the request may have reached Replicate: look for it
            with contextlib.suppress(GenerationError):
                for prediction_id in await self.find(request, since):
                    if on_prediction is not None:
                        on_prediction(prediction_id)
                    read = await self.client.predictions.async_get(prediction_id)
                    return read
            raise GenerationError(
                f"the answer to creating a prediction was lost ({type(error).__name__}) and none was found",
                retryable=True,
                reason="network",
            ) from error
        assert error is not None
        raise error

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reported(self, prediction: Prediction) -> Prediction:
        """An ended prediction as the provider bills it: its predict time can come a moment after its end
        (a cancel answers before it is counted), so it is read again, for at most REPORT_SECONDS."""
        deadline = time.monotonic() + REPORT_SECONDS
        while _predict_time(prediction) is None and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
            with contextlib.suppress(ReplicateError, httpx.TransportError):
                prediction = await self.client.predictions.async_get(prediction.id)
        return prediction

    async def _settle(
        self, prediction: Prediction, deadline: float, started: float, request: GenerationRequest
    ) -> Prediction:
        """Poll until the prediction ends (and says what it cost); past the deadline cancel it and raise a
        timeout."""
        prediction = await self._until_ended(prediction, deadline, started, request)
        if image_model(request.model).pricing == "per_image":
            return prediction  # its price does not wait for metrics
        return await self._reported(prediction)

    async def _until_ended(
        self, prediction: Prediction, deadline: float, started: float, request: GenerationRequest
    ) -> Prediction:
        while prediction.status not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return await self._cancel_for_timeout(prediction, started, image_model(request.model))
            await asyncio.sleep(min(self.poll_interval, remaining))
            try:
                prediction = await self.client.predictions.async_get(prediction.id)
            except httpx.TransportError:
                continue
            except ReplicateError as exc:
                if exc.status is not None and (exc.status == 429 or exc.status >= 500):
                    continue
                await self.cancel(prediction.id)
                raise replicate_error(exc, f"reading prediction {prediction.id}") from exc
        return prediction

    async def _cancel_for_timeout(
        self, prediction: Prediction, started: float, model: ImageModel
    ) -> Prediction:
        elapsed = Decimal(str(round(time.monotonic() - started, 3)))
        if model.pricing == "per_image":  # an image never made is not charged
            with contextlib.suppress(ReplicateError, httpx.TransportError):
                cancelled = await self.client.predictions.async_cancel(prediction.id)
                if cancelled.status == "succeeded":
                    return cancelled
            raise GenerationError(
                f"prediction {prediction.id} passed the {self.timeout:g} s timeout and was cancelled",
                retryable=False,
                reason="timeout",
                prediction_id=prediction.id,
            )
        try:
            cancelled = await self.client.predictions.async_cancel(prediction.id)
        except (ReplicateError, httpx.TransportError) as exc:
            raise GenerationError(
                f"prediction {prediction.id} passed the {self.timeout:g} s timeout and cancelling it failed "
                f"({type(exc).__name__})",
                retryable=False,
                charged=prediction_cost(elapsed, self.unit_price),
                reason="timeout",
                prediction_id=prediction.id,
                units=elapsed,
            ) from exc
        if cancelled.status == "succeeded":
            return cancelled
        if cancelled.status in TERMINAL:
            cancelled = await self._reported(cancelled)
        seconds = _predict_time(cancelled)
        if seconds is None:
            log.warning(
                "prediction %s: the provider reported no predict time; charged the elapsed time",
                prediction.id,
            )
        billed = elapsed if seconds is None else seconds
        raise GenerationError(
            f"prediction {prediction.id} passed the {self.timeout:g} s timeout and was cancelled",
            retryable=False,
            charged=prediction_cost(billed, self.unit_price),
            reason="timeout",
            prediction_id=prediction.id,
            units=billed,
        )

    def _settled(self, prediction: Prediction, request: GenerationRequest) -> Settled:
        """A finished prediction: its cost by predict time, and the fetch of its output; GenerationError
        (with what it cost) when it failed or was cancelled."""
        model = image_model(request.model)
        if model.pricing == "per_image":
            return self._settled_per_image(prediction, request, model)
        seconds = _predict_time(prediction)
        cost = ESTIMATE_PER_IMAGE if seconds is None else prediction_cost(seconds, self.unit_price)
        units = seconds or Decimal("0")
        if prediction.status != "succeeded":
            raise GenerationError(
                f"prediction {prediction.id} {prediction.status}: {prediction.error or 'no error given'}",
                retryable=prediction.status == "failed",
                charged=Decimal("0") if seconds is None else cost,
                reason="prediction_failed" if prediction.status == "failed" else "canceled",
                prediction_id=prediction.id,
                units=units,
            )
        return Settled(
            provider=self.name,
            model=self.model_version,
            cost=cost,
            fetch=partial(self._fetch, prediction, request, cost),
            units=units,
            unit_price=self.unit_price if seconds is not None else Decimal("0"),
            prediction_id=prediction.id,
        )

    def _settled_per_image(
        self, prediction: Prediction, request: GenerationRequest, model: ImageModel
    ) -> Settled:
        """A model priced per image: a succeeded prediction costs one image, a failed one nothing."""
        if prediction.status != "succeeded":
            raise GenerationError(
                f"prediction {prediction.id} {prediction.status}: {prediction.error or 'no error given'}",
                retryable=prediction.status == "failed",
                reason="prediction_failed" if prediction.status == "failed" else "canceled",
                prediction_id=prediction.id,
            )
        price = model.price_per_image
        return Settled(
            provider=self.name,
            model=model.name,
            cost=price,
            fetch=partial(self._fetch, prediction, request, price),
            units=Decimal("1"),
            unit_price=price,
            prediction_id=prediction.id,
            unit_name="image",
        )

    async def _fetch(
        self, prediction: Prediction, request: GenerationRequest, cost: Decimal
    ) -> GeneratedImage:
        """The output of a succeeded prediction, typed by its bytes. Errors say what the prediction cost."""
        per_image = image_model(request.model).pricing == "per_image"
        seconds = None if per_image else _predict_time(prediction)
        units = Decimal("1") if per_image else seconds or Decimal("0")
        unit_price = cost if per_image else self.unit_price if seconds is not None else Decimal("0")
        try:
            data = await self._download(prediction)
        except GenerationError as exc:
            raise GenerationError(
                str(exc), retryable=exc.retryable, charged=cost, reason=exc.reason,
                prediction_id=prediction.id, units=units,
            ) from exc  # fmt: skip
        content_type = image_type(data)
        if content_type is None:
            raise GenerationError(
                f"prediction {prediction.id} returned something that is not a PNG, JPEG or WebP image",
                retryable=False,
                charged=cost,
                reason="bad_output",
                prediction_id=prediction.id,
                units=units,
            )
        return GeneratedImage(
            data=data,
            content_type=content_type,
            provider=self.name,
            model=self.model_name(request),
            cost=cost,
            units=units,
            unit_price=unit_price,
            prediction_id=prediction.id,
            unit_name="image" if per_image else "",
            details={"hardware": "" if per_image else self.hardware, "label": request.label},
        )

    async def _download(self, prediction: Prediction) -> bytes:
        """Fetch the first output now: Replicate deletes API outputs after an hour."""
        output = prediction.output
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str):
            raise GenerationError(
                f"prediction {prediction.id} succeeded without an output URL",
                retryable=False,
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
                    reason="bad_output",
                ) from exc
        if self._downloader is None:
            self._downloader = httpx.AsyncClient(
                timeout=httpx.Timeout(30.0, connect=5.0),
                follow_redirects=True,
                transport=LoopLocalTransport(),
            )
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):  # the output is paid for: fetch it, not a new one
            try:
                response = await self._downloader.get(url)
                response.raise_for_status()
                return response.content
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                problem = f"failed with HTTP {status}"
                if status < 500 and status != 429:
                    break
            except httpx.TransportError as exc:
                problem = f"failed: {type(exc).__name__}"
            if attempt < DOWNLOAD_ATTEMPTS:
                await asyncio.sleep(DOWNLOAD_BACKOFF * 2 ** (attempt - 1))
        raise GenerationError(
            f"downloading the output of prediction {prediction.id} {problem}",
            retryable=False,
            reason="download",
        )

    async def aclose(self) -> None:
        """Give abandoned calls a moment to report their ids, then let them go (they are adopted later)."""
        if self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=ABANDON_GRACE_SECONDS)
            for task in pending:
                task.cancel()
        if self._downloader is not None and self._owns_downloader:
            await self._downloader.aclose()
            self._downloader = None
