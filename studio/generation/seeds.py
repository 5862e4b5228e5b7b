"""Deterministic seeds: the same job and reference always get the same seed, so images are reproducible."""

from __future__ import annotations

import hashlib

from studio.errors import InvalidInput

MAX_SEED = 2**32 - 1


def reference_seed(job_id: str, ref: str) -> int:
    """A seed in [0, 2**32-1] from sha256 of the job id and the reference name (`scene_<id>`)."""
    digest = hashlib.sha256(f"{job_id}\x00{ref}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def check_seed(value: object, field: str = "seed") -> int:
    """A per-reference seed override, checked: an integer in [0, 2**32-1]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, not {type(value).__name__}")
    if not 0 <= value <= MAX_SEED:
        raise InvalidInput(field, f"{value} is outside 0..{MAX_SEED}")
    return value
