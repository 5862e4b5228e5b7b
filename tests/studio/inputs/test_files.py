"""Files a creator names are read bounded: never a device or a pipe, never more than the limit + 1 bytes."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from studio.errors import InvalidInput
from studio.inputs.files import read_file, read_stream


def test_a_small_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"{}")
    assert read_file(path, 10, "PLAN") == b"{}"


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"x" * 10)
    assert read_file(path, 10, "PLAN") == b"x" * 10


def test_a_file_over_the_limit_is_refused_naming_the_field_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"x" * (7 * 512 * 1024))
    with pytest.raises(InvalidInput) as caught:
        read_file(path, 2 * 1024 * 1024, "PLAN")
    assert caught.value.field == "PLAN"
    assert "3.5 MB" in caught.value.problem and "at most 2 MB" in caught.value.problem


def test_the_size_is_checked_while_reading_not_from_stat() -> None:
    """/proc files are regular files whose stat size is 0: only the read itself can find them too long."""
    path = Path("/proc/self/maps")
    assert path.stat().st_size == 0
    with pytest.raises(InvalidInput) as caught:
        read_file(path, 16, "image")
    assert "at most 16 bytes" in caught.value.problem


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_before_reading(device: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_file(Path(device), 1024, "image")
    assert "not a regular file" in caught.value.problem


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    outcome: list[BaseException | bytes] = []

    def read() -> None:
        try:
            outcome.append(read_file(fifo, 1024, "PLAN"))
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    [error] = outcome
    assert isinstance(error, InvalidInput) and "not a regular file" in error.problem


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda base: base / "missing.json", "does not exist"),
        (lambda base: base, "is a folder"),
        (lambda base: base / "file.json" / "below", "does not exist"),
    ],
    ids=["missing", "folder", "below-a-file"],
)
def test_paths_that_are_no_file_are_refused_in_words(tmp_path: Path, make: object, words: str) -> None:
    (tmp_path / "file.json").write_bytes(b"{}")
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as caught:
        read_file(path, 1024, "PLAN")
    assert words in caught.value.problem and "cannot read" in caught.value.problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_bytes(b"{}")
    path.chmod(0)
    with pytest.raises(InvalidInput) as caught:
        read_file(path, 1024, "PLAN")
    assert "permission denied" in caught.value.problem


def test_a_stream_is_read_bounded_too() -> None:
    assert read_stream(io.BytesIO(b"abc"), 3, "plan file") == b"abc"
    with pytest.raises(InvalidInput) as caught:
        read_stream(io.BytesIO(b"abcd"), 3, "plan file")
    assert caught.value.field == "plan file" and "at most 3 bytes" in caught.value.problem
