"""The seed's character routes: upload a song's character image (pose A queues the consistency job), apply
a template character, and the song's priority resolution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from studio.api.callers import Caller, ServicesHere
from studio.api.models import ASKED_BY_KEY, TemplateApplication, refusals
from studio.characters.images import MAX_UPLOAD_BYTES
from studio.characters.priority import CharacterImages, resolve
from studio.characters.songs import CharacterUpload, TemplateApplied, apply_template, upload_character_image
from studio.characters.templates import TemplateList, list_templates
from studio.errors import InvalidInput, NotFound
from studio.storage.keys import check_id

router = APIRouter(
    tags=["characters"], responses={**ASKED_BY_KEY, **refusals(r404="no such song or template")}
)


@router.post("/songs/{song_id}/character-image", status_code=202, response_model=CharacterUpload)
async def upload_character(
    song_id: str,
    services: ServicesHere,
    actor: Caller,
    image: Annotated[UploadFile, File(description="PNG, JPEG or WebP; at most 20 MB")],
    pose: Annotated[str, Form(description="a (default) or b")] = "a",
) -> CharacterUpload:
    """Store the song's character image; pose A queues the consistency job, which the server runs."""
    data = await image.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput("image", f"is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")
    return await run_in_threadpool(
        upload_character_image, services, song_id, data, pose.strip().upper(), actor=actor
    )


@router.get("/template-characters", response_model=TemplateList)
def templates(_actor: Caller) -> TemplateList:
    return list_templates()


@router.post("/template-characters/{template_id}/apply", response_model=TemplateApplied)
def apply(
    template_id: str, body: TemplateApplication, services: ServicesHere, actor: Caller
) -> TemplateApplied:
    return apply_template(services, body.song_id, template_id, actor=actor)


@router.get("/songs/{song_id}/character", response_model=CharacterImages)
def character(song_id: str, services: ServicesHere, _actor: Caller) -> CharacterImages:
    """The priority resolution: which image clip generation uses for the song's lead character, and why."""
    check_id("song_id", song_id)
    if services.records.songs.song(song_id) is None:
        raise NotFound(f"song {song_id}")
    return resolve(services, song_id)
