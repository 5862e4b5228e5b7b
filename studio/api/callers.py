"""Who calls the API. Local mode: this machine only (no proxy header, a loopback Host), acting as the local
operator, as the pages do. Team mode: `Authorization: Bearer <key>`; no or an unknown key is 401."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from studio.access.api_keys import key_actor
from studio.access.deployment import Mode, local_request_problem
from studio.access.roles import Actor, local_operator
from studio.api.errors import ApiError
from studio.errors import ConfigurationError
from studio.services import Services

HOW_TO_KEY = "make one with `python -m studio api-key create NAME --role creator|reviewer|admin`"


@dataclass(frozen=True)
class Serving:
    """What the API needs from the process that serves it: the services, and the mode it serves in (raises
    ConfigurationError when it must not serve)."""

    services: Callable[[], Services]
    mode: Callable[[], Mode]


def serving(request: Request) -> Serving:
    found: Serving = request.app.state.serving
    return found


def services(request: Request) -> Services:
    return serving(request).services()


def _mode(request: Request) -> Mode:
    try:
        mode = serving(request).mode()
    except ConfigurationError as error:
        raise ApiError(503, "not_serving", str(error)) from None
    if mode == "local":
        problem = local_request_problem(request.headers)
        if problem:
            raise ApiError(403, "local_only", problem)
    return mode


def this_machine(request: Request) -> None:
    """Refuses (in local mode) a request that came through a proxy or by another host name."""
    _mode(request)


BEARER = HTTPBearer(auto_error=False, description="team mode: a key from `python -m studio api-key create`")


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> Actor:
    """The actor a request acts for."""
    if _mode(request) == "local":
        return local_operator(field="USER", channel="api")
    key = credentials.credentials if credentials is not None else ""
    challenge = {"WWW-Authenticate": "Bearer"}
    if not key.strip():
        raise ApiError(
            401,
            "unauthenticated",
            f"this studio serves a team: send `Authorization: Bearer <API key>`; {HOW_TO_KEY}",
            headers=challenge,
        )
    actor = key_actor(services(request).records, key)
    if actor is None:
        raise ApiError(401, "unauthenticated", f"unknown or revoked API key; {HOW_TO_KEY}", headers=challenge)
    return actor


Caller = Annotated[Actor, Depends(caller)]
ServicesHere = Annotated[Services, Depends(services)]
