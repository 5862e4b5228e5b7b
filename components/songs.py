"""Song lists and the song picker shared by Home and Characters."""

from __future__ import annotations

import streamlit as st

from components.pickers import sticky_select
from components.setup import current_song_id, select_song
from studio.characters.overview import recent_songs
from studio.services import Services


def recent_songs_table(services: Services, limit: int = 10) -> None:
    songs = recent_songs(services, limit)
    if not songs:
        st.caption("No songs yet: create one on **Characters**.")
        return
    st.dataframe(
        [
            {
                "song": song.song_id,
                "character": song.character,
                "pose B": song.has_pose_b,
                "generated": song.has_generated,
                "consistency job": song.job_status or "—",
                "updated": song.updated_at.strftime("%Y-%m-%d %H:%M"),
            }
            for song in songs
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "pose B": st.column_config.CheckboxColumn("pose B"),
            "generated": st.column_config.CheckboxColumn("generated", help="Consistent character image"),
        },
    )


NO_SONG = ""


def song_choice(services: Services, job_song: str | None) -> str | None:
    """The song whose character the job uses (its image conditions the lead character and goes into the
    export); defaults to the job's song, else the current song. None: no character."""
    songs = [song.song_id for song in recent_songs(services)]
    current = job_song or current_song_id()
    options = [NO_SONG, *songs] if not current or current in songs else [NO_SONG, current, *songs]
    chosen = sticky_select(
        "Song",
        options,
        key="generate-song",
        current=current or NO_SONG,
        choose=lambda song_id: select_song(song_id or None),
        format_func=lambda song_id: song_id or "no song: no character image",
        help="Its resolved character image conditions the plan's lead character and goes into the export.",
    )
    return chosen or None
