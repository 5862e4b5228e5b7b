"""The studio's own files: folders 0700 and files 0600 whatever the umask, written whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.errors import StudioError
from studio.storage.private_files import private_dir, private_file, write_private
from tests.cli_runner import studio
from tests.conftest import PLANS_DIR
from tests.studio.characters import samples


@pytest.fixture(params=[0o000, 0o022, 0o077], ids=["umask-000", "umask-022", "umask-077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_private_dir_makes_every_missing_folder_0700(tmp_path: Path, umask: int) -> None:
    made = private_dir(tmp_path / "data" / "storage" / "bucket")
    assert made == tmp_path / "data" / "storage" / "bucket"
    for folder in (tmp_path / "data", tmp_path / "data" / "storage", made):
        assert mode(folder) == 0o700, folder


def test_private_dir_leaves_existing_folders_as_they_are(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    private_dir(tmp_path / "new")
    assert mode(tmp_path) == 0o755 and mode(tmp_path / "new") == 0o700


def test_private_dir_refuses_a_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StudioError, match="data"):
        private_dir(tmp_path / "data" / "thumbnails")


def test_write_private_writes_0600_atomically_and_replaces(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "data" / "signing.key"
    write_private(target, b"first")
    write_private(target, b"second", durable=True)
    assert target.read_bytes() == b"second" and mode(target) == 0o600
    assert mode(target.parent) == 0o700
    assert sorted(p.name for p in target.parent.iterdir()) == ["signing.key"]


def test_private_file_creates_an_empty_0600_file_or_tightens_one(tmp_path: Path, umask: int) -> None:
    database = tmp_path / "data" / "studio.db"
    assert private_file(database) == database
    assert database.read_bytes() == b"" and mode(database) == 0o600
    database.write_bytes(b"rows")
    database.chmod(0o644)
    private_file(database)
    assert database.read_bytes() == b"rows" and mode(database) == 0o600


def test_what_the_commands_write_under_the_data_dir_is_private(data_dir: Path, tmp_path: Path) -> None:
    image = tmp_path / "me.png"
    image.write_bytes(samples.png())
    previous = os.umask(0o022)
    try:
        assert studio("generate", str(PLANS_DIR / "minimal.json")).code == 0
        assert studio("character", "upload", "demo-song", str(image)).code == 0
    finally:
        os.umask(previous)
    made = [data_dir, *data_dir.rglob("*")]
    assert any(path.suffix == ".png" for path in made) and (data_dir / "signing.key") in made
    for path in made:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
