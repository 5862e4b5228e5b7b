"""Uploads of pose A and B, templates, and what each clears and queues."""

from __future__ import annotations

import pytest

from studio.characters.songs import apply_template, set_consistency_enabled, upload_character_image
from studio.characters.templates import template_image
from studio.errors import InvalidInput
from studio.records.objects import ObjectCheck
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET
from tests.studio.characters import samples
from tests.studio.characters.conftest import song, stored


@pytest.mark.parametrize(
    ("data", "key", "content_type"),
    [
        (samples.png(), "songs/demo-song/character_reference.png", "image/png"),
        (samples.jpeg(), "songs/demo-song/character_reference.jpg", "image/jpeg"),
        (samples.webp(), "songs/demo-song/character_reference.webp", "image/webp"),
    ],
    ids=["png", "jpeg", "webp"],
)
def test_pose_a_is_stored_under_the_design_key_with_matching_type_and_queues_a_job(
    services: Services, data: bytes, key: str, content_type: str
) -> None:
    result = upload_character_image(services, "demo-song", data)
    assert (result.key, result.content_type) == (key, content_type)
    assert services.storage.content_type(CHARACTER_BUCKET, key) == content_type  # type: ignore[attr-defined]
    assert samples.decode(services.storage.get(CHARACTER_BUCKET, key)).get_format_mimetype() == content_type
    row = song(services)
    assert (row.character_reference_key, row.character_reference_source) == (key, "upload")
    jobs = services.records.songs.jobs("demo-song")
    assert [(job.id, job.status) for job in jobs] == [(result.job_id, "queued")]


def test_pose_b_only_stores_pose_b(services: Services) -> None:
    result = upload_character_image(services, "demo-song", samples.jpeg(), pose="B")
    assert result.key == "songs/demo-song/character_pose_b.jpg" and result.job_id is None
    row = song(services)
    assert row.character_pose_b_key == result.key and row.character_reference_key is None
    assert services.records.songs.jobs("demo-song") == []


