"""Local storage specifics: signed URLs that refuse tampering and expiry, atomic private writes."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from studio.errors import InvalidInput, NotFound, StorageUnavailable
from studio.storage.base import Storage
from studio.storage.local import LocalStorage
from tests.studio.storage.conftest import SIGNING_KEY

BUCKET = "reference-images"
KEY = "0b0e1a2c-0000-4000-8000-000000000001/scene_intro.png"
NOW = 1_800_000_000.0


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    stored = LocalStorage(tmp_path / "storage", SIGNING_KEY, clock=lambda: NOW)
    stored.put(BUCKET, KEY, b"png bytes", "image/png")
    return stored


def test_it_is_a_storage_backend(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)
    assert storage.name == "local"


def test_objects_are_files_under_root_bucket_key(storage: LocalStorage) -> None:
    assert (storage.root / BUCKET / KEY).read_bytes() == b"png bytes"


def test_signed_url_has_the_documented_form(storage: LocalStorage) -> None:
    url = storage.signed_url(BUCKET, KEY, 1_209_600)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "http",
        "127.0.0.1:8501",
        f"/api/v1/objects/{BUCKET}/{KEY}",
    )
    assert query["expires"] == [str(int(NOW) + 1_209_600)]
    assert len(query["signature"][0]) == 64
    assert storage.verify(url) == (BUCKET, KEY)
    assert storage.open_signed(url) == b"png bytes"


def _tampered(url: str, old: str, new: str) -> str:
    assert old in url
    return url.replace(old, new)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: _tampered(url, "scene_intro.png", "scene_other.png"),
        lambda url: _tampered(url, "reference-images", "character-images"),
        lambda url: _tampered(url, f"expires={int(NOW) + 60}", f"expires={int(NOW) + 6000}"),
        lambda url: url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
    ],
    ids=["key", "bucket", "expiry", "signature"],
)
def test_a_tampered_url_is_refused(storage: LocalStorage, tamper: object) -> None:
    url = storage.signed_url(BUCKET, KEY, 60)
    storage.put("character-images", KEY, b"other", "image/png")
    storage.put(BUCKET, KEY.replace("scene_intro", "scene_other"), b"other", "image/png")

    with pytest.raises(InvalidInput, match="signature does not match") as raised:
        storage.open_signed(tamper(url))  # type: ignore[operator]
    assert raised.value.field == "url"


def test_a_url_signed_with_another_key_is_refused(storage: LocalStorage) -> None:
    other = LocalStorage(storage.root, b"another-signing-key", clock=lambda: NOW)

    with pytest.raises(InvalidInput, match="signature does not match"):
        storage.verify(other.signed_url(BUCKET, KEY, 60))


def test_an_expired_url_is_refused(storage: LocalStorage) -> None:
    url = storage.signed_url(BUCKET, KEY, 60)

    assert storage.verify(url, now=NOW + 59) == (BUCKET, KEY)
    with pytest.raises(InvalidInput, match="expired"):
        storage.verify(url, now=NOW + 60)
    with pytest.raises(InvalidInput, match="expired"):
        storage.open_signed(url, now=NOW + 14 * 86_400)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/reference-images/x.png?expires=1&signature=00",
        "studio-local://reference-images/x.png",
        "http://127.0.0.1:8501/api/v1/objects/reference-images/x.png",
        "studio-local://reference-images/x.png?expires=soon&signature=00",
        "studio-local://reference-images/../x.png?expires=1&signature=00",
        "not a url",
    ],
)
def test_a_malformed_url_is_refused(storage: LocalStorage, url: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        storage.verify(url)
    assert raised.value.field == "url"


def test_a_valid_url_to_a_deleted_object_raises_not_found(storage: LocalStorage) -> None:
    url = storage.signed_url(BUCKET, KEY, 60)
    storage.delete(BUCKET, [KEY])

    with pytest.raises(NotFound):
        storage.open_signed(url)


def test_files_and_folders_are_private(storage: LocalStorage) -> None:
    for path in [storage.root / BUCKET, *(storage.root / BUCKET).rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".partial")]


def test_a_failed_write_leaves_the_previous_object_and_no_partial_file(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(source: object, destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)

    full = r"could not store scene_intro.png: the disk holding .* is full"
    with pytest.raises(StorageUnavailable, match=full):
        storage.put(BUCKET, KEY, b"new bytes that never land", "image/png")
    with pytest.raises(StorageUnavailable):
        storage.put(BUCKET, "job-2/scene_a.png", b"new", "image/png")

    monkeypatch.undo()
    assert storage.get(BUCKET, KEY) == b"png bytes"
    assert not storage.exists(BUCKET, "job-2/scene_a.png")
    assert _leftovers(storage.root) == []
    assert storage.list(BUCKET) == [KEY]


def test_a_key_whose_path_is_a_folder_is_refused(storage: LocalStorage) -> None:
    with pytest.raises(InvalidInput) as raised:
        storage.put(BUCKET, KEY.split("/")[0], b"x", "image/png")
    assert raised.value.field == "key"


def test_delete_prunes_emptied_folders_but_keeps_the_bucket(storage: LocalStorage) -> None:
    storage.delete(BUCKET, [KEY])

    assert (storage.root / BUCKET).is_dir()
    assert list((storage.root / BUCKET).iterdir()) == []
    assert storage.list(BUCKET) == []


def test_content_type_of_a_file_put_by_hand_is_guessed_from_its_extension(storage: LocalStorage) -> None:
    (storage.root / BUCKET / "by-hand.jpg").write_bytes(b"jpeg")

    assert storage.content_type(BUCKET, "by-hand.jpg") == "image/jpeg"
    assert storage.list(BUCKET) == sorted([KEY, "by-hand.jpg"])


def test_an_empty_signing_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        LocalStorage(tmp_path, b"")
    assert raised.value.field == "signing_key"


def test_durable_writes_store_the_same_bytes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, SIGNING_KEY, durable=True)

    storage.put(BUCKET, KEY, b"synced", "image/png")

    assert storage.get(BUCKET, KEY) == b"synced"
    assert _leftovers(tmp_path) == []
