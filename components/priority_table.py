"""The consistency job's live status and the priority resolution: ranked images with source and reason."""

from __future__ import annotations

import streamlit as st

from components.jobs import status_label
from studio.characters.priority import resolve
from studio.errors import NotFound
from studio.records.songs import OPEN_STATUSES
from studio.references.gallery import thumbnail
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET

POLL_SECONDS = 1.0


def _job_status(services: Services, song_id: str) -> str | None:
    job = services.records.songs.latest_job(song_id)
    if job is None:
        st.caption("Consistency job: none yet.")
        return None
    note = f" · {job.error}" if job.error else ""
    st.markdown(
        f"**Consistency job** `{job.id[:8]}`: {status_label(job.status)} (attempt {job.attempts}){note}"
    )
    return job.status


def _resolution(services: Services, song_id: str) -> None:
    resolved = resolve(services, song_id)
    if resolved.note:
        st.caption(resolved.note)
    if not resolved.images:
        return
    st.dataframe(
        [{"rank": i.rank, "source": i.source, "reason": i.reason} for i in resolved.images],
        hide_index=True,
        width="stretch",
    )
    for column, image in zip(st.columns(4), resolved.images, strict=False):
        with column:
            try:
                thumb = thumbnail(services, image.key, bucket=CHARACTER_BUCKET)
            except NotFound:
                st.caption(f"{image.key} is missing")
                continue
            primary = " · primary" if resolved.primary and resolved.primary.key == image.key else ""
            look = f" · look {image.look_id}" if image.look_id else ""
            st.image(thumb.data, caption=f"#{image.rank} {image.source}{look}{primary}", width="stretch")


def _live(services: Services, song_id: str, live: bool) -> None:
    status = _job_status(services, song_id)
    if live and status not in OPEN_STATUSES:
        st.rerun()
    st.subheader("Priority resolution")
    _resolution(services, song_id)


def character_status(services: Services, song_id: str) -> None:
    """Job status and resolution, refreshed every second while the song's consistency job is open."""
    job = services.records.songs.latest_job(song_id)
    live = job is not None and job.status in OPEN_STATUSES
    st.fragment(_live, run_every=POLL_SECONDS if live else None)(services, song_id, live)


def downstream_character(services: Services, song_id: str | None) -> None:
    """Which character image clip generation takes with this job's references, and why."""
    if song_id is None:
        st.caption("This job has no song: clips get no character image. Choose a song on **Generate**.")
        return
    resolved = resolve(services, song_id)
    primary = resolved.primary
    if primary is None:
        st.caption(f"Song **{song_id}**: no character image ({resolved.note or 'none set'}).")
        return
    image, words = st.columns([1, 4])
    try:
        image.image(thumbnail(services, primary.key, bucket=CHARACTER_BUCKET).data, width="stretch")
    except NotFound:
        image.caption(f"{primary.key} is missing")
    words.markdown(f"Song **{song_id}** · **{primary.source}** image, rank {primary.rank}")
    words.caption(primary.reason)
