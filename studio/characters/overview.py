"""Songs as the studio lists them (recent songs, their character at a glance), and a re-run of a song's
consistency job from the Characters page."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.characters.songs import consistency_budget
from studio.characters.templates import template_name
from studio.errors import InvalidInput
from studio.services import Services
from studio.storage.keys import check_id


class SongSummary(BaseModel):
    song_id: str
    character: str
    """`Organic Character (template)`, `upload`, or `none`."""
    has_pose_b: bool
    has_generated: bool
    consistency_enabled: bool
    job_status: str | None
    updated_at: datetime


def recent_songs(services: Services, limit: int = 50) -> list[SongSummary]:
    """Songs, most recently changed first, with their latest consistency job's status."""
    store = services.records.songs
    rows = store.recent(limit)
    summaries = []
    for row in rows:
        if row.character_reference_source == "template":
            character = f"{template_name(row.character_template_id)} (template)"
        else:
            character = row.character_reference_source or "none"
        job = store.latest_job(row.id)
        summaries.append(
            SongSummary(
                song_id=row.id,
                character=character,
                has_pose_b=row.character_pose_b_key is not None,
                has_generated=row.character_generated_key is not None,
                consistency_enabled=row.character_consistency_enabled,
                job_status=job.status if job is not None else None,
                updated_at=row.updated_at,
            )
        )
    return summaries


def requeue_consistency(services: Services, song_id: str, *, actor: Actor | None = None) -> str:
    """Queue a fresh consistency job (a new interrogation and generated image) for an uploaded reference.

    Open jobs of the song are superseded; templates have no job, so they are refused. Creators only.
    """
    require(actor, "create")
    check_id("song_id", song_id)
    store = services.records.songs
    song = store.song(song_id)
    if song is None or song.character_reference_source != "upload" or not song.character_reference_key:
        raise InvalidInput("song_id", f"{song_id!r} has no uploaded pose-A reference to interrogate")
    return store.requeue(song_id, "re-run requested in the studio", consistency_budget(services))


def work_on(services: Services, song_id: str) -> bool:
    """Remember `song_id` as the song last worked on (a new tab, a reload and Generate open on it).

    Anyone who may open the studio chooses what to look at (no role is asked for); False, with nothing
    written, for a song the records do not know.
    """
    check_id("song_id", song_id)
    return services.records.songs.mark_worked_on(song_id)


def last_worked_on(services: Services) -> str | None:
    """The song a creator last chose, in any session or tab."""
    return services.records.songs.last_worked_on()
