"""The API as one FastAPI application, mounted at `/api/v1` beside whatever else the server serves."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount

from studio.access.deployment import Mode
from studio.api import characters, errors, jobs, objects, thumbnails
from studio.api.callers import Serving
from studio.api.limits import BodyLimit
from studio.api.models import Health
from studio.api.paths import API_PREFIX
from studio.services import Services

DESCRIPTION = (
    "What a pipeline calls: queue a scene plan's reference job, follow its events, review, and fetch the "
    "approved manifest. Local mode answers this machine only; team mode asks for `Authorization: Bearer "
    "<key>` (`python -m studio api-key create NAME --role creator|reviewer|admin`). Errors are "
    '`{"error": {"code", "message", "field"?}}`.'
)


def build_api(services: Callable[[], Services], mode: Callable[[], Mode]) -> FastAPI:
    """The application; `services` gives the container to use, `mode` the mode to serve in (it raises
    ConfigurationError when the server must not serve)."""
    api = FastAPI(
        title="Reference Studio API",
        version="1",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.openapi_version = "3.2.0"  # the SSE route describes its events by `itemSchema`, new in OpenAPI 3.2
    api.state.serving = Serving(services, mode)
    errors.install(api)

    @api.get("/health", response_model=Health, tags=["health"])
    def health() -> Health:
        """Liveness."""
        return Health(status="ok")

    api.include_router(jobs.router)
    api.include_router(characters.router)
    api.include_router(objects.router)
    api.include_router(thumbnails.router)
    api.add_middleware(BodyLimit)
    return api


def api_routes(services: Callable[[], Services], mode: Callable[[], Mode]) -> list[BaseRoute]:
    """The routes a server adds to serve the API (Streamlit's `st.App(routes=...)`)."""
    return [Mount(API_PREFIX, app=build_api(services, mode))]
