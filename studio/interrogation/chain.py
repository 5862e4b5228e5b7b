"""The configured order of interrogators (`STUDIO_INTERROGATOR`) and the fallback that walks it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from studio.errors import ConfigurationError, GenerationError, InvalidInput
from studio.interrogation.base import Interrogation, Interrogator
from studio.settings import Settings

if TYPE_CHECKING:
    from studio.services import BackendChoice

BACKENDS = ("openai", "replicate", "local")
_KEYS = {"openai": "OPENAI_API_KEY", "replicate": "REPLICATE_API_TOKEN"}

log = logging.getLogger(__name__)

FallbackHook = Callable[[Interrogator, GenerationError], None]
"""Told which interrogator failed and why, before the next one is tried (the job records the charge)."""


def _configured(settings: Settings, backend: str) -> bool:
    secret = {"openai": settings.openai_api_key, "replicate": settings.replicate_api_token}.get(backend)
    return backend == "local" or bool(secret and secret.get_secret_value())


def interrogator_order(settings: Settings) -> tuple[list[str], str]:
    """The backend names in order, and why: `auto` takes every configured real backend, then local."""
    selector = settings.interrogator.strip().lower()
    if selector in ("", "auto"):
        order = [b for b in BACKENDS if _configured(settings, b)]
        configured = [_KEYS[b] for b in order if b in _KEYS]
        reason = f"auto: {' and '.join(configured)} set" if configured else "auto: no interrogation keys set"
        return order, reason + ("" if configured else ", offline default")
    order = [name.strip() for name in selector.split(",")]
    for name in order:
        if name not in BACKENDS:
            raise InvalidInput(
                "STUDIO_INTERROGATOR",
                f"unknown interrogator {name!r}; use auto or an order of {', '.join(BACKENDS)}",
            )
    duplicates = sorted({name for name in order if order.count(name) > 1})
    if duplicates:
        raise InvalidInput("STUDIO_INTERROGATOR", f"{', '.join(duplicates)} listed more than once")
    for name in order:
        if not _configured(settings, name):
            raise ConfigurationError(
                f"STUDIO_INTERROGATOR names {name!r} but {_KEYS[name]} is not set; set it or remove {name!r}"
            )
    return order, f"STUDIO_INTERROGATOR is {settings.interrogator.strip()!r}"


def build_interrogator(settings: Settings, backend: str) -> Interrogator:
    if backend == "openai":
        from studio.interrogation.openai import OpenAIInterrogator

        return OpenAIInterrogator.from_settings(settings)
    if backend == "replicate":
        from studio.interrogation.replicate import ReplicateInterrogator

        return ReplicateInterrogator.from_settings(settings)
    from studio.interrogation.local import LocalInterrogator

    return LocalInterrogator()


def build_interrogators(settings: Settings) -> tuple[list[Interrogator], BackendChoice]:
    """The interrogators in the configured order, and the choice the doctor shows (`openai,local`, why)."""
    from studio.services import BackendChoice

    order, reason = interrogator_order(settings)
    interrogators = [build_interrogator(settings, name) for name in order]
    return interrogators, BackendChoice("interrogation", ",".join(order), reason)


async def interrogate_with_fallback(
    interrogators: Sequence[Interrogator],
    image: bytes,
    content_type: str,
    on_fallback: FallbackHook | None = None,
) -> Interrogation:
    """Ask each interrogator in turn until one answers; a GenerationError moves on, the last one is raised.

    Other errors (an unreadable image is InvalidInput) stop the chain: every backend would fail alike.
    """
    if not interrogators:
        raise ConfigurationError("no interrogator is configured; set STUDIO_INTERROGATOR (e.g. local)")
    last: GenerationError | None = None
    for position, interrogator in enumerate(interrogators):
        try:
            return await interrogator.interrogate(image, content_type)
        except GenerationError as exc:
            last = exc
            if position + 1 < len(interrogators):
                log.warning(
                    "interrogator %s failed (%s): %s; falling back to %s",
                    interrogator.name,
                    exc.reason,
                    exc,
                    interrogators[position + 1].name,
                )
                if on_fallback is not None:
                    on_fallback(interrogator, exc)
    assert last is not None
    raise last
