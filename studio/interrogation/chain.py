"""Asking the configured interrogators in turn (`STUDIO_INTERROGATOR`, resolved by studio.backends)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from studio.errors import ConfigurationError, GenerationError
from studio.interrogation.base import Interrogation, Interrogator

log = logging.getLogger(__name__)

FallbackHook = Callable[[Interrogator, GenerationError], None]
"""Told which interrogator failed and why, before the next one is tried (the job records the charge)."""


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
