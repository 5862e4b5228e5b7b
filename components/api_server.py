"""The HTTP API beside the pages, on the studio's own server (`make run`): Streamlit's `st.App` takes the
`/api/v1` routes, and the API shares the pages' services container and the background runner that executes
queued work, started with the server rather than on the first page view.

The mode is the pages' own (`components.identity.deployment_here`): a server that must not serve refuses
the API too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components import setup
from components.identity import deployment_here
from studio.access.deployment import Mode
from studio.api import api_routes
from studio.errors import ConfigurationError, Unavailable
from studio.services import Services
from studio.settings import Settings, settings_problems


@functools.cache
def _settings() -> tuple[Settings, str]:
    """The server's settings, read once: the environment and secrets.toml of a running server stay as they
    were when it started (restart it to change them)."""
    try:
        config = setup.quiet_settings()
    except ValidationError as error:
        raise ConfigurationError("; ".join(settings_problems(error))) from None
    return config, setup.fingerprint_of(config)


def api_services() -> Services:
    """The pages' cached container for the server's settings, with its runner started."""
    config, fingerprint = _settings()
    built = setup.cached_services(fingerprint, config)
    runner = setup.cached_runner(fingerprint, built)
    if not runner.alive:
        runner.start()
    return built


def api_mode() -> Mode:
    return deployment_here().mode


def answer_without_delay() -> int:
    """Turn Nagle's algorithm off on this process's listening TCP sockets (connections accepted later inherit
    it); how many were found.

    Streamlit binds its socket with protocol 0, so asyncio does not set TCP_NODELAY on the connections it
    accepts: each answer on a kept-alive connection then waited about 40 ms for the client's delayed ACK.
    """
    descriptors = Path("/proc/self/fd")
    if not descriptors.is_dir():
        return 0
    found = 0
    for entry in descriptors.iterdir():
        with contextlib.suppress(OSError, ValueError):
            if not os.readlink(entry).startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(entry.name))) as listening:
                if listening.family in (socket.AF_INET, socket.AF_INET6) and listening.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                ):
                    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    found += 1
    return found


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Queued work runs from the moment the server starts (a job POSTed before anyone opens a page too), and
    a job in hand goes back to the queue when it stops."""
    answer_without_delay()
    with contextlib.suppress(ConfigurationError, Unavailable):  # said on every request, pages and API
        await asyncio.to_thread(api_services)
    try:
        yield
    finally:
        await asyncio.to_thread(setup.shutdown)


routes = api_routes(api_services, api_mode)
