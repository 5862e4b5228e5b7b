"""The one place that picks and builds concrete backends from the settings."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from studio.errors import ConfigurationError
from studio.generation.base import ImageGenerator
from studio.interrogation.base import Interrogator
from studio.records import Records
from studio.settings import Settings
from studio.storage.base import Storage


@dataclass(frozen=True)
class BackendChoice:
    """Which backend a concern uses, and why (how `auto` resolved)."""

    concern: str
    backend: str
    reason: str


@dataclass
class Services:
    """The container pages, the CLI and tests use: every backend typed by its base."""

    settings: Settings
    records: Records
    storage: Storage
    generator: ImageGenerator
    interrogators: list[Interrogator]
    choices: list[BackendChoice] = field(default_factory=list)

    def choice(self, concern: str) -> BackendChoice:
        return next(c for c in self.choices if c.concern == concern)

    def close(self) -> None:
        """Release connections: the records engine, and the storage client where it keeps one."""
        closer = getattr(self.storage, "close", None)
        if callable(closer):
            closer()
        self.records.close()


def _signing_key(settings: Settings) -> bytes:
    if settings.signing_key is not None:
        return settings.signing_key.get_secret_value().encode()
    path = settings.data_dir / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _pick(concern: str, selector: str, real: str, configured: bool, missing: str) -> BackendChoice:
    if selector == "local":
        return BackendChoice(concern, "local", f"{concern} selector is 'local'")
    if selector == real:
        if not configured:
            raise ConfigurationError(
                f"{concern} is set to '{real}' but {missing} is not set; set it or use 'local'"
            )
        return BackendChoice(concern, real, f"{concern} selector is '{real}'")
    if configured:
        return BackendChoice(concern, real, f"auto: {missing} is set")
    return BackendChoice(concern, "local", f"auto: {missing} not set, offline default")


def choose_storage(settings: Settings) -> BackendChoice:
    """Which storage backend the settings select, and why; ConfigurationError names what is missing."""
    return _pick(
        "storage",
        settings.storage,
        "supabase",
        bool(settings.supabase_url and settings.supabase_key),
        "SUPABASE_URL and SUPABASE_KEY",
    )


def choose_image_generator(settings: Settings) -> BackendChoice:
    """Which image generator the settings select, and why."""
    return _pick(
        "image generation",
        settings.image_provider,
        "replicate",
        bool(settings.replicate_api_token),
        "REPLICATE_API_TOKEN",
    )


def choose_interrogation(settings: Settings) -> BackendChoice:
    """The interrogators in their configured order (`openai,local`), and why."""
    from studio.interrogation.chain import interrogator_order

    order, reason = interrogator_order(settings)
    return BackendChoice("interrogation", ",".join(order), reason)


def choose_records(settings: Settings) -> BackendChoice:
    """SQLite in the data dir, or the database STUDIO_DATABASE_URL names."""
    database = "postgresql" if settings.database_url and "postgres" in settings.database_url else "sqlite"
    reason = (
        "STUDIO_DATABASE_URL is set"
        if settings.database_url
        else "STUDIO_DATABASE_URL not set, SQLite in the data dir"
    )
    return BackendChoice("records", database, reason)


def build_storage(settings: Settings, choice: BackendChoice) -> Storage:
    if choice.backend == "supabase":
        from studio.storage.supabase import SupabaseStorage

        assert settings.supabase_url and settings.supabase_key
        return SupabaseStorage(settings.supabase_url, settings.supabase_key.get_secret_value())
    from studio.storage.local import LocalStorage

    return LocalStorage(Path(settings.data_dir) / "storage", _signing_key(settings))


def build_generator(settings: Settings, choice: BackendChoice) -> ImageGenerator:
    if choice.backend == "replicate":
        from studio.generation.replicate import ReplicateImageGenerator

        return ReplicateImageGenerator.from_settings(settings)
    from studio.generation.local import LocalImageGenerator

    return LocalImageGenerator()


def build_services(settings: Settings | None = None) -> Services:
    """Build every backend the settings ask for (`auto`: real when its credentials are set)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage_choice = choose_storage(settings)
    image_choice = choose_image_generator(settings)
    from studio.interrogation.chain import build_interrogators

    interrogators, interrogation_choice = build_interrogators(settings)
    records_choice = choose_records(settings)
    return Services(
        settings=settings,
        records=Records(settings.resolved_database_url()),
        storage=build_storage(settings, storage_choice),
        generator=build_generator(settings, image_choice),
        interrogators=interrogators,
        choices=[image_choice, interrogation_choice, storage_choice, records_choice],
    )
