"""Ids that become storage keys, and the storage key layout of DESIGN.md."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from studio.errors import InvalidInput

REFERENCE_BUCKET = "reference-images"
CHARACTER_BUCKET = "character-images"

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ID_START = re.compile(r"[A-Za-z0-9]")

ReferenceKind = Literal["scene", "character"]


def safe_id_problem(value: object) -> str | None:
    """Why `value` cannot be a storage-key segment, or None when it can.

    Letters, digits, '-' and '_', at most 64, the first a letter or digit: an id is also a CLI argument.
    """
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > 64:
        return f"is {len(value)} characters long; at most 64 are allowed"
    if not _SAFE_ID.fullmatch(value):
        suggestion = suggested_id(value)
        offer = f": try {suggestion!r}" if suggestion else ""
        return f"{value!r} may only contain letters, digits, '-' and '_'{offer}"
    if not _ID_START.match(value):
        return f"{value!r} must start with a letter or digit (a leading '-' reads as a command-line option)"
    return None


def suggested_id(text: str) -> str | None:
    """The id a title suggests: `Midnight Drive` is `midnight-drive`, `Café del Mar!` is `cafe-del-mar`;
    None when nothing of it can be kept."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:64].rstrip("-")
    return slug or None


def check_id(field: str, value: str) -> str:
    """Return `value` when it is a safe id, else raise InvalidInput naming `field`."""
    problem = safe_id_problem(value)
    if problem:
        raise InvalidInput(field, problem)
    return value


def reference_name(kind: ReferenceKind, subject_id: str) -> str:
    """`scene_<id>` or `character_<id>`: the REF of review and the stem of the storage key."""
    return f"{kind}_{subject_id}"


def parse_reference_name(ref: str) -> tuple[ReferenceKind, str]:
    for kind in ("scene", "character"):
        prefix = f"{kind}_"
        if ref.startswith(prefix) and safe_id_problem(ref[len(prefix) :]) is None:
            return kind, ref[len(prefix) :]
    raise InvalidInput("reference", f"{ref!r} is not scene_<id> or character_<id>")


def reference_key(job_id: str, ref: str) -> str:
    return f"{job_id}/{ref}.png"


def reference_version_key(job_id: str, ref: str, version: int) -> str:
    return f"{job_id}/versions/{ref}_v{version}.png"


def song_key(song_id: str, name: str, ext: str) -> str:
    """`songs/{song_id}/{name}.{ext}` for character_reference, character_pose_b, character_generated."""
    check_id("song_id", song_id)
    return f"songs/{song_id}/{name}.{ext}"


def look_key(song_id: str, look_id: str) -> str:
    """`songs/{song_id}/looks/{look_id}.png`: a candidate look of the song's character (`r2-3`)."""
    check_id("song_id", song_id)
    check_id("look_id", look_id)
    return f"songs/{song_id}/looks/{look_id}.png"


def generated_key(song_id: str) -> str:
    """`songs/{song_id}/character_generated.png`: the song's picked look, which clip generation uses first."""
    return song_key(song_id, "character_generated", "png")
