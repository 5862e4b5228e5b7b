"""A song's character model: which catalogued model makes its looks and its lead character's references, and
the song's images a reference-conditioned model is given (the look a round starts from, the picked look,
pose A, pose B). Scenes stay on SDXL whatever a song chooses.
"""

from __future__ import annotations

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.errors import NotFound
from studio.generation.base import ReferenceImage
from studio.generation.models import CATALOGUE, image_model
from studio.records.songs import SongRow
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, check_id

URL_STORAGES = frozenset({"supabase"})
"""Storages whose signed URLs a provider can fetch (local ones point at this machine)."""
REFERENCE_URL_SECONDS = 3600


class CatalogueEntry(BaseModel):
    name: str
    label: str
    conditioned: bool
    seed: bool
    max_references: int
    pricing: str


class CharacterModel(BaseModel):
    """`character model SONG --json`: the song's model and the models it may choose."""

    song_id: str
    model: str
    label: str
    conditioned: bool
    reproducible: bool
    """False: the model takes no seed, so its images cannot be remade exactly."""
    models: list[CatalogueEntry]


def known_song(services: Services, song_id: str) -> SongRow:
    """The song's row; InvalidInput for a malformed id, NotFound for an unknown one."""
    check_id("song_id", song_id)
    song = services.records.songs.song(song_id)
    if song is None:
        raise NotFound(f"song {song_id!r}")
    return song


def song_model(song: SongRow | None) -> str:
    """The song's character model by name (SDXL when it never chose, or for no song)."""
    return (song.character_model if song is not None else None) or image_model(None).name


def _view(song_id: str, name: str) -> CharacterModel:
    model = image_model(name)
    return CharacterModel(
        song_id=song_id,
        model=model.name,
        label=model.label,
        conditioned=model.conditioned,
        reproducible=model.seed,
        models=[
            CatalogueEntry(
                name=entry.name,
                label=entry.label,
                conditioned=entry.conditioned,
                seed=entry.seed,
                max_references=entry.max_references,
                pricing=entry.pricing,
            )
            for entry in CATALOGUE.values()
        ],
    )


def show_model(services: Services, song_id: str) -> CharacterModel:
    return _view(song_id, song_model(known_song(services, song_id)))


def set_model(services: Services, song_id: str, model: str, *, actor: Actor | None = None) -> CharacterModel:
    """Choose the song's character model; InvalidInput (model) or NotFound (song) write nothing."""
    require(actor, "create")
    chosen = image_model(model, "model")
    known_song(services, song_id)
    services.records.songs.update_song(song_id, character_model=chosen.name)
    return _view(song_id, chosen.name)


def conditioning_keys(
    song: SongRow, start_key: str | None, start_name: str = "start"
) -> list[tuple[str, str]]:
    """(name, key) of the song's images a conditioned model is given, first the one a round starts from,
    each key once."""
    picked = song.character_generated_key if song.character_look_id or song.character_generated_key else None
    named = [
        (start_name, start_key),
        (f"look:{song.character_look_id}" if song.character_look_id else "generated", picked),
        ("pose-a", song.character_reference_key),
        ("pose-b", song.character_pose_b_key),
    ]
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for name, key in named:
        if key and key not in seen:
            seen.add(key)
            found.append((name, key))
    return found


def conditioning_images(
    services: Services, song: SongRow, start_key: str | None, limit: int, start_name: str = "start"
) -> tuple[ReferenceImage, ...]:
    """The images, read from storage (a missing one is left out), each with a URL when storage gives one
    a provider can fetch."""
    images: list[ReferenceImage] = []
    for name, key in conditioning_keys(song, start_key, start_name)[:limit]:
        try:
            data = services.storage.get(CHARACTER_BUCKET, key)
        except NotFound:
            continue
        url = None
        if services.storage.name in URL_STORAGES:
            url = services.storage.signed_url(CHARACTER_BUCKET, key, REFERENCE_URL_SECONDS)
        images.append(ReferenceImage(data=data, url=url, name=f"{name} ({key})"))
    return tuple(images)


def lead_conditioning(services: Services, song_id: str | None) -> tuple[str, tuple[ReferenceImage, ...]]:
    """The model a job's lead character reference uses for this song, and (for a conditioned model) the
    song's images it is given; SDXL and no images when there is no song or the song keeps SDXL."""
    song = services.records.songs.song(song_id) if song_id else None
    model = image_model(song_model(song))
    if song is None or not model.conditioned:
        return image_model(None).name, ()
    return model.name, conditioning_images(services, song, None, model.max_references)
