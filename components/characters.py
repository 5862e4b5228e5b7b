"""Character widgets: the song picker, the template gallery and uploads."""

from __future__ import annotations

import streamlit as st

from components.identity import actor
from components.pickers import sticky_select
from components.setup import current_song_id, select_song
from studio.characters.character_models import set_model, show_model
from studio.characters.images import MAX_UPLOAD_BYTES
from studio.characters.overview import recent_songs
from studio.characters.songs import apply_template, create_song, upload_character_image
from studio.characters.templates import list_templates, template_image
from studio.errors import InvalidInput, StudioError
from studio.inputs.files import read_stream
from studio.services import Services
from studio.storage.keys import safe_id_problem, suggested_id

SONG_ID_HELP = (
    "A title becomes the song's id: lower case, words joined by '-' (Midnight Drive is midnight-drive)."
)


def song_picker(services: Services) -> str | None:
    """Pick a recent song or name a new one; the choice is the page's current song."""
    songs = [s.song_id for s in recent_songs(services)]
    current = current_song_id()
    if current and current not in songs:
        songs.insert(0, current)
    pick, new = st.columns([2, 1])
    if songs:
        with pick:
            current = sticky_select("Song", songs, key="song-picker", current=current, choose=select_song)
    else:
        pick.caption("No songs yet: name one to start.")
    with new.form("new-song", border=False):
        name = st.text_input(
            "New song", placeholder="a title, e.g. Midnight Drive", key="new-song-id", help=SONG_ID_HELP
        )
        created = st.form_submit_button("Create song")
    if created:
        typed = name.strip()
        song_id = (suggested_id(typed) if safe_id_problem(typed) else typed) or typed
        try:
            select_song(create_song(services, song_id, actor=actor()))
        except InvalidInput as error:
            new.error(f"**{error.field}**: {error.problem}")
        else:
            st.toast(f"Song `{song_id}` created" + (f" from “{typed}”" if song_id != typed else ""))
            st.rerun()
    return current


def template_gallery(services: Services, song_id: str, in_use: str | None) -> None:
    """The four template characters as thumbnails; one click copies a template's poses into the song."""
    templates = list_templates().templates
    for column, template in zip(st.columns(len(templates)), templates, strict=True):
        with column:
            st.image(template_image(template.id, "pose-a", thumbnail=True), width="stretch")
            st.markdown(f"**{template.name}**")
            st.caption(template.description)
            chosen = template.id == in_use
            if st.button(
                "In use" if chosen else "Use",
                key=f"template-{template.id}",
                width="stretch",
                type="primary" if chosen else "secondary",
                icon=":material/check:" if chosen else None,
            ):
                applied = apply_template(services, song_id, template.id, actor=actor())
                st.toast(f"{template.name} applied to {applied.song_id}.")
                st.rerun()


def pose_upload(services: Services, song_id: str, pose: str) -> None:
    """An uploader for pose A (queues the consistency job) or pose B (stored only)."""
    label = "Pose A (the reference)" if pose == "A" else "Pose B (optional second pose)"
    file = st.file_uploader(
        label,
        type=["png", "jpg", "jpeg", "webp"],
        key=f"upload-{pose}-{song_id}",
        max_upload_size=MAX_UPLOAD_BYTES // (1024 * 1024),  # the limit the uploader states is the studio's
    )
    if file is not None and st.button(f"Store pose {pose}", key=f"store-{pose}-{song_id}"):
        try:
            file.seek(0)
            data = read_stream(file, MAX_UPLOAD_BYTES, "image")
            stored = upload_character_image(services, song_id, data, pose, actor=actor())
        except InvalidInput as error:
            st.error(f"**{error.field}**: {error.problem}")
            return
        except StudioError as error:
            st.error(str(error))
            return
        queued = " The consistency job is queued." if stored.job_id else ""
        st.success(f"Stored pose {pose} ({stored.width}x{stored.height}, {stored.content_type}).{queued}")


def character_model_choice(services: Services, song_id: str) -> None:
    """The song's character model: SDXL (the default) or a reference-conditioned model that keeps the face
    from the song's images; used by its looks and its lead character's references, never by scenes."""
    shown = show_model(services, song_id)
    names = [entry.name for entry in shown.models]
    labels = {entry.name: entry.label for entry in shown.models}
    chosen = st.selectbox(
        "Character model",
        names,
        index=names.index(shown.model),
        format_func=lambda name: labels[name],
        key=f"character-model-{song_id}",
        help="Used by this song's looks, More like this and its lead character's references; scenes stay on "
        "SDXL. A reference-conditioned model is given the song's images: the look a round starts from, the "
        "picked look, pose A and pose B.",
    )
    if chosen != shown.model:
        try:
            shown = set_model(services, song_id, chosen, actor=actor())
        except StudioError as error:
            st.error(str(error))
            return
        st.toast(f"{song_id} now uses {shown.model} for its character.")
    if not shown.reproducible:
        st.caption(f"{shown.model} takes no seed: its images cannot be remade exactly.")
