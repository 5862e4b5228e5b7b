"""The doctor's probes: each asks one service one question and returns what it saw, or raises Failed.

They use the official clients with short timeouts and no retries of our own, so a dead service fails fast.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from studio.generation.pace import SAFETY, Pace
from studio.settings import Settings

REQUEST_TIMEOUT = 3.0
"""Seconds any one request may take."""


class Failed(Exception):
    """A check's failure: what was seen and what to set."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


def _unreachable(error: httpx.HTTPError, service: str, url_setting: str, url: str) -> Failed:
    """A request that never got an answer: the service is down, or the URL points elsewhere."""
    kind = (
        "timed out"
        if isinstance(error, httpx.TimeoutException)
        else f"could not connect ({type(error).__name__})"
    )
    return Failed(
        f"{service} at {url} {kind}",
        f"check that {service} is reachable, or set {url_setting} to where it runs",
    )


def _replicate_refusal(error: Any, what: str, fix_404: str) -> Failed:
    status = getattr(error, "status", None)
    if status in (401, 403):
        return Failed(
            f"Replicate refused the token (HTTP {status})",
            "set REPLICATE_API_TOKEN to a valid API token (replicate.com/account/api-tokens)",
        )
    if status == 404:
        return Failed(f"Replicate has no {what} (HTTP 404)", fix_404)
    return Failed(f"Replicate answered HTTP {status} for {what}", "retry later; see status.replicate.com")


async def replicate_account(settings: Settings, client: Any) -> str:
    """`GET /v1/account` with the configured token, through the process's Replicate client."""
    from replicate.exceptions import ReplicateError

    url = settings.replicate_base_url or "https://api.replicate.com"
    try:
        account = await client.accounts.async_current()
    except ReplicateError as exc:
        raise _replicate_refusal(exc, "account", "check REPLICATE_BASE_URL") from None
    except httpx.HTTPError as exc:
        raise _unreachable(exc, "Replicate", "REPLICATE_BASE_URL", url) from None
    return f"token accepted for account {account.username!r} at {url}"


async def replicate_version(
    settings: Settings, client: Any, model: str, version: str, setting: str | None
) -> str:
    """`GET /v1/models/<owner>/<name>/versions/<hash>`: the pinned version still exists."""
    from replicate.exceptions import ReplicateError
    from replicate.version import Versions

    url = settings.replicate_base_url or "https://api.replicate.com"
    fix = (
        f"set {setting} to an existing version of {model}"
        if setting
        else f"the pinned {model} version is gone: update it in the studio, or use another interrogator"
    )
    try:
        found = await Versions(client, model).async_get(version)
    except ReplicateError as exc:
        raise _replicate_refusal(exc, f"version {version[:12]}… of {model}", fix) from None
    except httpx.HTTPError as exc:
        raise _unreachable(exc, "Replicate", "REPLICATE_BASE_URL", url) from None
    return f"version {found.id[:12]}… of {model} is available"


async def openai_model(settings: Settings, shared: Any) -> str:
    """The configured vision model is among the models the key may use (the process's OpenAI client)."""
    import openai

    url = settings.openai_base_url or "https://api.openai.com/v1"
    client = shared.with_options(timeout=REQUEST_TIMEOUT, max_retries=0)
    try:
        names = [model.id async for model in client.models.list()]
    except openai.AuthenticationError:
        raise Failed("OpenAI refused the key (HTTP 401)", "set OPENAI_API_KEY to a valid key") from None
    except openai.APIStatusError as exc:
        raise Failed(
            f"OpenAI answered HTTP {exc.status_code} listing models", "retry later; see status.openai.com"
        ) from None
    except openai.APIConnectionError:
        raise Failed(
            f"OpenAI at {url} did not answer",
            "check that OpenAI is reachable, or set OPENAI_BASE_URL to where it runs",
        ) from None
    if settings.openai_model not in names:
        shown = ", ".join(sorted(names)[:8]) or "none"
        raise Failed(
            f"model {settings.openai_model!r} is not listed for this key (listed: {shown})",
            "set STUDIO_OPENAI_MODEL to a vision model the key can use",
        )
    return f"model {settings.openai_model!r} is listed at {url}"


