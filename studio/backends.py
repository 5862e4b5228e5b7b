"""Every backend the studio knows, by concern and name: when it counts as configured, how it is built, and
how the doctor probes it. `build_services`, the interrogation order and the doctor all read this one table.

`auto` (each selector's default) takes the real backend whose credentials are set, else `local`;
interrogation is an ordered chain with fallback (`openai,replicate,local`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio.clients import Clients
from studio.errors import ConfigurationError, InvalidInput, StudioError, Unavailable
from studio.settings import Settings

Concern = Literal["image generation", "interrogation", "storage", "records"]
Probe = tuple[str, Callable[[], Awaitable[str]]]
"""(check name, a coroutine factory that returns what it saw or raises the doctor's Failed)."""


@dataclass(frozen=True)
class BackendChoice:
    """Which backend a concern uses, and why (how `auto` resolved)."""

    concern: str
    backend: str
    reason: str


@dataclass(frozen=True)
class Backend:
    concern: Concern
    name: str
    requires: tuple[str, ...] = ()
    """The settings (environment names) a real backend needs; empty for the offline ones."""
    build: Callable[[Settings, Clients], Any] = field(default=lambda _s, _c: None)
    probes: Callable[[Settings, Clients], list[Probe]] = field(default=lambda _s, _c: [])

    def configured(self, settings: Settings) -> bool:
        return all(_is_set(settings, name) for name in self.requires)


def _field(env_name: str) -> str:
    for name, info in Settings.model_fields.items():
        if env_name in getattr(info.validation_alias, "choices", ()):
            return name
    raise KeyError(env_name)


def _is_set(settings: Settings, env_name: str) -> bool:
    value = getattr(settings, _field(env_name))
    if value is None:
        return False
    return bool(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


# builders ---------------------------------------------------------------------------------------
def _local_generator(_settings: Settings, _clients: Clients) -> Any:
    from studio.generation.local import LocalImageGenerator

    return LocalImageGenerator()


def _replicate_generator(settings: Settings, clients: Clients) -> Any:
    from studio.generation.replicate import ReplicateImageGenerator

    return ReplicateImageGenerator.from_settings(settings, clients.replicate, clients.replicate_pace)


def _local_interrogator(_settings: Settings, _clients: Clients) -> Any:
    from studio.interrogation.local import LocalInterrogator

    return LocalInterrogator()


def _openai_interrogator(settings: Settings, clients: Clients) -> Any:
    from studio.interrogation.openai import OpenAIInterrogator

    return OpenAIInterrogator(clients.openai, model=settings.openai_model, pace=clients.openai_pace)


def _replicate_interrogator(settings: Settings, clients: Clients) -> Any:
    from studio.interrogation.replicate import ReplicateInterrogator

    return ReplicateInterrogator.from_settings(settings, clients.replicate, clients.replicate_pace)


def data_dir(settings: Settings) -> Path:
    """The data dir, made (0700) when missing; Unavailable when it cannot be a folder the studio writes."""
    from studio.storage.private_files import private_dir

    try:
        return private_dir(settings.data_dir)
    except StudioError as error:
        raise Unavailable(
            f"the data dir cannot be used: {error}",
            "set STUDIO_DATA_DIR to a folder this user may create and write",
        ) from error


def signing_key_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "signing.key"


def signing_key(settings: Settings) -> bytes:
    """STUDIO_SIGNING_KEY, else a key generated once into the data dir (readable by its owner only)."""
    import contextlib
    import os
    import secrets

    if settings.signing_key is not None:
        return stored_signing_key(settings)
    path = signing_key_path(settings)
    if not path.exists():
        data_dir(settings)
        # Written whole under a name of its own, then linked into place: a process starting at the same
        # moment sees no key or the whole key, never an empty file; the first link wins.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            os.link(draft, path)
        except FileExistsError:  # another process made it first
            pass
        except OSError as error:
            raise Unavailable(
                f"the signing key {path} cannot be created: {error.strerror or error}",
                f"make {path.parent} a folder this user may write, or set STUDIO_DATA_DIR to one",
            ) from error
        finally:
            with contextlib.suppress(OSError):
                draft.unlink()
    return stored_signing_key(settings)


def stored_signing_key(settings: Settings) -> bytes:
    """The signing key as it is now (nothing is created); Unavailable says why it cannot be used."""
    if settings.signing_key is not None:
        key = settings.signing_key.get_secret_value().encode()
        if not key:
            raise Unavailable(
                "STUDIO_SIGNING_KEY is set but empty",
                "unset it to use the key the studio keeps in the data dir, or set it to a long random string",
            )
        return key
    path = signing_key_path(settings)
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        raise _unusable_key(path, "is missing") from None
    except OSError as error:
        raise _unusable_key(path, f"cannot be read: {error.strerror or error}") from error
    if not key:
        raise _unusable_key(path, "is empty")
    return key


def _unusable_key(path: Path, problem: str) -> Unavailable:
    return Unavailable(
        f"the signing key {path} {problem}",
        f"restore {path.name} from a backup, or remove it to have a new one made on the next command "
        "(links signed with the old key then stop working: `export --refresh` signs them again)",
    )


def _local_storage(settings: Settings, _clients: Clients) -> Any:
    from studio.storage.local import LocalStorage

    root = Path(settings.data_dir) / "storage"
    if root.exists() and not root.is_dir():
        raise Unavailable(
            f"local storage {root} is a file, not a folder",
            "move that file aside (the studio makes the folder), or set STUDIO_DATA_DIR to another folder",
        )
    return LocalStorage(root, signing_key(settings), public_url=settings.public_url)


def _supabase_storage(settings: Settings, _clients: Clients) -> Any:
    from studio.storage.supabase import SupabaseStorage

    assert settings.supabase_url and settings.supabase_key
    return SupabaseStorage(settings.supabase_url, settings.supabase_key.get_secret_value())


# probes -----------------------------------------------------------------------------------------
def _threaded(function: Callable[..., str], *args: Any) -> Callable[[], Awaitable[str]]:
    import asyncio

    return lambda: asyncio.to_thread(function, *args)


def _replicate_probes(model: str, version: Callable[[Settings], str], setting: str | None) -> Any:
    def probes(settings: Settings, clients: Clients) -> list[Probe]:
        from studio.operations.doctor import probes as p

        return [
            ("replicate account", lambda: p.replicate_account(settings, clients.replicate)),
            (
                f"replicate model {model}",
                lambda: p.replicate_version(settings, clients.replicate, model, version(settings), setting),
            ),
            ("replicate pace", _threaded(p.provider_pace, settings, clients.replicate_pace)),
        ]

    return probes


def _img2prompt_version(_settings: Settings) -> str:
    from studio.interrogation.replicate import IMG2PROMPT_VERSION

    return IMG2PROMPT_VERSION


def _openai_probes(settings: Settings, clients: Clients) -> list[Probe]:
    from studio.operations.doctor import probes as p

    return [
        (f"openai model {settings.openai_model}", lambda: p.openai_model(settings, clients.openai)),
        ("openai pace", _threaded(p.provider_pace, settings, clients.openai_pace)),
    ]


def _supabase_probes(settings: Settings, _clients: Clients) -> list[Probe]:
    from studio.operations.doctor import probes as p
    from studio.storage.keys import CHARACTER_BUCKET, REFERENCE_BUCKET

    return [
        (f"supabase bucket {bucket}", _threaded(p.supabase_bucket, settings, bucket))
        for bucket in (REFERENCE_BUCKET, CHARACTER_BUCKET)
    ]


def _local_storage_probes(settings: Settings, _clients: Clients) -> list[Probe]:
    from studio.operations.doctor import probes as p

    return [
        ("local storage writable", _threaded(p.writable, Path(settings.data_dir) / "storage")),
        ("signing key", _threaded(p.signing_key, settings)),
    ]


def _database_probes(settings: Settings, _clients: Clients) -> list[Probe]:
    from studio.operations.doctor import probes as p
    from studio.records.health import probe

    return [
        ("database", _threaded(probe, settings.resolved_database_url())),
        ("data directory writable", _threaded(p.writable, Path(settings.data_dir))),
    ]


BACKENDS: dict[Concern, dict[str, Backend]] = {
    "image generation": {
        "replicate": Backend(
            "image generation",
            "replicate",
            ("REPLICATE_API_TOKEN",),
            _replicate_generator,
            _replicate_probes("stability-ai/sdxl", lambda s: s.model_version, "REFERENCE_MODEL_VERSION"),
        ),
        "local": Backend("image generation", "local", (), _local_generator),
    },
    "interrogation": {
        "openai": Backend(
            "interrogation", "openai", ("OPENAI_API_KEY",), _openai_interrogator, _openai_probes
        ),
        "replicate": Backend(
            "interrogation",
            "replicate",
            ("REPLICATE_API_TOKEN",),
            _replicate_interrogator,
            _replicate_probes("methexis-inc/img2prompt", _img2prompt_version, None),
        ),
        "local": Backend("interrogation", "local", (), _local_interrogator),
    },
    "storage": {
        "supabase": Backend(
            "storage", "supabase", ("SUPABASE_URL", "SUPABASE_KEY"), _supabase_storage, _supabase_probes
        ),
        "local": Backend("storage", "local", (), _local_storage, _local_storage_probes),
    },
    "records": {
        "postgresql": Backend("records", "postgresql", ("STUDIO_DATABASE_URL",), probes=_database_probes),
        "sqlite": Backend("records", "sqlite", (), probes=_database_probes),
    },
}
_SELECTORS: dict[Concern, str] = {"image generation": "image_provider", "storage": "storage"}


def _real(concern: Concern) -> list[Backend]:
    return [b for b in BACKENDS[concern].values() if b.requires]


def choose(settings: Settings, concern: Concern) -> BackendChoice:
    """The one backend of `concern` the settings select; ConfigurationError names what is missing."""
    if concern == "interrogation":
        order, reason = interrogation_order(settings)
        return BackendChoice(concern, ",".join(order), reason)
    if concern == "records":
        from studio.records.failures import RecordsUnavailable, checked_url

        if not settings.database_url:
            return BackendChoice(concern, "sqlite", "STUDIO_DATABASE_URL not set, SQLite in the data dir")
        try:
            database = checked_url(settings.resolved_database_url()).get_backend_name()
        except RecordsUnavailable as error:
            raise ConfigurationError(str(error)) from None
        return BackendChoice(concern, database, "STUDIO_DATABASE_URL is set")
    selector = getattr(settings, _SELECTORS[concern])
    if selector == "local":
        return BackendChoice(concern, "local", f"{concern} selector is 'local'")
    for backend in _real(concern):
        needs = " and ".join(backend.requires)
        if selector == backend.name:
            if not backend.configured(settings):
                raise ConfigurationError(
                    f"{concern} is set to '{backend.name}' but {needs} is not set; set it or use 'local'"
                )
            return BackendChoice(concern, backend.name, f"{concern} selector is '{backend.name}'")
        if selector == "auto" and backend.configured(settings):
            return BackendChoice(concern, backend.name, f"auto: {needs} is set")
    needs = " and ".join(name for backend in _real(concern) for name in backend.requires)
    return BackendChoice(concern, "local", f"auto: {needs} not set, offline default")


def interrogation_order(settings: Settings) -> tuple[list[str], str]:
    """The interrogator names in order, and why: `auto` takes every configured real backend, then local."""
    known = BACKENDS["interrogation"]
    selector = settings.interrogator.strip().lower()
    if selector in ("", "auto"):
        order = [name for name, backend in known.items() if backend.configured(settings)]
        keys = [key for name in order for key in known[name].requires]
        reason = (
            f"auto: {' and '.join(keys)} set" if keys else "auto: no interrogation keys set, offline default"
        )
        return order, reason
    order = [name.strip() for name in selector.split(",")]
    for name in order:
        if name not in known:
            raise InvalidInput(
                "STUDIO_INTERROGATOR",
                f"unknown interrogator {name!r}; use auto or an order of {', '.join(known)}",
            )
    duplicates = sorted({name for name in order if order.count(name) > 1})
    if duplicates:
        raise InvalidInput("STUDIO_INTERROGATOR", f"{', '.join(duplicates)} listed more than once")
    for name in order:
        if not known[name].configured(settings):
            raise ConfigurationError(
                f"STUDIO_INTERROGATOR names {name!r} but {' and '.join(known[name].requires)} is not set; "
                f"set it or remove {name!r}"
            )
    return order, f"STUDIO_INTERROGATOR is {settings.interrogator.strip()!r}"


def chosen(settings: Settings, concern: Concern, choice: BackendChoice) -> list[Backend]:
    """The backends a choice names, in order (one, or the interrogation chain)."""
    return [BACKENDS[concern][name] for name in choice.backend.split(",")]


def build(settings: Settings, clients: Clients, concern: Concern, choice: BackendChoice) -> list[Any]:
    return [backend.build(settings, clients) for backend in chosen(settings, concern, choice)]


def build_interrogators(settings: Settings, clients: Clients) -> tuple[list[Any], BackendChoice]:
    """The interrogators in the configured order, and the choice the doctor shows (`openai,local`, why)."""
    choice = choose(settings, "interrogation")
    return build(settings, clients, "interrogation", choice), choice
