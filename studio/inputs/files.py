"""Files a creator hands the studio (plans, images), read with a size limit that holds while reading.

Only regular files are read: a device such as /dev/zero never ends and opening a FIFO blocks until a writer
comes, so the path is checked before it is opened, and opened without blocking and checked again (the path
may have changed in between). At most `limit + 1` bytes are read, so a file whose size the system misstates
(/proc) or that grows while being read is still refused without being held in memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from studio.errors import InvalidInput


def size_words(size: float) -> str:
    """`16 bytes`, `340 KB`, `2 MB`, `3.4 MB`: sizes as a creator reads them."""
    if size < 1024:
        return f"{int(size)} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    megabytes = size / 1024 / 1024
    return f"{megabytes:.0f} MB" if megabytes == int(megabytes) else f"{megabytes:.1f} MB"


def _too_large(field: str, what: str, limit: int, size: int | None = None) -> InvalidInput:
    stated = f"is {size_words(size)}" if size is not None else "is larger than allowed"
    return InvalidInput(field, f"{what} {stated}; at most {size_words(limit)} are allowed")


def _unreadable(field: str, path: Path, error: OSError) -> InvalidInput:
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        reason = "it does not exist"
    elif isinstance(error, IsADirectoryError):
        reason = "it is a folder, not a file"
    elif isinstance(error, PermissionError):
        reason = "permission denied"
    else:
        reason = (error.strerror or type(error).__name__).lower()
    return InvalidInput(field, f"cannot read {path}: {reason}")


def _check_regular(field: str, path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise InvalidInput(field, f"cannot read {path}: it is a folder, not a file")
    if not stat.S_ISREG(mode):
        what = "it is not a regular file (a device, pipe or socket); save it as a file"
        raise InvalidInput(field, f"cannot read {path}: {what}")


def read_file(path: Path, limit: int, field: str) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; else InvalidInput naming `field`."""
    try:
        info = os.stat(path)
        _check_regular(field, path, info.st_mode)
        if info.st_size > limit:
            raise _too_large(field, str(path), limit, info.st_size)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise _unreadable(field, path, error) from None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            _check_regular(field, path, os.fstat(handle.fileno()).st_mode)
            data = handle.read(limit + 1)
        except OSError as error:
            raise _unreadable(field, path, error) from None
    if len(data) > limit:
        raise _too_large(field, str(path), limit)
    return data


def read_stream(stream: BinaryIO, limit: int, field: str) -> bytes:
    """At most `limit` bytes of an upload's stream (a page's file uploader); more is InvalidInput."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(field, "the file", limit)
    return data
