"""`python -m studio api-key create|list|revoke`: shown once, stored hashed, refused once revoked."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from studio.access.api_keys import key_actor
from studio.services import Services
from tests.studio.cli.test_review import cli


def test_a_key_is_shown_once_and_only_its_hash_is_kept(
    data_dir: Path, capsys: pytest.CaptureFixture[str], services: Services
) -> None:
    made = cli(capsys, "api-key", "create", "ci-bot", "--role", "reviewer")
    assert made.code == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("rs_") and len(key) > 40 and key not in made.stderr
    assert "shown this once" in made.stderr

    with sqlite3.connect(data_dir / "studio.db") as db:
        stored = db.execute("SELECT name, role, key_hash FROM api_keys").fetchall()
    assert stored == [("ci-bot", "reviewer", hashlib.sha256(key.encode()).hexdigest())]
    actor = key_actor(services.records, key)
    assert actor is not None and actor.who == "key:ci-bot" and actor.roles == {"reviewer"}
    assert actor.channel == "api"

    listed = cli(capsys, "api-key", "list", "--json")
    assert [(k["name"], k["role"], k["revoked_at"]) for k in json.loads(listed.stdout)["keys"]] == [
        ("ci-bot", "reviewer", None)
    ]
    assert key not in listed.stdout and key not in cli(capsys, "api-key", "list").stdout

    assert cli(capsys, "api-key", "revoke", "ci-bot").code == 0
    assert key_actor(services.records, key) is None, "a revoked key is refused"
    assert "revoked" in cli(capsys, "api-key", "list").stdout
    assert cli(capsys, "api-key", "revoke", "ci-bot").code == 2, "no live key of that name"


def test_bad_names_roles_and_reused_names_are_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = cli(capsys, "api-key", "create", "bot", "--role", "owner")
    assert role.code == 2 and "role" in role.stderr and role.stdout == ""
    name = cli(capsys, "api-key", "create", "a bot", "--role", "creator")
    assert name.code == 2 and "name" in name.stderr
    assert cli(capsys, "api-key", "create", "bot", "--role", "creator").code == 0
    again = cli(capsys, "api-key", "create", "bot", "--role", "admin")
    assert again.code == 2 and "exists already" in again.stderr
