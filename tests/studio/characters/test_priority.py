"""Priority resolution in every state of a song's character."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from urllib.parse import parse_qs, urlsplit

from studio.characters.consistency import generate_now
from studio.characters.priority import resolve
from studio.characters.songs import apply_template, set_consistency_enabled, upload_character_image
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET
from tests.fakes import ScriptedGenerator, fatal
from tests.studio.characters import samples

REFERENCE = "songs/demo-song/character_reference.png"
GENERATED = "songs/demo-song/character_generated.png"
POSE_B = "songs/demo-song/character_pose_b.png"


def table(services: Services) -> list[tuple[int, str, str]]:
    return [(i.rank, i.source, i.key) for i in resolve(services, "demo-song").images]


def test_unknown_song_has_no_images(services: Services) -> None:
    result = resolve(services, "demo-song")
    assert result.model_dump(include={"song_id", "primary", "images"}) == {
        "song_id": "demo-song",
        "primary": None,
        "images": [],
    }
    assert result.note == "no character set for this song"


def test_queued_job_falls_back_to_the_uploaded_reference(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    result = resolve(services, "demo-song")
    assert table(services) == [(1, "reference", REFERENCE)]
    assert result.primary == result.images[0]
    assert result.primary.reason.startswith("generated image missing: the consistency job is queued (since ")


def test_completed_job_puts_the_generated_image_first(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    upload_character_image(services, "demo-song", samples.png(), pose="B")
    asyncio.run(generate_now(services, "demo-song"))
    result = resolve(services, "demo-song")
    assert table(services) == [
        (1, "generated", GENERATED),
        (2, "reference", REFERENCE),
        (3, "pose-b", POSE_B),
    ]
    assert result.primary is not None and result.primary.source == "generated"
    assert result.primary.reason.startswith("consistency job completed at ")
    assert "never primary" in result.images[2].reason


def test_signed_urls_use_the_configured_lifetime(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    [image] = resolve(services, "demo-song").images
    assert services.storage.verify(image.url) == (CHARACTER_BUCKET, REFERENCE)  # type: ignore[attr-defined]
    expires = int(parse_qs(urlsplit(image.url).query)["expires"][0])
    assert abs(expires - (time.time() + services.settings.signed_url_ttl)) < 60


def test_failed_job_falls_back_with_the_error_in_words(services: Services) -> None:
    failing = dataclasses.replace(services, generator=ScriptedGenerator(fail_when=lambda r: fatal("timeout")))
    upload_character_image(failing, "demo-song", samples.png())
    asyncio.run(generate_now(failing, "demo-song"))
    [image] = resolve(services, "demo-song").images
    assert (image.source, image.key) == ("reference", REFERENCE)
    assert (
        "the consistency job failed: scripted timeout; falling back to the uploaded reference" in image.reason
    )


def test_generated_object_missing_from_storage_falls_back(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    asyncio.run(generate_now(services, "demo-song"))
    services.storage.delete(CHARACTER_BUCKET, [GENERATED])
    result = resolve(services, "demo-song")
    assert table(services) == [(1, "reference", REFERENCE)]
    assert f"the generated image {GENERATED} is missing from storage" in result.images[0].reason
    assert GENERATED in result.note


def test_template_pose_a_is_primary_and_pose_b_is_appended(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    result = resolve(services, "demo-song")
    assert table(services) == [(1, "template pose-a", REFERENCE), (2, "pose-b", POSE_B)]
    assert result.primary is not None and result.primary.source == "template pose-a"
    assert "the template Geometric Character" in result.primary.reason


def test_pose_b_alone_is_never_primary(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png(), pose="B")
    result = resolve(services, "demo-song")
    assert table(services) == [(1, "pose-b", POSE_B)] and result.primary is None


def test_disabled_consistency_gives_no_images(services: Services) -> None:
    apply_template(services, "demo-song", "character-2")
    set_consistency_enabled(services, "demo-song", False)
    result = resolve(services, "demo-song")
    assert result.primary is None and result.images == [] and result.consistency_enabled is False
    set_consistency_enabled(services, "demo-song", True)
    assert len(resolve(services, "demo-song").images) == 2


def test_a_new_upload_demotes_nothing_stale(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    asyncio.run(generate_now(services, "demo-song"))
    upload_character_image(services, "demo-song", samples.jpeg())
    assert table(services) == [(1, "reference", "songs/demo-song/character_reference.jpg")]