def supabase_bucket(settings: Settings, bucket: str) -> str:
    from storage3.exceptions import StorageApiError
    from storage3.utils import StorageException
    from supabase import create_client
    from supabase.lib.client_options import SyncClientOptions

    url = settings.supabase_url or ""
    key = settings.supabase_key.get_secret_value() if settings.supabase_key else ""
    with httpx.Client(timeout=httpx.Timeout(REQUEST_TIMEOUT)) as http:
        try:
            client = create_client(url, key, SyncClientOptions(httpx_client=http))
            found = client.storage.get_bucket(bucket)
        except StorageApiError as exc:
            status = str(exc.status)
            if status in ("401", "403"):
                raise Failed(
                    f"Supabase refused the key (HTTP {status})",
                    "set SUPABASE_KEY to the project's service-role (secret) key",
                ) from None
            if status in ("400", "404"):
                raise Failed(
                    f"bucket {bucket!r} does not exist",
                    f"create the private bucket {bucket!r} in the Supabase dashboard, or run a generation "
                    "once: the studio creates it private on first use",
                ) from None
            raise Failed(f"Supabase answered HTTP {status} for bucket {bucket!r}", "retry later") from None
        except httpx.HTTPError as exc:
            raise _unreachable(exc, "Supabase", "SUPABASE_URL", url) from None
        except (StorageException, ValueError) as exc:
            raise Failed(f"Supabase client refused the settings: {exc}", "check SUPABASE_URL") from None
    if found.public:
        raise Failed(
            f"bucket {bucket!r} is public: anyone with an object's path can read it",
            f"make {bucket!r} private in the Supabase dashboard (Storage, bucket settings, Public off)",
        )
    return f"bucket {bucket!r} exists and is private"


def signing_key(settings: Settings) -> str:
    """The key local signed URLs are made with: set, or readable and not empty (nothing is created)."""
    from studio.backends import signing_key_path, stored_signing_key
    from studio.errors import Unavailable

    if settings.signing_key is not None:
        stored_signing_key(settings)
        return "STUDIO_SIGNING_KEY is set"
    path = signing_key_path(settings)
    if not path.exists() and not path.is_symlink():
        stored = Path(settings.data_dir) / "storage"
        if any(found.is_file() for found in stored.rglob("*")):
            raise Unavailable(
                f"the signing key {path} is missing while the storage holds objects",
                f"restore {path.name} from a backup; else a new key is made on the next command and links "
                "signed before stop working (`export --refresh` signs them again)",
            )
        return f"{path} is not created yet; the first command makes it"
    stored_signing_key(settings)
    return f"{path} is readable and not empty"


def writable(path: Path) -> str:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = f"make {path} a writable directory, or set STUDIO_DATA_DIR to one"
    if not existing.is_dir():
        raise Failed(f"{existing} is not a directory", fix)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".doctor-"):
            pass
    except OSError as exc:
        raise Failed(f"cannot write in {existing}: {exc.strerror or exc}", fix) from None
    return f"{path} is writable" if existing == path else f"{path} will be created under {existing}"


def provider_pace(settings: Settings, pace: Pace) -> str:
    """The pace an account's calls go at now, as every process sharing the records sees it (read only: a
    database not made yet, or without the table, shows the configured pace)."""
    import time

    from sqlalchemy import create_engine, inspect
    from sqlalchemy.orm import Session

    from studio.records.database import sqlite_path
    from studio.records.failures import translated
    from studio.records.paces import PaceRow, state_in

    url = settings.resolved_database_url()
    configured = f"{pace.setting}={pace.per_minute / SAFETY:g}"
    state = None
    path = sqlite_path(url)
    if path is None or path.exists():
        timeout = {"timeout": REQUEST_TIMEOUT} if path else {"connect_timeout": round(REQUEST_TIMEOUT)}
        engine = create_engine(url, connect_args=timeout)
        try:
            with translated(url), Session(engine) as session:
                if inspect(session.connection()).has_table(PaceRow.__tablename__):
                    state = state_in(session, pace.account, pace.per_minute, time.time())
        finally:
            engine.dispose()
    if state is None:
        return f"paced at {pace.per_minute:g} a minute ({SAFETY:.0%} of {configured}); nothing paced yet"
    held = state.held_until - time.time()
    now = (
        f"held for {held:.0f} s more by the provider's rate limit"
        if held > 0
        else f"slowed after a 429, climbing back to {pace.per_minute:g}"
        if state.per_minute < pace.per_minute
        else "at full pace"
    )
    return (
        f"paced at {state.per_minute:.0f} a minute ({SAFETY:.0%} of {configured}), shared by every process "
        f"using the records; {now}; {state.throttled} throttled (429) so far"
    )
