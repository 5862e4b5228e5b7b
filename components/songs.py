"""Song lists and the song picker shared by Home and Characters."""

from __future__ import annotations

import streamlit as st

from studio.overview import recent_songs
from studio.services import Services


def recent_songs_table(studio: Services, limit: int = 10) -> None:
    songs = recent_songs(studio, limit)
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
