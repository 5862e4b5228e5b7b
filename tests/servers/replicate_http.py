"""HTTP plumbing of the Replicate test server: a thread per connection, routes, JSON problem replies."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.servers.replicate_models import uploaded_file

if TYPE_CHECKING:
    from tests.servers.replicate import ReplicateServer


class ReplicateHTTPServer(ThreadingHTTPServer):
    """Threads per connection; remembers open connections so stop() can close keep-alive ones."""

    request_queue_size = 256
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], owner: ReplicateServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a cancelled call) is not a server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


def prefer_wait(prefer: str | None) -> float:
    match = re.fullmatch(r"\s*wait(?:=(\d+))?\s*", prefer or "")
    if match is None:
        return 0.0
    return float(min(60, max(1, int(match.group(1) or 60))))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ReplicateHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        path = path.rstrip("/")
        if method == "GET" and path.startswith("/files/"):
            self._file(path.removeprefix("/files/"))
            return
        if self.headers.get("Authorization") not in (f"Bearer {owner.token}", f"Token {owner.token}"):
            detail = "You did not pass a valid authentication token"
            self._reply(401, {"title": "Unauthenticated", "detail": detail, "status": 401}, {})
            return
        if method == "POST" and path == "/v1/files":
            part = uploaded_file(self.headers.get("Content-Type", ""), raw)
            if part is None:
                self._reply(400, {"title": "Bad request", "detail": "No content part", "status": 400}, {})
            else:
                self._reply(*owner.upload(*part))
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._reply(400, {"title": "Bad request", "detail": "Body is not JSON", "status": 400}, {})
            return
        if method == "POST" and path == "/v1/predictions":
            self._reply(*owner.create(body.get("version"), body.get("input"), self.headers.get("Prefer")))
        elif method == "GET" and path == "/v1/predictions":
            cursor = dict(part.partition("=")[::2] for part in query.split("&") if part).get("cursor")
            self._reply(*owner.list(cursor))
        elif method == "POST" and (m := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/predictions", path)):
            model = f"{m.group(1)}/{m.group(2)}"
            self._reply(*owner.create_for_model(model, body.get("input"), self.headers.get("Prefer")))
        elif method == "GET" and (m := re.fullmatch(r"/v1/predictions/([\w-]+)", path)):
            self._reply(*owner.get(m.group(1)))
        elif method == "POST" and (m := re.fullmatch(r"/v1/predictions/([\w-]+)/cancel", path)):
            self._reply(*owner.cancel(m.group(1)))
        elif method == "GET" and (m := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/versions/(\w+)", path)):
            self._reply(*owner.version(f"{m.group(1)}/{m.group(2)}", m.group(3)))
        elif method == "GET" and path == "/v1/account":
            account = {"type": "user", "username": "studio-test", "name": "Studio Test", "github_url": None}
            self._reply(200, account, {})
        else:
            self._reply(
                404, {"title": "Not found", "detail": f"No route for {method} {path}", "status": 404}, {}
            )

    def _file(self, name: str) -> None:
        """Output files, like replicate.delivery: no token needed."""
        data, content_type = self.server.owner.files.get(name, (b"", ""))
        self.send_response(200 if content_type else 404)
        self.send_header("Content-Type", content_type or "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        kind = "application/problem+json" if status >= 400 else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
