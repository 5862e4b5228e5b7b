"""Local storage's signed URLs, served over HTTP so any tool can fetch what a manifest names: 403 when the
URL was changed, 410 once it has expired. The signature is the authority, so no key is asked for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from studio.api.callers import ServicesHere, this_machine
from studio.api.models import refusals
from studio.errors import InvalidInput, NotFound
from studio.storage.local import LocalStorage, SignatureMismatch, UrlExpired

router = APIRouter(tags=["objects"])


@router.get(
    "/objects/{bucket}/{key:path}",
    response_class=Response,
    dependencies=[Depends(this_machine)],
    responses={
        200: {"content": {"image/png": {}}, "description": "the object's bytes, with their type"},
        **refusals(
            r403="the URL was changed (or local mode: the request came through a proxy)",
            r404="no such object",
            r410="the URL has expired: export the manifest again",
            r422="expires or signature missing",
        ),
    },
)
def signed_object(
    bucket: str,
    key: str,
    services: ServicesHere,
    expires: Annotated[str, Query()],
    signature: Annotated[str, Query()],
) -> Response:
    storage = services.storage
    if not isinstance(storage, LocalStorage):
        raise NotFound("objects are served by the configured storage, not by the studio")
    try:
        storage.check(bucket, key, expires, signature)
    except (SignatureMismatch, UrlExpired):
        raise
    except InvalidInput as error:  # a malformed bucket, key or expiry: the URL was changed too
        raise SignatureMismatch("url", error.problem) from None
    data = storage.get(bucket, key)
    return Response(
        data,
        media_type=storage.content_type(bucket, key),
        headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
