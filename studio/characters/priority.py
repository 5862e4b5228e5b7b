"""Priority resolution: which character images clip generation gets for a song, in order, and why.

Generated image first (the picked look: the consistency job's unless the creator picked another), then the
reference (uploaded, or a template's pose A), then pose B appended (never primary). Every image the song has
is listed, best first; the primary is the first that is not pose B. A failed or missing generated image falls
back to the reference (the original disabled the whole character). With consistency switched off the song
has no character images at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from studio.characters.templates import template_name
from studio.logs import log_step
from studio.records.songs import CharacterJob, ConsistencyStatus, SongRow
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, check_id

Source = Literal["generated", "reference", "template pose-a", "pose-b"]


class CharacterImage(BaseModel):
    rank: int
    source: Source
    key: str
    url: str
    reason: str
    look_id: str | None = None
    """The picked look the generated image is (`r2-3`); None for the other sources."""


class CharacterImages(BaseModel):
    song_id: str
    primary: CharacterImage | None
    images: list[CharacterImage]
    consistency_enabled: bool = True
    note: str = ""
    """Why the list is what it is, in words (empty song, consistency off, job state)."""


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _job_state(job: CharacterJob | None) -> str:
    """Why there is no generated image, in words."""
    if job is None:
        return "no consistency job has run for this reference"
    if job.status == ConsistencyStatus.QUEUED:
        return f"the consistency job is queued (since {_when(job.created_at)})"
    if job.status == ConsistencyStatus.RUNNING:
        return f"the consistency job is running (started {_when(job.started_at)})"
    if job.status == ConsistencyStatus.FAILED:
        return f"the consistency job failed: {job.error}"
    if job.status == ConsistencyStatus.SKIPPED:
        return f"the consistency job was skipped: {job.error}"
    return f"the consistency job ended {job.status} at {_when(job.finished_at)}"


def _generated_reason(services: Services, song: SongRow) -> str:
    """Why the generated image ranks first, naming the look it is."""
    when = _when(song.character_generated_at)
    found = services.records.looks.look(song.id, song.character_look_id) if song.character_look_id else None
    if found is None:
        return (
            f"consistency job completed at {when}: the consistent character made from the uploaded reference"
        )
    look, round_row = found
    if round_row.origin == "consistency":
        return (
            f"consistency job completed at {when}: the consistent character made from the uploaded reference "
            f"(look {look.id}, round {round_row.number})"
        )
    origin = f"look {look.parent}" if look.parent else "the reference"
    return (
        f"picked look {look.id} at {when} (round {round_row.number}, seed {look.seed}, strength "
        f"{look.strength:g}, from {origin}): the creator's choice among the candidate looks"
    )


def _reference_source(song: SongRow) -> Source:
    return "template pose-a" if song.character_reference_source == "template" else "reference"


def resolve(services: Services, song_id: str) -> CharacterImages:
    """The song's character images for clip generation, ranked, with signed URLs and reasons."""
    check_id("song_id", song_id)
    store = services.records.songs
    song = store.song(song_id)
    if song is None:
        return CharacterImages(
            song_id=song_id, primary=None, images=[], note="no character set for this song"
        )
    if not song.character_consistency_enabled:
        return CharacterImages(
            song_id=song_id,
            primary=None,
            images=[],
            consistency_enabled=False,
            note="character consistency is disabled for this song: clips get no character image",
        )
    storage, ttl = services.storage, services.settings.signed_url_ttl
    found: list[tuple[Source, str, str]] = []
    missing: list[str] = []

    def present(key: str | None, what: str) -> bool:
        if key is None:
            return False
        if storage.exists(CHARACTER_BUCKET, key):
            return True
        missing.append(f"the {what} {key} is missing from storage")
        return False

    job = store.latest_job(song_id)
    generated = present(song.character_generated_key, "generated image")
    if generated and song.character_generated_key:
        found.append(("generated", song.character_generated_key, _generated_reason(services, song)))
    if present(song.character_reference_key, "reference image") and song.character_reference_key:
        source = _reference_source(song)
        if source == "template pose-a":
            name = template_name(song.character_template_id)
            why = f"pose A of the template {name}; templates are used as they are, no job"
        else:
            why = "the uploaded reference"
        if generated:
            why += "; outranked by the generated image, used if that goes missing"
        elif source == "reference":
            lost = missing[0] if missing else _job_state(job)
            why = f"generated image missing: {lost}; falling back to the uploaded reference"
        found.append((source, song.character_reference_key, why))
    if present(song.character_pose_b_key, "pose-B image") and song.character_pose_b_key:
        origin = (
            f"of the template {template_name(song.character_template_id)}"
            if song.character_pose_b_source == "template"
            else "(uploaded)"
        )
        found.append(
            ("pose-b", song.character_pose_b_key, f"pose B {origin}: added for variety, never primary")
        )
    images = [
        CharacterImage(
            rank=rank,
            source=source,
            key=key,
            url=storage.signed_url(CHARACTER_BUCKET, key, ttl),
            reason=reason,
            look_id=song.character_look_id if source == "generated" else None,
        )
        for rank, (source, key, reason) in enumerate(found, start=1)
    ]
    primary = next((image for image in images if image.source != "pose-b"), None)
    notes = list(missing)
    if primary is None:
        notes.append("no primary image: upload pose A or apply a template")
    return CharacterImages(song_id=song_id, primary=primary, images=images, note="; ".join(notes))


log = logging.getLogger("studio.characters")


def log_clip_choice(resolution: CharacterImages, job_id: str | None = None) -> None:
    """Say which character image clip generation takes, where it takes it (the export), not on every view."""
    primary = resolution.primary
    if primary is None:
        log_step(
            log,
            "no character image for clip generation",
            song_id=resolution.song_id,
            job_id=job_id,
            stage="clip_generation",
            outcome="none",
        )
        return
    message = (
        "using character generated image for clip generation"
        if primary.source == "generated"
        else "using character reference image (pose-a) for clip generation"
    )
    log_step(
        log,
        message,
        song_id=resolution.song_id,
        job_id=job_id,
        stage="clip_generation",
        reference=primary.key,
        outcome=primary.source,
    )


def primary_image(services: Services, song_id: str) -> bytes | None:
    """The bytes of the image clip generation takes for the song (its resolved primary), if it has one."""
    primary = resolve(services, song_id).primary
    if primary is None:
        return None
    return services.storage.get(CHARACTER_BUCKET, primary.key)
