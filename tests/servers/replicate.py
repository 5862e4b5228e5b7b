"""A Replicate-compatible HTTP API on 127.0.0.1 that the real `replicate` client (1.0.7) talks to.

It answers what the client sends: predictions create (honouring `Prefer: wait=N`) by version or on a
catalogued model's own endpoint (`POST /v1/models/{owner}/{name}/predictions`), get and cancel, model
versions, the files API (`POST /v1/files`, served back unauthenticated) and the account, with a bearer-token
check. Inputs are checked against each catalogued model's schema (SDXL's, google/nano-banana-2's); data URLs
of 1 MB or more are refused, as Replicate advises. Predictions run for `latency` seconds of
wall time with no worker threads (a prediction's status is a function of the clock), then succeed with
outputs from the version's output function: SDXL versions give a list of PNG data URLs. Faults are
deterministic per request and attempt, whatever order requests arrive in. Bookkeeping for tests:
creates, cancels, failures, the most predictions in flight at once, every charged prediction and its
cost. By hand: `python -m tests.servers.replicate --port 5050 --latency 0.5`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self

from studio.generation.models import CATALOGUE, NANO_BANANA_2
from studio.generation.pricing import prediction_cost, price_per_second
from studio.settings import DEFAULT_SDXL_VERSION
from tests.servers.replicate_http import ReplicateHTTPServer, prefer_wait
from tests.servers.replicate_models import data_url_problems, nano_banana_problems, one_uri_output
from tests.servers.replicate_sdxl import (
    Charge,
    CreateRequest,
    Faults,
    Output,
    Prediction,
    Throttle,
    Version,
    sdxl_output,
    sdxl_problems,
)

__all__ = ["Charge", "CreateRequest", "Faults", "ReplicateServer", "Throttle", "Version", "sdxl_output"]


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat().replace("+00:00", "Z")


class ReplicateServer:
    """The API on an ephemeral port in a background thread; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        latency: float = 0.05,
        output_scale: float = 1 / 32,
        token: str | None = None,
        faults: Faults | None = None,
        throttle: Throttle | None = None,
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.throttle = throttle
        self.token = token or "r8_test_" + secrets.token_hex(12)
        self.faults = faults or Faults()
        self.output_scale = output_scale
        self.page_size = 100
        """Predictions per page of `GET /v1/predictions` (Replicate's is 100)."""
        self.versions: dict[str, Version] = {}
        self.models: dict[str, Version] = {}
        """Models served on their own predictions endpoint, by `owner/name`."""
        self.add_version(DEFAULT_SDXL_VERSION, validate=sdxl_problems)
        self.add_model(
            NANO_BANANA_2,
            one_uri_output(self.add_file),
            validate=nano_banana_problems(self.serves),
            price_per_image=CATALOGUE[NANO_BANANA_2].price_per_image,
        )
        self._port = port
        self._lock = threading.Condition()
        self._stopping = False
        self._http: ReplicateHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    def add_version(
        self,
        version_id: str,
        output: Output | None = None,
        *,
        model: str = "stability-ai/sdxl",
        validate: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> None:
        """Serve a model version; `output(input)` makes a succeeded prediction's output (default: SDXL)."""
        self.versions[version_id] = Version(
            version_id, model, output or sdxl_output(self.output_scale), _with_data_urls(validate)
        )

    def add_model(
        self,
        model: str,
        output: Output,
        *,
        validate: Callable[[dict[str, Any]], list[str]] | None = None,
        price_per_image: Decimal | None = None,
    ) -> None:
        """Serve a model on its own predictions endpoint, priced per image when `price_per_image` is given."""
        version_id = hashlib.sha256(model.encode()).hexdigest()
        self.models[model] = Version(version_id, model, output, _with_data_urls(validate), price_per_image)

    def serves(self, url: str) -> bool:
        """Whether `url` is a file this server serves (an upload or an output)."""
        prefix = f"{self.base_url}/files/"
        return url.startswith(prefix) and url.removeprefix(prefix) in self.files

    def upload(
        self, filename: str, data: bytes, content_type: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """`POST /v1/files`: keep the file, answer Replicate's file object."""
        with self._lock:
            file_id = secrets.token_hex(8)
            self.uploads.append((filename, len(data), content_type))
        url = self.add_file(f"{file_id}-{filename}", data, content_type)
        digest = hashlib.sha256(data).hexdigest()
        body = {
            "id": file_id, "name": filename, "content_type": content_type, "size": len(data), "etag": digest,
            "checksums": {"sha256": digest}, "metadata": {}, "created_at": _iso(time.time()),
            "expires_at": None, "urls": {"get": url},
        }  # fmt: skip
        return 201, body, {}

    def add_file(self, name: str, data: bytes, content_type: str) -> str:
        """Serve `data` at an unauthenticated URL (as replicate.delivery serves outputs); returns the URL."""
        self.files[name] = (data, content_type)
        return f"{self.base_url}/files/{name}"

    def reset(self) -> None:
        """Forget predictions and counts (versions and faults stay)."""
        with self._lock:
            self.predictions: dict[str, Prediction] = {}
            self.creates: list[CreateRequest] = []
            self.cancel_requests: list[str] = []
            self.answered: Counter[int] = Counter()
            self.files: dict[str, tuple[bytes, str]] = {}
            self.uploads: list[tuple[str, int, str]] = []
            """Files uploaded through the files API: (filename, size, content type)."""
            self._attempts: Counter[str] = Counter()
            self._faults_for: Counter[str] = Counter()
            self.throttled = 0
            """Creates answered 429 by the throttle (beside the `rate_limited` faults)."""
            self._accepted: list[deque[float]] = [deque() for _ in (self.throttle or Throttle(())).limits]

    @property
    def base_url(self) -> str:
        assert self._http is not None, "server not started"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> Self:
        self._http = ReplicateHTTPServer(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="replicate-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake held requests, close keep-alive connections and join every thread."""
        if self._http is None:
            return
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._http.shutdown()
        with self._http.connections_lock:
            for connection in list(self._http.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._http.server_close()
        if self._thread is not None:
            self._thread.join()
        self._http = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Bookkeeping the tests read.

    def settle_all(self) -> None:
        now = time.monotonic()
        with self._lock:
            for prediction in self.predictions.values():
                self._settle(prediction, now)

    def charges(self) -> list[Charge]:
        """Every prediction that ran and is over (succeeded, failed or cancelled), with its cost."""
        self.settle_all()
        with self._lock:
            return [p.charge for p in self.predictions.values() if p.charge is not None]

    def charged_total(self) -> Decimal:
        return sum((charge.cost for charge in self.charges()), Decimal("0"))

    def count(self, status: str) -> int:
        """Predictions in a status now: `succeeded`, `failed`, `canceled`, `processing`."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for p in self.predictions.values() if self._status(p, now) == status)

    @property
    def created(self) -> int:
        return len(self.predictions)

    @property
    def cancelled(self) -> int:
        return self.count("canceled")

    @property
    def failed(self) -> int:
        return self.count("failed")

    def max_in_flight(self) -> int:
        """The most predictions processing at the same moment, from their start and end times."""
        now = time.monotonic()
        events: list[tuple[float, int]] = []
        with self._lock:
            for p in self.predictions.values():
                events.append((p.created, 1))
                events.append((self._ended(p, now), -1))
        running = peak = 0
        for _, step in sorted(events):
            running += step
            peak = max(peak, running)
        return peak

    # The prediction lifecycle, a function of the clock.

    def _ended(self, p: Prediction, now: float) -> float:
        if p.cancelled_at is not None:
            return p.cancelled_at
        return min(p.done_at, now) if math.isfinite(p.done_at) else now

    def _status(self, p: Prediction, now: float) -> str:
        if p.cancelled_at is not None:
            return "canceled"
        if now >= p.done_at:
            return "succeeded" if p.fate == "succeed" else "failed"
        return "processing"

    def _settle(self, p: Prediction, now: float) -> None:
        status = self._status(p, now)
        if p.settled or status == "processing":
            return
        p.settled = True
        ran = round(self._ended(p, now) - p.created, 6)
        if status == "succeeded":
            p.output = p.version.output(p.input)
        if p.version.price_per_image is not None:
            if status == "succeeded":
                p.charge = Charge(p.id, status, ran, p.version.price_per_image)
        elif ran > 0:
            p.charge = Charge(
                p.id, status, ran, prediction_cost(Decimal(str(ran)), price_per_second(p.version.id))
            )

    def _json(self, p: Prediction, now: float) -> dict[str, Any]:
        self._settle(p, now)
        status = self._status(p, now)
        wall = time.time() - (now - p.created)
        base = self.base_url
        body: dict[str, Any] = {
            "id": p.id,
            "model": p.version.model,
            "version": p.version.id,
            "input": p.input,
            "logs": "",
            "output": p.output if status == "succeeded" else None,
            "data_removed": False,
            "error": "CUDA error: an illegal memory access was encountered" if status == "failed" else None,
            "status": status,
            "created_at": _iso(wall),
            "started_at": _iso(wall),
            "completed_at": _iso(wall + self._ended(p, now) - p.created) if p.settled else None,
            "urls": {
                "get": f"{base}/v1/predictions/{p.id}",
                "cancel": f"{base}/v1/predictions/{p.id}/cancel",
                "web": f"https://replicate.com/p/{p.id}",
            },
            "metrics": {},
        }
        unreported = (
            self.faults.cost_reported_later and p.cancelled_at is not None and not p.read_since_cancel
        )
        if p.charge is not None and not unreported:
            body["logs"] = f"Using seed: {p.input.get('seed')}\n"
            body["metrics"] = {"predict_time": p.charge.predict_time, "total_time": p.charge.predict_time}
        return body

    # Requests, called from handler threads.

    def create_for_model(
        self, model: str, inputs: Any, prefer: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """`POST /v1/models/{owner}/{name}/predictions`: a catalogued model's own endpoint."""
        version = self.models.get(model)
        if version is None:
            return self._refuse(
                model, inputs, prefer, 404, "Not found", f"The model {model} has no predictions endpoint"
            )
        return self._create(version, model, inputs, prefer)

    def create(
        self, version_id: Any, inputs: Any, prefer: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        version = self.versions.get(version_id) if isinstance(version_id, str) else None
        if version is None:
            return self._refuse(
                version_id, inputs, prefer, 422, "Invalid version or not permitted",
                "The specified version does not exist (or perhaps you don't have permission to use it?)",
            )  # fmt: skip
        return self._create(version, version_id, inputs, prefer)

    def _create(
        self, version: Version, version_id: str, inputs: Any, prefer: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not isinstance(inputs, dict):
            return self._refuse(
                version_id, {}, prefer, 422, "Input validation failed", "- input: Expected object"
            )
        problems = version.validate(inputs) if version.validate else []
        if problems:
            detail = "".join(f"- {problem}\n" for problem in problems)
            return self._refuse(version_id, inputs, prefer, 422, "Input validation failed", detail)
        wait = self._throttled()
        if wait is not None:
            return self._throttle_reply(version_id, inputs, prefer, wait)
        fate = self._draw(version_id, inputs)
        faults = self.faults
        if fate == "rate_limited":
            return self._throttle_reply(version_id, inputs, prefer, faults.retry_after)
        if fate == "unavailable":
            return self._refuse(version_id, inputs, prefer, 503, "Service Unavailable", "Please retry.")
        now = time.monotonic()
        prediction = Prediction(
            id=secrets.token_hex(13),
            version=version,
            input=inputs,
            created=now,
            fate=fate,
            done_at=math.inf if fate == "hang" else now + self.latency,
        )
        with self._lock:
            self.predictions[prediction.id] = prediction
            self.creates.append(CreateRequest(version_id, inputs, prefer, 201))
            self.answered[201] += 1
        hold = prefer_wait(prefer)
        if hold:
            self._hold(prediction, now + hold)
        with self._lock:
            return 201, self._json(prediction, time.monotonic()), {}

    def _throttled(self) -> float | None:
        """Seconds until the throttle takes another create (None: it takes this one, and counts it)."""
        if self.throttle is None:
            return None
        now = time.monotonic()
        with self._lock:
            if len(self._accepted) != len(self.throttle.limits):  # a throttle set after start
                self._accepted = [deque() for _ in self.throttle.limits]
            waits = []
            for (count, period), accepted in zip(self.throttle.limits, self._accepted, strict=True):
                while accepted and accepted[0] <= now - period:
                    accepted.popleft()
                if len(accepted) >= count:
                    waits.append(accepted[0] + period - now)
            if waits:
                self.throttled += 1
                return max(waits)
            for accepted in self._accepted:
                accepted.append(now)
            return None

    def _throttle_reply(
        self, version_id: Any, inputs: Any, prefer: str | None, wait: float
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Replicate's 429: Retry-After (whole seconds, or fractions below one) and the reset in words."""
        said = f"{math.ceil(wait)}" if wait >= 1 else f"{wait:.3f}"
        header = self.throttle is None or self.throttle.retry_after_header
        detail = f"Request was throttled. Your rate limit resets in ~{max(1, round(wait))}s."
        return self._refuse(
            version_id, inputs, prefer, 429, "Request was throttled", detail,
            {"Retry-After": said} if header else {},
        )  # fmt: skip

    def _refuse(
        self,
        version_id: Any,
        inputs: Any,
        prefer: str | None,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.creates.append(CreateRequest(str(version_id), inputs, prefer, status))
            self.answered[status] += 1
        return status, {"title": title, "detail": detail, "status": status}, headers or {}

    def _draw(self, version_id: str, inputs: dict[str, Any]) -> str:
        """The fate of this attempt: rate_limited, unavailable, fail, hang or succeed."""
        faults = self.faults
        key = hashlib.sha256((version_id + json.dumps(inputs, sort_keys=True)).encode()).hexdigest()
        if faults.hang_when is not None and faults.hang_when(inputs):
            return "hang"
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
            if faults.per_request is not None and self._faults_for[key] >= faults.per_request:
                return "succeed"
            rng = random.Random(f"{faults.seed}:{key}:{attempt}")
            draw, outcome = rng.random(), rng.random()
            fate = "succeed"
            if draw < faults.rate_limited:
                fate = "rate_limited"
            elif draw < faults.rate_limited + faults.unavailable:
                fate = "unavailable"
            elif outcome < faults.hung:
                fate = "hang"
            elif outcome < faults.hung + faults.failed:
                fate = "fail"
            if fate != "succeed":
                self._faults_for[key] += 1
            return fate

    def _hold(self, p: Prediction, until: float) -> None:
        with self._lock:
            while not self._stopping and p.cancelled_at is None:
                remaining = min(until, p.done_at) - time.monotonic()
                if remaining <= 0:
                    return
                self._lock.wait(remaining)

    def get(self, prediction_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            p = self.predictions.get(prediction_id)
            if p is None:
                return 404, {"title": "Not found", "detail": "Not found.", "status": 404}, {}
            body = self._json(p, time.monotonic())
            p.read_since_cancel = p.cancelled_at is not None
            return 200, body, {}

    def cancel(self, prediction_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = time.monotonic()
        with self._lock:
            self.cancel_requests.append(prediction_id)
            p = self.predictions.get(prediction_id)
            if p is None:
                return 404, {"title": "Not found", "detail": "Not found.", "status": 404}, {}
            if self._status(p, now) == "processing":
                p.cancelled_at = now
                self._lock.notify_all()
            return 200, self._json(p, now), {}

    def list(self, cursor: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """`GET /v1/predictions`: newest first, `page_size` a page, `next` an absolute URL with a cursor."""
        start = int(cursor) if cursor and cursor.isdigit() else 0
        now = time.monotonic()
        with self._lock:
            newest = sorted(self.predictions.values(), key=lambda p: p.created, reverse=True)
            page = [self._json(p, now) for p in newest[start : start + self.page_size]]
            more = start + self.page_size < len(newest)
        following = f"{self.base_url}/v1/predictions?cursor={start + self.page_size}" if more else None
        return 200, {"next": following, "previous": None, "results": page}, {}

    def version(self, model: str, version_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        version = self.versions.get(version_id)
        if version is None or version.model != model:
            return 404, {"title": "Not found", "detail": "Not found.", "status": 404}, {}
        schema = {"components": {"schemas": {"Input": {"type": "object", "properties": {}}}}}
        body = {"id": version_id, "created_at": _iso(0), "cog_version": "0.9.0", "openapi_schema": schema}
        return 200, body, {}


def _with_data_urls(
    validate: Callable[[dict[str, Any]], list[str]] | None,
) -> Callable[[dict[str, Any]], list[str]]:
    """A schema's checks plus Replicate's advice that data URLs stay under 1 MB, for every input."""

    def problems(inputs: dict[str, Any]) -> list[str]:
        found = list(validate(inputs)) if validate is not None else []
        for name, value in inputs.items():
            found += data_url_problems(name, value)
        return found

    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description="A Replicate-compatible API on 127.0.0.1, for trying the studio."
    )
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds each prediction runs")
    parser.add_argument("--scale", type=float, default=1 / 16, help="output size relative to width x height")
    parser.add_argument("--token", default=None, help="the API token to accept (default: a random one)")
    parser.add_argument("--rate-limited", type=float, default=0.0, help="share of creates answered 429")
    parser.add_argument("--unavailable", type=float, default=0.0, help="share of creates answered 503")
    parser.add_argument("--failed", type=float, default=0.0, help="share of predictions ending failed")
    parser.add_argument("--hung", type=float, default=0.0, help="share of predictions that never finish")
    parser.add_argument("--creates-per-second", type=int, default=None, help="account-wide create limit")
    parser.add_argument("--creates-per-minute", type=int, default=None, help="account-wide create limit")
    args = parser.parse_args()
    faults = Faults(args.rate_limited, args.unavailable, args.failed, args.hung)
    limits = [(args.creates_per_second, 1.0), (args.creates_per_minute, 60.0)]
    given = tuple((count, period) for count, period in limits if count)
    server = ReplicateServer(
        latency=args.latency, output_scale=args.scale, token=args.token, faults=faults, port=args.port,
        throttle=Throttle(given) if given else None,
    )  # fmt: skip
    with server:
        print(f"export REPLICATE_BASE_URL={server.base_url}")
        print(f"export REPLICATE_API_TOKEN={server.token}")
        print("Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
