"""An OpenAI-compatible API on 127.0.0.1 that the real `openai` client (3.54) talks to.

It speaks what `AsyncOpenAI.chat.completions.parse` sends (POST /v1/chat/completions with a json_schema
response_format) and GET /v1/models for the doctor; checks the bearer key; records every request so tests
can read the data URL's MIME type and the schema sent; answers with a configurable message content and
usage, or with queued failures (429 with Retry-After, 500, ...). By hand:
`python -m tests.servers.openai --port 5051`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.servers.http import LocalServer, TrackedHandler

VALID_ANSWER: dict[str, str] = {
    "character_description": (
        "A young courier with short silver hair and a determined expression. She wears a red bomber "
        "jacket over a white shirt, dark cargo trousers and worn sneakers."
    ),
    "detailed_prompt": ", ".join(
        [
            "full-body character reference of a young courier with short silver hair",
            "determined amber eyes, light freckles, slim athletic build",
            "red bomber jacket with white stripes over a crisp white shirt",
            "dark grey cargo trousers with many pockets, worn white sneakers",
            "messenger bag slung across the chest, fingerless gloves",
            "standing relaxed in a three-quarter view, centred on a plain white background",
            "soft even studio lighting, gentle rim light, crisp clean line art",
            "cel-shaded anime illustration, vivid red accents, muted neutral palette",
            "consistent character design sheet, clear readable silhouette, sharp focus",
            "highly detailed face and hands, professional concept art, 4K",
            "no text, no watermark, single character only, calm neutral expression",
            "balanced composition with generous margins around the figure",
        ]
    ),
    "style_notes": "Cel-shaded anime illustration; red, white and grey palette; soft studio light.",
}


SHORT_ANSWER: dict[str, str] = {
    "character_description": "A courier in a red bomber jacket.",
    "detailed_prompt": (
        "full-body courier, short silver hair, red bomber jacket, cargo trousers, white sneakers, "
        "plain background, cel-shaded anime, soft light"
    ),
    "style_notes": "Cel-shaded anime; red and grey.",
}
"""A good answer, shorter than asked (one sentence, 18 words): kept, with a note about its length."""


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    def image_urls(self) -> list[str]:
        """Every image_url the request's messages carried."""
        urls: list[str] = []
        for message in (self.body or {}).get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                urls += [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
        return urls


@dataclass
class Answer:
    """What a successful chat completion carries: message content (a dict is sent as JSON) and usage."""

    content: dict[str, Any] | str | None = field(default_factory=lambda: dict(VALID_ANSWER))
    prompt_tokens: int = 1200
    completion_tokens: int = 300
    finish_reason: str = "stop"
    refusal: str | None = None


@dataclass(frozen=True)
class Failure:
    status: int
    retry_after: float | None = None
    message: str = "injected failure"
    code: str | None = None


class OpenAIServer(LocalServer):
    """The server and its state. `answer` is used for every completion unless a failure is queued."""

    thread_name = "openai-server"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "gpt-4o-mini",
    ) -> None:
        self.api_key = api_key or "sk-test-" + secrets.token_urlsafe(16)
        self.model = model
        self.answer = Answer()
        self.failures: deque[Failure] = deque()
        self.requests: list[Seen] = []
        self._listen(host, port, _handler_for(self))

    @property
    def url(self) -> str:
        """What OPENAI_BASE_URL should be."""
        host, port = self.address
        return f"http://{host}:{port}/v1"

    def fail(
        self, status: int, *, retry_after: float | None = None, times: int = 1, code: str | None = None
    ) -> None:
        """Answer the next `times` completions with `status` (and a Retry-After header when given; `code`
        as OpenAI's error code, e.g. `insufficient_quota`)."""
        with self._lock:
            self.failures.extend(Failure(status, retry_after, code=code) for _ in range(times))

    def completions(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if s.path == "/v1/chat/completions"]

    def handle(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        if seen.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if seen.method == "GET" and seen.path == "/v1/models":
            return 200, {}, {"object": "list", "data": [_model(self.model)]}
        if seen.method == "POST" and seen.path == "/v1/chat/completions":
            with self._lock:
                failure = self.failures.popleft() if self.failures else None
            if failure:
                headers = {} if failure.retry_after is None else {"retry-after": f"{failure.retry_after:g}"}
                kind = "rate_limit_error" if failure.status == 429 else "server_error"
                return failure.status, headers, _error(failure.message, kind, failure.code)
            return 200, {}, self._completion(seen.body or {})
        return 404, {}, _error(f"no route {seen.method} {seen.path}", "invalid_request_error", None)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.answer
        content = json.dumps(answer.content) if isinstance(answer.content, dict) else answer.content
        return {
            "id": "chatcmpl-" + secrets.token_hex(8),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": answer.refusal},
                    "finish_reason": answer.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens,
                "total_tokens": answer.prompt_tokens + answer.completion_tokens,
            },
        }


def _error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "test-server"}


def _handler_for(server: OpenAIServer) -> type[TrackedHandler]:
    class Handler(TrackedHandler):
        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            seen = Seen(
                self.command,
                self.path.split("?", 1)[0],
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            with server._lock:
                server.requests.append(seen)
            try:
                status, headers, reply = server.handle(seen)
            except Exception as error:
                status, headers, reply = (
                    500,
                    {},
                    _error(f"test server failed: {error!r}", "server_error", None),
                )
            content = json.dumps(reply).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running OpenAI-compatible server; `.url` and `.api_key` are what the client needs."""
    with OpenAIServer() as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible API for trying the studio by hand.")
    parser.add_argument("--port", type=int, default=5051)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default=None, help="the key clients must send (default: a random one)")
    parser.add_argument("--short", action="store_true", help="answer shorter than asked (SHORT_ANSWER)")
    args = parser.parse_args()
    server = OpenAIServer(args.key, host=args.host, port=args.port)
    if args.short:
        server.answer = Answer(content=dict(SHORT_ANSWER))
    server.serve_until_interrupted(f"OPENAI_BASE_URL={server.url}\nOPENAI_API_KEY={server.api_key}")


if __name__ == "__main__":
    main()
