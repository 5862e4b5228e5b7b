"""Thumbnails of stored references for the review board, by signed URL: the browser keeps them for a day, so
a fresh tab draws its first screen of cards from the cache."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from studio.api.callers import ServicesHere, this_machine
from studio.api.models import refusals
from studio.references.thumbnail_urls import CACHE_SECONDS, signed_thumbnail

router = APIRouter(tags=["objects"])


@router.get(
    "/thumbnails/{bucket}/{key:path}",
    response_class=Response,
    dependencies=[Depends(this_machine)],
    responses={
        200: {"content": {"image/webp": {}}, "description": "a WebP at most 256 px on its longer side"},
        **refusals(
            r403="the URL was changed",
            r404="no such image",
            r410="the URL has expired: reload the page",
            r422="v, expires or signature missing",
        ),
    },
)
def signed_thumbnail_image(
    bucket: str,
    key: str,
    services: ServicesHere,
    v: Annotated[str, Query()],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
) -> Response:
    data = signed_thumbnail(services, bucket, key, v, expires, signature)
    return Response(
        data,
        media_type="image/webp",
        headers={
            "Cache-Control": f"private, max-age={CACHE_SECONDS}, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
