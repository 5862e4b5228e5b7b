"""Placeholder until the interrogation backends land: builds the configured order of interrogators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio.interrogation.base import Interrogator
from studio.settings import Settings

if TYPE_CHECKING:
    from studio.services import BackendChoice


def build_interrogators(settings: Settings) -> tuple[list[Interrogator], BackendChoice]:
    from studio.services import BackendChoice

    return [], BackendChoice("interrogation", "local", "auto: no interrogation keys set, offline default")
