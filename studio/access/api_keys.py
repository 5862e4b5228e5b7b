"""API keys for the HTTP API in team mode: made per role, shown once, stored as their SHA-256 only.

A key is 32 random bytes, so one round of SHA-256 is all the hashing it needs (a password's slow hash guards
against guessing, which a random key of this size already rules out); the hash finds the key's record.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import cast, get_args

from pydantic import BaseModel

from studio.access.roles import ROLES, Actor, Role
from studio.errors import InvalidInput, NotFound
from studio.records import Records
from studio.storage.keys import check_id

KEY_PREFIX = "rs_"
ACTOR_PREFIX = "key:"


class ApiKey(BaseModel):
    """A key as `api-key list` shows it: never the key itself."""

    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


class NewApiKey(ApiKey):
    key: str
    """Shown once, when made; only its hash is kept."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(records: Records, name: str, role: str) -> NewApiKey:
    """A new key named `name` for one role; InvalidInput for a bad name or role, or a name already used."""
    check_id("name", name)
    if role not in get_args(Role):
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    if not records.api_keys.add(name, role, _hash(key)):
        raise InvalidInput("name", f"a key named {name!r} exists already (names are not reused)")
    row = next(row for row in records.api_keys.all() if row.name == name)
    return NewApiKey(name=name, role=cast(Role, role), created_at=row.created_at, key=key)


def list_keys(records: Records) -> list[ApiKey]:
    return [ApiKey.model_validate(row, from_attributes=True) for row in records.api_keys.all()]


def revoke_key(records: Records, name: str) -> None:
    if not records.api_keys.revoke(name):
        raise NotFound(f"no live API key named {name!r}")


def key_actor(records: Records, key: str) -> Actor | None:
    """Who a presented key acts for (recorded in the audit trail as `key:<name>`), or None: unknown or
    revoked."""
    row = records.api_keys.by_hash(_hash(key.strip()))
    if row is None or row.revoked_at is not None:
        return None
    return Actor(name=ACTOR_PREFIX + row.name, roles=frozenset({cast(Role, row.role)}), channel="api")
