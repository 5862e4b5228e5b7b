"""A bound on what one request may send: the largest thing the API takes is a character image (20 MB) in a
multipart form, so a body past `MAX_BODY_BYTES` is refused (413) before it is parsed or spooled to disk."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio.characters.images import MAX_UPLOAD_BYTES

MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 1_000_000
"""A character image and its form's headers; a plan (at most 5 MB) fits well inside."""


class BodyLimit:
    """Refuses a request whose declared length is too large at once, and a body of undeclared length as soon
    as it has sent more than it may."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []  # a body of undeclared length (chunked): read it, up to the bound
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, send: Send) -> None:
        megabytes = self.max_bytes // 1_000_000
        body = {"error": {"code": "too_large", "message": f"a request may send at most {megabytes} MB"}}
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
