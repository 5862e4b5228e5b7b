"""A song's character setup: uploads of pose A or B, templates, and the consistency switch.

A new pose-A upload or a template replaces the character, so it clears the old generated image (record and
object) and supersedes the song's open consistency jobs: the original kept a stale generated image at
priority 1 forever. Superseded jobs get the status `superseded`; a running one can no longer publish.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.characters.images import prepare_character_image
from studio.characters.templates import get_template, template_image
from studio.errors import InvalidInput
from studio.logs import log_step
from studio.money import to_nanos
from studio.records.objects import ObjectCheck
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, check_id, generated_key, song_key

log = logging.getLogger("studio.characters")

Pose = Literal["A", "B"]
REFERENCE = "character_reference"
POSE_B = "character_pose_b"
GENERATED = "character_generated"


class CharacterUpload(BaseModel):
    """What an upload stored, and the job it queued (pose A only)."""

    song_id: str
    pose: Pose
    key: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    job_id: str | None = None
    superseded_jobs: int = 0
    cleared_generated: bool = False


class TemplateApplied(BaseModel):
    song_id: str
    template_id: str
    reference_key: str
    pose_b_key: str
    superseded_jobs: int = 0
    cleared_generated: bool = False


def consistency_budget(services: Services) -> int:
    """What a consistency job may spend (nanos): the default budget of a job."""
    return to_nanos(services.settings.default_job_budget)


def check_pose(pose: str) -> Pose:
    normal = pose.strip().upper().removeprefix("POSE-").removeprefix("POSE ")
    if normal == "A":
        return "A"
    if normal == "B":
        return "B"
    raise InvalidInput("pose", f"{pose!r} is not A or B")


def _delete(services: Services, keys: list[str]) -> None:
    if keys:
        services.storage.delete(CHARACTER_BUCKET, sorted(set(keys)))


def upload_character_image(
    services: Services, song_id: str, data: bytes, pose: str = "A", *, actor: Actor | None = None
) -> CharacterUpload:
    """Store an uploaded pose (validated and re-encoded); pose A also queues the consistency job.

    Nothing is written when the id, pose or image is refused, or when `actor` is not a creator.
    """
    require(actor, "create")
    check_id("song_id", song_id)
    which = check_pose(pose)
    image = prepare_character_image(data)
    store = services.records.songs
    key = song_key(song_id, REFERENCE if which == "A" else POSE_B, image.extension)
    services.storage.put(CHARACTER_BUCKET, key, image.data, image.content_type)
    checks = {key: ObjectCheck.of(image.data)}
    result = CharacterUpload(
        song_id=song_id,
        pose=which,
        key=key,
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
    )
    if which == "B":
        _delete(services, store.set_pose_b(song_id, key, "upload", checks))
        return result
    change = store.replace_character(
        song_id,
        "a new pose-A image was uploaded",
        consistency_budget(services),
        checks,
        character_reference_key=key,
        character_reference_source="upload",
        character_template_id=None,
    )
    _delete(services, [*change.old_keys, generated_key(song_id)])
    log_step(
        log,
        "character image generation job enqueued",
        job_id=change.job_id,
        song_id=song_id,
        stage="consistency",
        outcome="queued",
    )
    return result.model_copy(
        update={
            "job_id": change.job_id,
            "superseded_jobs": change.superseded,
            "cleared_generated": change.had_generated,
        }
    )


def apply_template(
    services: Services, song_id: str, template_id: str, *, actor: Actor | None = None
) -> TemplateApplied:
    """Copy a template's poses into the song's own keys; no interrogation and no job. Only creators."""
    require(actor, "create")
    check_id("song_id", song_id)
    template = get_template(template_id)
    reference_key = song_key(song_id, REFERENCE, "png")
    pose_b_key = song_key(song_id, POSE_B, "png")
    checks = {}
    poses: tuple[tuple[str, Literal["pose-a", "pose-b"]], ...] = (
        (reference_key, "pose-a"),
        (pose_b_key, "pose-b"),
    )
    for key, pose in poses:
        png = template_image(template.id, pose)
        services.storage.put(CHARACTER_BUCKET, key, png, "image/png")
        checks[key] = ObjectCheck.of(png)
    change = services.records.songs.replace_character(
        song_id,
        f"the template {template.name} was applied",
        None,
        checks,
        character_reference_key=reference_key,
        character_reference_source="template",
        character_template_id=template.id,
        character_pose_b_key=pose_b_key,
        character_pose_b_source="template",
    )
    _delete(services, [*change.old_keys, generated_key(song_id)])
    return TemplateApplied(
        song_id=song_id,
        template_id=template.id,
        reference_key=reference_key,
        pose_b_key=pose_b_key,
        superseded_jobs=change.superseded,
        cleared_generated=change.had_generated,
    )


def set_consistency_enabled(
    services: Services, song_id: str, enabled: bool, *, actor: Actor | None = None
) -> None:
    """Turn character consistency on or off; off means priority resolution returns no images. Creators only
    (`actor`; without one, the local operator)."""
    require(actor, "create")
    check_id("song_id", song_id)
    services.records.songs.update_song(song_id, character_consistency_enabled=enabled)


def create_song(services: Services, song_id: str, *, actor: Actor | None = None) -> str:
    """A new song, saved at once (its character comes later: an upload or a template). Creators only."""
    require(actor, "create")
    check_id("song_id", song_id)
    services.records.songs.update_song(song_id)
    return song_id
