"""Stored objects are trusted only as they were stored.

Before an image is reused at no cost, reviewed or exported it is compared with the size and SHA-256 recorded
when the studio stored it (studio.records.objects); a missing or changed object is never used as if it were
the one on record. Objects stored before checks were recorded need only exist.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from studio.errors import NotFound, Unavailable
from studio.records.objects import ObjectCheck
from studio.services import Services
from studio.storage.base import Storage

READERS = 8
"""Objects read at once (a remote store answers each read in a round trip)."""


class DamagedObject(Unavailable):
    """A stored object that is missing, or changed since the studio stored it."""


def problem(storage: Storage, bucket: str, key: str, recorded: ObjectCheck | None) -> str | None:
    """What is wrong with the object at `key`; None when it is as recorded (or exists, with no record)."""
    if recorded is None:
        return None if storage.exists(bucket, key) else "is missing from storage"
    try:
        data = storage.get(bucket, key)
    except NotFound:
        return "is missing from storage"
    return _difference(data, recorded)


def _difference(data: bytes, recorded: ObjectCheck) -> str | None:
    """How `data` differs from what was stored; None when it is the same."""
    if len(data) != recorded.size:
        return f"has changed since it was stored ({len(data):,} bytes; {recorded.size:,} were stored)"
    if ObjectCheck.of(data).sha256 != recorded.sha256:
        return "has changed since it was stored (its SHA-256 differs)"
    return None


def damaged(services: Services, bucket: str, keys: list[str]) -> dict[str, str]:
    """The problem of each of `keys` whose object is missing or changed; the others are as stored."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    recorded = services.records.objects.checks(bucket, unique)

    def one(key: str) -> tuple[str, str | None]:
        return key, problem(services.storage, bucket, key, recorded.get(key))

    if len(unique) == 1:
        results = [one(unique[0])]
    else:
        with ThreadPoolExecutor(min(READERS, len(unique)), thread_name_prefix="studio-verify") as pool:
            results = list(pool.map(one, unique))
    return {key: found for key, found in results if found is not None}


def read_intact(services: Services, bucket: str, key: str, what: str, fix: str) -> bytes:
    """The object at `key`, read once and compared with its record; DamagedObject when it is missing or
    changed."""
    recorded = services.records.objects.checks(bucket, [key]).get(key)
    try:
        data = services.storage.get(bucket, key)
    except NotFound:
        found: str | None = "is missing from storage"
    else:
        found = _difference(data, recorded) if recorded is not None else None
    if found is not None:
        raise DamagedObject(f"{what} ({bucket}/{key}) {found}", fix)
    return data


def require_intact(services: Services, bucket: str, named: dict[str, str], fix: str) -> None:
    """DamagedObject naming every missing or changed object of `named` (`{key: what it is}`)."""
    found = damaged(services, bucket, list(named))
    if found:
        listed = "; ".join(f"{named[key]} ({bucket}/{key}) {what}" for key, what in found.items())
        raise DamagedObject(listed, fix)


REGENERATE = (
    "generate the job again (Generate page, or `python -m studio generate` with its plan): an image that is "
    "missing or changed is made again, and can then be reviewed"
)


def require_references_intact(services: Services, versions: dict[str, tuple[str, int]]) -> None:
    """Reference images (`{ref: (storage key, version)}`) as stored, else DamagedObject naming each."""
    from studio.storage.keys import REFERENCE_BUCKET

    named = {key: f"the image of {ref} (version {version})" for ref, (key, version) in versions.items()}
    require_intact(services, REFERENCE_BUCKET, named, REGENERATE)


def require_character_intact(services: Services, images: list[tuple[str, str]]) -> None:
    """A song's character images (`[(key, source)]`) as stored, else DamagedObject naming each."""
    from studio.storage.keys import CHARACTER_BUCKET

    named = {key: f"the song's {source} image" for key, source in images}
    fix = "upload the character image again, or apply the template again (Characters page or the CLI)"
    require_intact(services, CHARACTER_BUCKET, named, fix)
