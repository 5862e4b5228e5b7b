"""The one place that builds concrete backends from the settings (through the registry in studio.backends)."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.backends import BackendChoice, build, choose, data_dir
from studio.clients import Clients
from studio.generation.base import ImageGenerator
from studio.interrogation.base import Interrogator
from studio.records import Records
from studio.settings import Settings
from studio.storage.base import Storage

__all__ = ["BackendChoice", "Services", "build_services"]


@dataclass
class Services:
    """The container pages, the CLI and tests use: every backend typed by its base."""

    settings: Settings
    records: Records
    storage: Storage
    generator: ImageGenerator
    interrogators: list[Interrogator]
    clients: Clients
    choices: list[BackendChoice] = field(default_factory=list)

    def choice(self, concern: str) -> BackendChoice:
        return next(c for c in self.choices if c.concern == concern)

    async def aclose(self) -> None:
        """Release what the running event loop holds: abandoned calls get a moment, pools close."""
        await self.generator.aclose()
        await self.clients.aclose()

    def close(self) -> None:
        """Release connections: the records (after what is queued is written), the storage client."""
        closer = getattr(self.storage, "close", None)
        if callable(closer):
            closer()
        self.records.close()


def build_services(settings: Settings | None = None) -> Services:
    """Build every backend the settings ask for (`auto`: real when its credentials are set)."""
    settings = settings or Settings()
    data_dir(settings)
    clients = Clients(settings)
    image = choose(settings, "image generation")
    interrogation = choose(settings, "interrogation")
    storage = choose(settings, "storage")
    records = choose(settings, "records")
    built_storage = build(settings, clients, "storage", storage)[0]  # before the records: nothing to close
    built_records = Records(settings.resolved_database_url())
    clients.share_paces(built_records.db)
    return Services(
        settings=settings,
        storage=built_storage,
        generator=build(settings, clients, "image generation", image)[0],
        interrogators=build(settings, clients, "interrogation", interrogation),
        records=built_records,
        clients=clients,
        choices=[image, interrogation, storage, records],
    )
