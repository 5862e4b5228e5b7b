"""Every refusal of the API as JSON, `{"error": {"code", "message", "field"?}}`: the studio's own errors by
kind, a malformed request by the field it names, and anything unexpected as a 500 without its traceback
(which goes to the server's log)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from studio.access.roles import AccessDenied
from studio.errors import ConfigurationError, InvalidInput, NotFound, StudioError, Unavailable
from studio.review.export import NotApproved, PreviewsRefused
from studio.storage.local import SignatureMismatch, UrlExpired

log = logging.getLogger("studio.api")


class ApiError(Exception):
    """A refusal the API makes itself (no key, a proxy in local mode, ...)."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"code": code, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _studio_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, SignatureMismatch):
        return error_response(403, "signature_mismatch", "this signed URL was changed: " + exc.problem)
    if isinstance(exc, UrlExpired):
        return error_response(
            410, "expired", "this signed URL " + exc.problem + "; export the manifest again"
        )
    if isinstance(exc, InvalidInput):
        problems = [{"field": p.field, "problem": p.problem} for p in exc.problems]
        return error_response(422, "invalid_input", str(exc), field=exc.field, problems=problems)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"not found: {exc}")
    if isinstance(exc, AccessDenied):
        return error_response(403, "forbidden", str(exc))
    if isinstance(exc, NotApproved):
        pending = [ref for ref, status in exc.refs.items() if status == "pending"]
        return error_response(409, "not_approved", str(exc), pending=pending, refs=dict(exc.refs))
    if isinstance(exc, PreviewsRefused):
        return error_response(409, "offline_preview", str(exc), previews=exc.refs)
    if isinstance(exc, ConfigurationError):
        return error_response(503, "not_configured", f"configuration: {exc}")
    if isinstance(exc, Unavailable):
        return error_response(503, "unavailable", f"{exc.what}; {exc.fix}")
    return error_response(409, "conflict", str(exc))


def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)


def _malformed(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
            "problem": str(error["msg"]).removeprefix("Value error, "),
        }
        for error in exc.errors()
    ]
    first = problems[0] if problems else {"field": "body", "problem": "is malformed"}
    listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return error_response(422, "invalid_input", listed, field=first["field"], problems=problems)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("API request %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the studio failed on this request; its log says why")


def install(api: FastAPI) -> None:
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(StudioError, _studio_error)
    api.add_exception_handler(RequestValidationError, _malformed)
    api.add_exception_handler(HTTPException, _http)
    api.add_exception_handler(Exception, _unexpected)