@pytest.mark.parametrize(
    ("song_id", "pose", "data", "field"),
    [
        ("../etc", "A", samples.png(), "song_id"),
        ("demo song", "A", samples.png(), "song_id"),
        ("demo-song", "C", samples.png(), "pose"),
        ("demo-song", "A", samples.animated_gif(), "image"),
        ("demo-song", "A", samples.png_claiming(20_000, 20_000), "image"),
    ],
)
def test_refused_uploads_write_nothing(
    services: Services, song_id: str, pose: str, data: bytes, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        upload_character_image(services, song_id, data, pose)
    assert caught.value.field == field
    assert stored(services) == []
    assert services.records.songs.jobs() == []
    assert services.records.songs.song(song_id) is None


def _with_generated_image(services: Services) -> str:
    """A song whose consistency job completed (set up directly: the job has its own tests)."""
    first = upload_character_image(services, "demo-song", samples.png())
    key = "songs/demo-song/character_generated.png"
    services.storage.put(CHARACTER_BUCKET, key, samples.png(colour=(1, 2, 3)), "image/png")
    services.records.songs.update_song(
        "demo-song", character_generated_key=key, character_interrogation_json='{"x": 1}'
    )
    assert first.job_id
    return first.job_id


def test_new_pose_a_clears_the_generated_image_and_supersedes_the_queued_job(services: Services) -> None:
    first_job = _with_generated_image(services)
    second = upload_character_image(services, "demo-song", samples.jpeg())
    assert second.cleared_generated and second.superseded_jobs == 1
    row = song(services)
    assert row.character_generated_key is None and row.character_interrogation_json is None
    assert stored(services) == ["songs/demo-song/character_reference.jpg"]  # old .png reference deleted too
    jobs = {job.id: job for job in services.records.songs.jobs("demo-song")}
    assert jobs[first_job].status == "superseded" and "new pose-A image" in (jobs[first_job].error or "")
    assert second.job_id is not None and jobs[second.job_id].status == "queued"


def test_template_copies_both_poses_and_queues_nothing(services: Services) -> None:
    result = apply_template(services, "demo-song", "character-3")
    assert result.reference_key == "songs/demo-song/character_reference.png"
    assert result.pose_b_key == "songs/demo-song/character_pose_b.png"
    assert services.storage.get(CHARACTER_BUCKET, result.reference_key) == template_image(
        "character-3", "pose-a"
    )
    assert services.storage.get(CHARACTER_BUCKET, result.pose_b_key) == template_image(
        "character-3", "pose-b"
    )
    row = song(services)
    assert (row.character_reference_source, row.character_template_id) == ("template", "character-3")
    assert row.character_pose_b_source == "template"
    assert services.records.songs.jobs("demo-song") == []


def test_template_clears_the_generated_image_and_supersedes_jobs(services: Services) -> None:
    first_job = _with_generated_image(services)
    upload_character_image(services, "demo-song", samples.webp(), pose="B")
    result = apply_template(services, "demo-song", "character-1")
    assert result.cleared_generated and result.superseded_jobs == 1
    assert song(services).character_generated_key is None
    assert stored(services) == [
        "songs/demo-song/character_pose_b.png",
        "songs/demo-song/character_reference.png",
    ]
    assert services.records.songs.job(first_job).status == "superseded"  # type: ignore[union-attr]


def test_pose_a_upload_after_a_template_drops_the_template_pose_b(services: Services) -> None:
    apply_template(services, "demo-song", "character-2")
    upload_character_image(services, "demo-song", samples.jpeg())
    row = song(services)
    assert row.character_template_id is None and row.character_pose_b_key is None
    assert stored(services) == ["songs/demo-song/character_reference.jpg"]


def test_uploaded_pose_b_survives_a_new_pose_a(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png(), pose="B")
    upload_character_image(services, "demo-song", samples.png(), pose="B")
    upload_character_image(services, "demo-song", samples.jpeg(), pose="B")
    upload_character_image(services, "demo-song", samples.png())
    assert song(services).character_pose_b_key == "songs/demo-song/character_pose_b.jpg"
    assert stored(services) == [
        "songs/demo-song/character_pose_b.jpg",
        "songs/demo-song/character_reference.png",
    ]


def test_unknown_template_writes_nothing(services: Services) -> None:
    with pytest.raises(InvalidInput) as caught:
        apply_template(services, "demo-song", "character-5")
    assert caught.value.field == "template_id"
    assert stored(services) == [] and services.records.songs.song("demo-song") is None


def test_consistency_switch(services: Services) -> None:
    assert not song_exists(services)
    set_consistency_enabled(services, "demo-song", False)
    assert song(services).character_consistency_enabled is False
    set_consistency_enabled(services, "demo-song", True)
    assert song(services).character_consistency_enabled is True


def song_exists(services: Services) -> bool:
    return services.records.songs.song("demo-song") is not None


def test_every_stored_character_image_has_its_size_and_hash_recorded(services: Services) -> None:
    def recorded(key: str) -> ObjectCheck | None:
        return services.records.objects.checks(CHARACTER_BUCKET, [key]).get(key)

    apply_template(services, "demo-song", "character-1")
    for key in ("songs/demo-song/character_reference.png", "songs/demo-song/character_pose_b.png"):
        assert recorded(key) == ObjectCheck.of(services.storage.get(CHARACTER_BUCKET, key))
    pose_a = upload_character_image(services, "demo-song", samples.png())
    assert recorded(pose_a.key) == ObjectCheck.of(services.storage.get(CHARACTER_BUCKET, pose_a.key))
    assert recorded(pose_a.key) != ObjectCheck.of(template_image("character-1", "pose-a"))
    pose_b = upload_character_image(services, "demo-song", samples.jpeg(), pose="B")
    assert recorded(pose_b.key) == ObjectCheck.of(services.storage.get(CHARACTER_BUCKET, pose_b.key))
