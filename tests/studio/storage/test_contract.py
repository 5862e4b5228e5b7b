"""One behavioural suite for every storage backend, so local and Supabase cannot drift apart."""

from __future__ import annotations

import pytest

from studio.errors import InvalidInput, NotFound
from tests.studio.storage.conftest import Harness

BUCKET = "reference-images"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_put_then_get_returns_the_same_bytes(harness: Harness) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "image/png")

    assert harness.storage.get(BUCKET, "job-1/scene_a.png") == PNG


def test_put_again_replaces_the_object(harness: Harness) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", b"first", "image/png")
    harness.storage.put(BUCKET, "job-1/scene_a.png", b"second", "image/png")

    assert harness.storage.get(BUCKET, "job-1/scene_a.png") == b"second"
    assert harness.storage.list(BUCKET) == ["job-1/scene_a.png"]


def test_content_type_is_kept_and_follows_replacement(harness: Harness) -> None:
    harness.storage.put(BUCKET, "songs/s1/character_reference.jpg", b"jpeg", "image/jpeg")
    assert harness.storage.content_type(BUCKET, "songs/s1/character_reference.jpg") == "image/jpeg"

    harness.storage.put(BUCKET, "songs/s1/character_reference.jpg", b"webp", "image/webp")
    assert harness.storage.content_type(BUCKET, "songs/s1/character_reference.jpg") == "image/webp"


def test_exists_tells_stored_from_missing(harness: Harness) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "image/png")

    assert harness.storage.exists(BUCKET, "job-1/scene_a.png")
    assert not harness.storage.exists(BUCKET, "job-1/scene_b.png")
    assert not harness.storage.exists(BUCKET, "job-1")  # a folder is not an object


def test_copy_keeps_the_source_and_replaces_the_destination(harness: Harness) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", b"latest", "image/png")
    harness.storage.put(BUCKET, "job-1/versions/scene_a_v1.png", b"older", "image/png")

    harness.storage.copy(BUCKET, "job-1/scene_a.png", "job-1/versions/scene_a_v1.png")

    assert harness.storage.get(BUCKET, "job-1/versions/scene_a_v1.png") == b"latest"
    assert harness.storage.get(BUCKET, "job-1/scene_a.png") == b"latest"
    assert harness.storage.content_type(BUCKET, "job-1/versions/scene_a_v1.png") == "image/png"


def test_copy_of_a_missing_object_raises_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound):
        harness.storage.copy(BUCKET, "job-1/missing.png", "job-1/copy.png")
    assert not harness.storage.exists(BUCKET, "job-1/copy.png")


def test_delete_removes_objects_and_ignores_missing_ones(harness: Harness) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "image/png")
    harness.storage.put(BUCKET, "job-1/scene_b.png", PNG, "image/png")

    harness.storage.delete(BUCKET, ["job-1/scene_a.png", "job-1/never-stored.png"])
    harness.storage.delete(BUCKET, [])

    assert harness.storage.list(BUCKET) == ["job-1/scene_b.png"]
    assert not harness.storage.exists(BUCKET, "job-1/scene_a.png")


def test_list_walks_folders_recursively_under_a_folder_prefix(harness: Harness) -> None:
    keys = [
        "job-1/scene_b.png",
        "job-1/scene_a.png",
        "job-1/versions/scene_a_v1.png",
        "job-1/versions/deep/x.png",
        "job-10/scene_a.png",
        "songs/s1/character_reference.png",
    ]
    for key in keys:
        harness.storage.put(BUCKET, key, b"x", "image/png")

    assert harness.storage.list(BUCKET) == sorted(keys)
    expected = [
        "job-1/scene_a.png",
        "job-1/scene_b.png",
        "job-1/versions/deep/x.png",
        "job-1/versions/scene_a_v1.png",
    ]
    assert harness.storage.list(BUCKET, "job-1") == expected  # never job-10
    assert harness.storage.list(BUCKET, "job-1/") == expected
    assert harness.storage.list(BUCKET, "job-1/versions") == [
        "job-1/versions/deep/x.png",
        "job-1/versions/scene_a_v1.png",
    ]
    assert harness.storage.list(BUCKET, "job-2/") == []
    assert harness.storage.list("character-images") == []


def test_get_of_a_missing_object_raises_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound):
        harness.storage.get(BUCKET, "job-1/scene_a.png")


def test_signed_url_reads_the_object_without_credentials(harness: Harness) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "image/png")

    url = harness.storage.signed_url(BUCKET, "job-1/scene_a.png", 1_209_600)

    assert harness.read_signed(url) == PNG


def test_signed_url_of_a_missing_object_raises_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound):
        harness.storage.signed_url(BUCKET, "job-1/scene_a.png", 60)


@pytest.mark.parametrize("expires_in", [0, -5])
def test_signed_url_needs_a_positive_expiry(harness: Harness, expires_in: int) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "image/png")

    with pytest.raises(InvalidInput) as raised:
        harness.storage.signed_url(BUCKET, "job-1/scene_a.png", expires_in)
    assert raised.value.field == "expires_in"


UNSAFE_KEYS = [
    "../escape.png",
    "job-1/../../escape.png",
    "/etc/passwd",
    "job-1//scene_a.png",
    "job-1/scene_a.png/",
    "job-1\\scene_a.png",
    "job-1/./scene_a.png",
    "job-1/.hidden.png",
    "",
    "job-1/scène a.png",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused_and_nothing_is_written(harness: Harness, key: str) -> None:
    harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "image/png")
    before = harness.stored()

    with pytest.raises(InvalidInput) as raised:
        harness.storage.put(BUCKET, key, PNG, "image/png")
    assert raised.value.field == "key"
    with pytest.raises(InvalidInput):
        harness.storage.copy(BUCKET, "job-1/scene_a.png", key)
    with pytest.raises(InvalidInput):
        harness.storage.delete(BUCKET, ["job-1/scene_a.png", key])
    with pytest.raises(InvalidInput):
        harness.storage.get(BUCKET, key)

    assert harness.stored() == before


@pytest.mark.parametrize("bucket", ["", "../other", "a/b", "x" * 65])
def test_unsafe_buckets_are_refused(harness: Harness, bucket: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        harness.storage.put(bucket, "job-1/scene_a.png", PNG, "image/png")
    assert raised.value.field == "bucket"
    assert harness.stored() == set()


def test_content_type_must_be_a_media_type(harness: Harness) -> None:
    with pytest.raises(InvalidInput) as raised:
        harness.storage.put(BUCKET, "job-1/scene_a.png", PNG, "png")
    assert raised.value.field == "content_type"
    assert harness.stored() == set()


def test_a_missing_bucket_is_created_private(harness: Harness) -> None:
    harness.storage.put("character-images", "songs/s1/character_reference.png", PNG, "image/png")

    assert harness.is_private("character-images")
    assert harness.storage.get("character-images", "songs/s1/character_reference.png") == PNG
