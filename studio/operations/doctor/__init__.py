"""The configuration doctor: which backend each concern uses and why, and whether each service answers.

Every check has a short timeout, so a dead service fails in seconds, and says what to set to fix it.
Secrets appear only as `set` / `not set`; details are redacted like log lines. The CLI's `doctor` and the
Home page show the same report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from studio.backends import BACKENDS, BackendChoice, Concern, choose, chosen
from studio.clients import Clients
from studio.errors import StudioError, Unavailable
from studio.logs import Redactor, secret_values
from studio.operations.doctor.probes import Failed
from studio.records.failures import shown_url
from studio.settings import Settings

CHECK_DEADLINE = 5.0
"""Seconds a whole check may take, retries of the client included."""

CheckStatus = Literal["ok", "failed", "skipped"]


class Check(BaseModel):
    """One probe: `ok`, `failed` (with `fix`: what to set), or `skipped` (not configured, nothing to ask)."""

    concern: str
    name: str
    status: CheckStatus
    detail: str
    fix: str | None = None
    seconds: float = 0.0


class BackendReport(BaseModel):
    """Which backend a concern uses and why; `backend` is None when the configuration is refused."""

    concern: str
    backend: str | None
    reason: str


class DoctorReport(BaseModel):
    healthy: bool
    data_dir: str
    database: str
    """The records URL with any password hidden."""
    backends: list[BackendReport]
    secrets: dict[str, str]
    checks: list[Check]

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]


CONCERNS: tuple[Concern, ...] = ("image generation", "interrogation", "storage", "records")


def diagnose(settings: Settings | None = None, clients: Clients | None = None) -> DoctorReport:
    """Run every check for `settings` (the environment when None); blocks for at most a few seconds.

    `clients` are the process's clients (the app passes its own); the CLI's doctor builds them.
    """
    settings = settings or Settings()
    return asyncio.run(diagnose_async(settings, clients or Clients(settings)))


async def diagnose_async(settings: Settings, clients: Clients) -> DoctorReport:
    choices: dict[str, BackendChoice | StudioError] = {}
    for concern in CONCERNS:
        try:
            choices[concern] = choose(settings, concern)
        except StudioError as exc:
            choices[concern] = exc
    planned = _plan(settings, clients, choices)
    redactor = Redactor(secret_values(settings))
    try:
        checks = await asyncio.gather(
            *(_run(concern, name, probe, redactor) for concern, name, probe in planned)
        )
    finally:
        await clients.aclose()
    skipped = _skipped(settings, choices)
    order = list(choices)
    all_checks = sorted([*_refused(choices), *checks, *skipped], key=lambda c: order.index(c.concern))
    backends = [
        BackendReport(concern=c, backend=None, reason=redactor.redact(str(choice)))
        if isinstance(choice, StudioError)
        else BackendReport(concern=c, backend=choice.backend, reason=choice.reason)
        for c, choice in choices.items()
    ]
    return DoctorReport(
        healthy=not any(c.status == "failed" for c in all_checks),
        data_dir=str(settings.data_dir),
        database=shown_url(settings.resolved_database_url()),
        backends=backends,
        secrets=settings.secret_status(),
        checks=all_checks,
    )


def _backend(choices: dict[str, BackendChoice | StudioError], concern: str) -> str:
    choice = choices[concern]
    return "" if isinstance(choice, StudioError) else choice.backend


def _plan(
    settings: Settings, clients: Clients, choices: dict[str, BackendChoice | StudioError]
) -> list[tuple[str, str, Callable[[], Awaitable[str]]]]:
    """Each chosen backend's probes, once per name (the Replicate account is asked once)."""
    planned: list[tuple[str, str, Callable[[], Awaitable[str]]]] = []
    seen: set[str] = set()
    for concern in CONCERNS:
        choice = choices[concern]
        if isinstance(choice, StudioError):
            continue
        for backend in chosen(settings, concern, choice):
            for name, probe in backend.probes(settings, clients):
                if name not in seen:
                    seen.add(name)
                    planned.append((concern, name, probe))
    return planned


async def _run(concern: str, name: str, probe: Callable[[], Awaitable[str]], redactor: Redactor) -> Check:
    started = time.perf_counter()

    def check(status: CheckStatus, detail: str, fix: str | None = None) -> Check:
        seconds = round(time.perf_counter() - started, 3)
        fixed = redactor.redact(fix) if fix else None
        return Check(
            concern=concern,
            name=name,
            status=status,
            detail=redactor.redact(detail),
            fix=fixed,
            seconds=seconds,
        )

    try:
        detail = await asyncio.wait_for(probe(), CHECK_DEADLINE)
    except Failed as exc:
        return check("failed", exc.detail, exc.fix)
    except Unavailable as exc:
        return check("failed", exc.what, exc.fix)
    except TimeoutError:
        return check(
            "failed",
            f"no answer within {CHECK_DEADLINE:g} s",
            "check that the service is running and its URL setting points at it",
        )
    except Exception as exc:
        return check("failed", f"{type(exc).__name__}: {exc}", "see the detail; report it if it persists")
    return check("ok", detail)


def _refused(choices: dict[str, BackendChoice | StudioError]) -> list[Check]:
    return [
        Check(
            concern=concern,
            name="configuration",
            status="failed",
            detail=f"the {concern} setting is refused",
            fix=str(choice),
        )
        for concern, choice in choices.items()
        if isinstance(choice, StudioError)
    ]


_UNUSED = {
    "image generation": "the local renderer is used",
    "interrogation": "not asked",
    "storage": "objects stay in the data dir",
}


def _skipped(settings: Settings, choices: dict[str, BackendChoice | StudioError]) -> list[Check]:
    """Services no chosen backend uses: said once each, so the report shows what was not asked."""
    used = {name for concern in CONCERNS for name in _backend(choices, concern).split(",")}
    skipped: list[Check] = []
    for concern, what in _UNUSED.items():
        for backend in BACKENDS[concern].values():  # type: ignore[index]
            if not backend.requires or backend.name in used or backend.name in {c.name for c in skipped}:
                continue
            why = (
                "not selected"
                if backend.configured(settings)
                else f"{' and '.join(backend.requires)} not set"
            )
            skipped.append(_skip(concern, backend.name, f"{why}; {what}"))
    return skipped


def _skip(concern: str, name: str, detail: str) -> Check:
    return Check(concern=concern, name=name, status="skipped", detail=detail)
