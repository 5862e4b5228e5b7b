"""What the local protocol servers share: a threaded HTTP server on 127.0.0.1 that, when stopped, also
closes the kept-alive connections of the real clients, so no handler thread outlives a test."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LocalServer:
    """Start with `start()` or as a context manager; `_lock` also guards the subclass's state."""

    thread_name = "local-server"

    def _listen(self, host: str, port: int, handler: type[TrackedHandler]) -> None:
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = False
        handler.owner = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()  # joins the handler threads
        if self._thread:
            self._thread.join(timeout=5)

    def serve_until_interrupted(self, announcement: str) -> None:
        """For a server started by hand: print how to point the studio at it, then serve until Ctrl-C."""
        self.start()
        print(f"{announcement}\n(test server; Ctrl-C stops it)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TrackedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler whose connection its server can close; quiet in the test output."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Headers and body go out in separate writes: without TCP_NODELAY each reply waits on a delayed ACK."""
    owner: LocalServer

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass
