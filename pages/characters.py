"""Characters: a song's character (upload or template), its description, rounds of looks, and priority."""

import streamlit as st

from components.backends import offline_notice
from components.characters import character_model_choice, pose_upload, song_picker, template_gallery
from components.description_editor import description_editor
from components.identity import actor
from components.looks import looks_form, rounds_browser
from components.priority_table import character_status
from components.setup import page_setup
from studio.characters.songs import set_consistency_enabled

services = page_setup()
st.title("Characters")
st.caption(
    "Each song has one character: upload pose A (and optionally pose B), or pick a template. "
    "An upload is interrogated and a consistent character is generated in the background; "
    "then try rounds of looks and pick the one clips should use."
)
song_id = song_picker(services)
if song_id is None:
    st.stop()

song = services.records.songs.song(song_id)
offline_notice(services)
templates, uploads = st.tabs(["Template characters", "Upload your own"])
with templates:
    template_gallery(services, song_id, song.character_template_id if song else None)
with uploads:
    pose_a, pose_b = st.columns(2)
    with pose_a:
        pose_upload(services, song_id, "A")
    with pose_b:
        pose_upload(services, song_id, "B")

enabled = st.toggle(
    "Character consistency",
    value=song.character_consistency_enabled if song else True,
    key=f"consistency-{song_id}",
    help="Off: clips get no character image at all.",
)
if song is not None and enabled != song.character_consistency_enabled:
    set_consistency_enabled(services, song_id, enabled, actor=actor())

st.subheader("Description")
description_editor(
    services, song_id, uploaded=song is not None and song.character_reference_source == "upload"
)
if song is not None and song.character_reference_key:
    st.subheader("Looks")
    character_model_choice(services, song_id)
    looks_form(services, song_id)
    rounds_browser(services, song_id)
character_status(services, song_id)
