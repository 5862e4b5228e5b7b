"""Rows of the hostile table for broken environments: a damaged or changed database, a data dir or storage
that cannot be used, a bad signing key or database URL, stored images that went missing or changed.

Each breaker damages the row's own copy of the seeded studio; every command that opens it must then say what
failed, where and what to do (exit 1), write nothing, and print no traceback.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.studio.hostile import ONCE, SEEDED_JOB, SEEDED_SONG, Breaker, Hostile, Input, Studio

PASSWORD = "pw-hunter22"
REFERENCE = f"storage/reference-images/{SEEDED_JOB}/scene_rooftop.png"
COMMANDS: dict[str, tuple[str | Input, ...]] = {
    "generate": ("generate", Input("plan.json")),
    "upload": ("character", "upload", SEEDED_SONG, Input("image.png")),
    "template": ("character", "template", SEEDED_SONG, "character-2"),
    "character-generate": ("character", "generate", SEEDED_SONG),
    "resolve": ("character", "resolve", SEEDED_SONG, "--json"),
    "consistency": ("character", "consistency", SEEDED_SONG, "off"),
    "costs": ("costs", SEEDED_JOB),
    "approve": ("review", SEEDED_JOB, "--approve", "scene_rooftop"),
    "reject": ("review", SEEDED_JOB, "--reject", "scene_rooftop", "--reason", "too dark"),
    "export": ("export", SEEDED_JOB, "--json", "--allow-preview"),  # the seeded job is offline previews
    "worker": ("worker", "--once"),
    "retention": ("retention", "--dry-run"),
}
"""Every command that opens the records (templates, interrogate and doctor do not)."""
EVERY = tuple(name for name in COMMANDS if name != "reject")


def _sqlite_file(studio: Studio) -> Path:
    for extra in ("studio.db-wal", "studio.db-shm"):
        (studio.data_dir / extra).unlink(missing_ok=True)
    return studio.data_dir / "studio.db"


def _damaged_database(studio: Studio) -> dict[str, str]:
    path = _sqlite_file(studio)
    data = bytearray(path.read_bytes())
    data[100:8000] = b"\xff" * 7900
    path.write_bytes(bytes(data))
    return {}


def _truncated_database(studio: Studio) -> dict[str, str]:
    path = _sqlite_file(studio)
    path.write_bytes(path.read_bytes()[:5000])
    return {}


def _not_a_database(studio: Studio) -> dict[str, str]:
    _sqlite_file(studio).write_text("a shopping list, not a database\n" * 100)
    return {}


def _database_is_a_folder(studio: Studio) -> dict[str, str]:
    path = _sqlite_file(studio)
    path.unlink()
    path.mkdir()
    return {}


def _dropped_table(studio: Studio) -> dict[str, str]:
    engine = create_engine(studio.url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE ledger"))
    engine.dispose()
    return {}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unreachable_postgresql(_studio: Studio) -> dict[str, str]:
    return {"STUDIO_DATABASE_URL": f"postgresql://studio:{PASSWORD}@127.0.0.1:{_closed_port()}/studio"}


def _data_dir_is_a_file(studio: Studio) -> dict[str, str]:
    blocker = studio.data_dir / "not-a-folder"
    blocker.write_text("a file where the data dir belongs")
    return {"STUDIO_DATA_DIR": str(blocker)}


def _storage_is_a_file(studio: Studio) -> dict[str, str]:
    storage = studio.data_dir / "storage"
    shutil.rmtree(storage)
    storage.write_text("a file where the storage belongs")
    return {}


def _empty_signing_key(studio: Studio) -> dict[str, str]:
    (studio.data_dir / "signing.key").write_bytes(b"")
    return {}


def _signing_key_is_a_folder(studio: Studio) -> dict[str, str]:
    key = studio.data_dir / "signing.key"
    key.unlink()
    key.mkdir()
    return {}


def _missing_image(studio: Studio) -> dict[str, str]:
    (studio.data_dir / REFERENCE).unlink()
    return {}


def _changed(relative: str) -> Breaker:
    def breaks(studio: Studio) -> dict[str, str]:
        path = studio.data_dir / relative
        data = bytearray(path.read_bytes())
        data[-20] ^= 0xFF
        path.write_bytes(bytes(data))
        return {}

    return breaks


def _env(values: dict[str, str]) -> Breaker:
    return lambda _studio: dict(values)


def _broken(
    case: str,
    breaks: Breaker,
    commands: tuple[str, ...],
    says: str,
    *also: str,
    code: int = 1,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
) -> list[Hostile]:
    return [
        Hostile(
            f"{case}-{name}",
            COMMANDS[name],
            code,
            says,
            also_says=also,
            never_says=(PASSWORD, "sqlalche.me"),
            breaks=breaks,
            backends=backends,
        )
        for name in commands
    ]


SQLITE = ("sqlite",)
POSTGRESQL = ("postgresql",)
WHAT_TO_DO = "what to do: "

ENVIRONMENT_ROWS: list[Hostile] = [
    # The database: damaged, truncated, not a database, a folder, changed outside the studio, unreachable.
    *_broken(
        "damaged-database",
        _damaged_database,
        EVERY,
        "studio.db is damaged (",
        WHAT_TO_DO + "restore it",
        backends=SQLITE,
    ),
    *_broken(
        "truncated-database",
        _truncated_database,
        ("generate", "costs", "approve"),
        "studio.db is damaged (",
        "move it aside",
        backends=SQLITE,
    ),
    *_broken(
        "not-a-database",
        _not_a_database,
        ("costs", "worker", "export"),
        "is not a SQLite database",
        "move it aside",
        backends=SQLITE,
    ),
    *_broken(
        "database-is-a-folder",
        _database_is_a_folder,
        ("costs", "resolve"),
        "studio.db is a folder",
        WHAT_TO_DO + "make",
        backends=SQLITE,
    ),
    *_broken(
        "dropped-table",
        _dropped_table,
        ("generate", "costs", "export", "worker"),
        "lacks the tables ledger: it was changed outside the studio",
        "restore it from a backup",
    ),
    *_broken(
        "unreachable-postgresql",
        _unreachable_postgresql,
        EVERY,
        "the records database 'studio' on PostgreSQL at 127.0.0.1",
        "could not be connected to",
        "check STUDIO_DATABASE_URL",
        backends=POSTGRESQL,
    ),
    *_broken(
        "mysql-url",
        _env({"STUDIO_DATABASE_URL": f"mysql://studio:{PASSWORD}@127.0.0.1/studio"}),
        ("costs", "generate"),
        "configuration: STUDIO_DATABASE_URL names a mysql database",
        "set STUDIO_DATABASE_URL to a postgresql:// URL",
        backends=ONCE,
    ),
    *_broken(
        "psycopg2-url",
        _env({"STUDIO_DATABASE_URL": "postgresql+psycopg2://studio@127.0.0.1/studio"}),
        ("costs",),
        "asks for the psycopg2 driver",
        backends=ONCE,
    ),
    # The data dir and local storage.
    *_broken(
        "data-dir-is-a-file",
        _data_dir_is_a_file,
        ("generate", "upload", "costs", "worker"),
        "the data dir cannot be used",
        "is a file, not a folder",
        WHAT_TO_DO + "set STUDIO_DATA_DIR",
    ),
    *_broken(
        "data-dir-cannot-be-made",
        _env({"STUDIO_DATA_DIR": "/sys/kernel/studio-data"}),
        ("costs", "template"),
        "the data dir cannot be used: cannot create /sys/kernel/studio-data",
        WHAT_TO_DO + "set STUDIO_DATA_DIR",
    ),
    *_broken(
        "data-dir-unwritable",
        _env({"STUDIO_DATA_DIR": "/sys/kernel"}),
        ("costs", "upload"),
        "/sys/kernel/signing.key cannot be created",
        WHAT_TO_DO + "make /sys/kernel a folder this user may write",
    ),
    *_broken(
        "storage-is-a-file",
        _storage_is_a_file,
        ("upload", "template", "export"),
        "storage is a file, not a folder",
        WHAT_TO_DO + "move that file aside",
    ),
    # The signing key of local signed URLs.
    *_broken(
        "empty-signing-key",
        _empty_signing_key,
        ("costs", "export", "upload"),
        "signing.key is empty",
        WHAT_TO_DO + "restore signing.key from a backup",
    ),
    *_broken(
        "signing-key-is-a-folder",
        _signing_key_is_a_folder,
        ("costs",),
        "signing.key cannot be read",
    ),
    *_broken(
        "empty-signing-key-setting",
        _env({"STUDIO_SIGNING_KEY": ""}),
        ("costs",),
        "STUDIO_SIGNING_KEY is set but empty",
        backends=ONCE,
    ),
    # Stored images that went missing or changed are never reviewed or exported.
    *_broken(
        "missing-image",
        _missing_image,
        ("approve", "reject", "export"),
        f"the image of scene_rooftop (version 1) (reference-images/{SEEDED_JOB}/scene_rooftop.png) is "
        "missing from storage",
        WHAT_TO_DO + "generate the job again",
    ),
    *_broken(
        "changed-image",
        _changed(REFERENCE),
        ("approve", "export"),
        "has changed since it was stored",
    ),
]
