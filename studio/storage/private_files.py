"""The studio's own files under STUDIO_DATA_DIR: folders 0700, files 0600, every write atomic.

Images, thumbnails, the signing key and the database are the creator's and nobody else's on a shared
machine. Modes are set explicitly rather than left to the umask, and only on what the studio creates: a
folder that already exists is the user's choice.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from studio.errors import StorageUnavailable, StudioError

PARTIAL = ".partial"
"""Suffix of a file being written; never listed as an object, removed if the write fails."""


def private_dir(directory: Path) -> Path:
    """`directory` and every missing parent, created 0700; raises StudioError when one is not a folder."""
    directory = Path(directory)
    for attempt in (1, 2):  # a concurrent delete may prune a parent while the missing folders are made
        try:
            _make_missing(directory)
            return directory
        except FileNotFoundError:
            if attempt == 2:
                raise StudioError(f"cannot create {directory}: its parent keeps disappearing") from None
        except OSError as error:
            raise StudioError(f"cannot create {directory}: {error.strerror or error}") from error
    return directory


def _make_missing(directory: Path) -> None:
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise StudioError(f"cannot create {directory}: {probe} is a file, not a folder")
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by a concurrent writer
        folder.chmod(0o700)


def write_private(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` 0600 through a temporary file and a rename: readers see all or nothing.

    `durable` also fsyncs before the rename (survives power loss, not only a crashed process).
    """
    for attempt in (1, 2):  # a concurrent delete may prune the folder between mkdir and mkstemp
        try:
            private_dir(path.parent)
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise StudioError(f"could not store {path.name}: its folder keeps disappearing") from None
        except OSError as error:
            raise unwritable(path, error) from error
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise unwritable(path, error) from error
        raise


def unwritable(path: Path, error: OSError) -> StorageUnavailable:
    """A file that could not be written, in words: a full disk says where to free space."""
    folder = path.parent
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageUnavailable(
            f"could not store {path.name}: the disk holding {folder} is full",
            f"free space on it (`df -h {folder}`)",
        )
    return StorageUnavailable(
        f"could not store {path.name}: {error.strerror or error}", f"check that {folder} can be written"
    )


def private_file(path: Path) -> Path:
    """Make sure the file at `path` exists and is 0600 (an empty one when missing), for files a library
    then writes, such as the SQLite database: SQLite gives its journal and WAL files the same mode."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise StudioError(f"cannot create {path}: {error.strerror or error}") from error
    else:
        os.close(descriptor)
    path.chmod(0o600)
    return path
