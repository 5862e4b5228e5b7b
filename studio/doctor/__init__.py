"""The configuration doctor: which backend each concern uses and why, and whether each service answers.

Every check has a short timeout, so a dead service fails in seconds, and says what to set to fix it.
Secrets appear only as `set` / `not set`; details are redacted like log lines. The CLI's `doctor` and the
Home page show the same report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from studio.doctor.probes import (
    Failed,
    database,
    openai_model,
    replicate_account,
    replicate_version,
    shown_url,
    supabase_bucket,
    writable,
)
from studio.errors import StudioError
from studio.keys import CHARACTER_BUCKET, REFERENCE_BUCKET
from studio.logs import Redactor, secret_values
from studio.services import (
    BackendChoice,
    choose_image_generator,
    choose_interrogation,
    choose_records,
    choose_storage,
)
from studio.settings import Settings

CHECK_DEADLINE = 5.0
"""Seconds a whole check may take, retries of the client included."""
SDXL_MODEL = "stability-ai/sdxl"

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


Probe = Callable[[], Awaitable[str]]


def diagnose(settings: Settings | None = None) -> DoctorReport:
    """Run every check for `settings` (the environment when None); blocks for at most a few seconds."""
    return asyncio.run(diagnose_async(settings or Settings()))


async def diagnose_async(settings: Settings) -> DoctorReport:
    choices: dict[str, BackendChoice | StudioError] = {}
    for concern, choose in (
        ("image generation", choose_image_generator),
        ("interrogation", choose_interrogation),
        ("storage", choose_storage),
        ("records", choose_records),
    ):
        try:
            choices[concern] = choose(settings)
        except StudioError as exc:
            choices[concern] = exc
    planned = _plan(settings, choices)
    redactor = Redactor(secret_values(settings))
    checks = await asyncio.gather(*(_run(concern, name, probe, redactor) for concern, name, probe in planned))
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
    settings: Settings, choices: dict[str, BackendChoice | StudioError]
) -> list[tuple[str, str, Probe]]:
    interrogators = _backend(choices, "interrogation").split(",")
    image = _backend(choices, "image generation")
    storage = _backend(choices, "storage")
    planned: list[tuple[str, str, Probe]] = []

    def add(concern: str, name: str, probe: Callable[..., Any], *args: Any) -> None:
        planned.append((concern, name, lambda: asyncio.to_thread(probe, *args)))

    if image == "replicate" or "replicate" in interrogators:
        concern = "image generation" if image == "replicate" else "interrogation"
        planned.append((concern, "replicate account", lambda: replicate_account(settings)))
    if image == "replicate":
        version, setting = settings.model_version, "REFERENCE_MODEL_VERSION"
        planned.append(
            (
                "image generation",
                f"replicate model {SDXL_MODEL}",
                lambda: replicate_version(settings, SDXL_MODEL, version, setting),
            )
        )
    if "replicate" in interrogators:
        from studio.interrogation.replicate import IMG2PROMPT_MODEL, IMG2PROMPT_VERSION

        planned.append(
            (
                "interrogation",
                f"replicate model {IMG2PROMPT_MODEL}",
                lambda: replicate_version(settings, IMG2PROMPT_MODEL, IMG2PROMPT_VERSION, None),
            )
        )
    if "openai" in interrogators:
        planned.append(
            ("interrogation", f"openai model {settings.openai_model}", lambda: openai_model(settings))
        )
    if storage == "supabase":
        for bucket in (REFERENCE_BUCKET, CHARACTER_BUCKET):
            add("storage", f"supabase bucket {bucket}", supabase_bucket, settings, bucket)
    if storage == "local":
        add("storage", "local storage writable", writable, Path(settings.data_dir) / "storage")
    add("records", "database", database, settings)
    add("records", "data directory writable", writable, Path(settings.data_dir))
    return planned


async def _run(concern: str, name: str, probe: Probe, redactor: Redactor) -> Check:
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


def _skipped(settings: Settings, choices: dict[str, BackendChoice | StudioError]) -> list[Check]:
    """Services that are not in use: said once each, so the report shows what was not asked."""
    interrogators = _backend(choices, "interrogation").split(",")
    image = _backend(choices, "image generation")
    skipped: list[Check] = []
    if image != "replicate" and "replicate" not in interrogators:
        why = "REPLICATE_API_TOKEN not set" if not settings.replicate_api_token else "not selected"
        skipped.append(_skip("image generation", "replicate", f"{why}; the local renderer is used"))
    if "openai" not in interrogators:
        why = "OPENAI_API_KEY not set" if not settings.openai_api_key else "not in STUDIO_INTERROGATOR"
        skipped.append(_skip("interrogation", "openai", f"{why}; not asked"))
    if _backend(choices, "storage") != "supabase":
        configured = settings.supabase_url and settings.supabase_key
        why = "SUPABASE_URL and SUPABASE_KEY not set" if not configured else "STUDIO_STORAGE is 'local'"
        skipped.append(_skip("storage", "supabase", f"{why}; objects stay in the data dir"))
    return skipped


def _skip(concern: str, name: str, detail: str) -> Check:
    return Check(concern=concern, name=name, status="skipped", detail=detail)
