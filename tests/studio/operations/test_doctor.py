"""The doctor against the local test servers, healthy and broken: each failure fast, named, with a fix."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from studio.interrogation.replicate import IMG2PROMPT_MODEL, IMG2PROMPT_VERSION
from studio.operations.doctor import CHECK_DEADLINE, Check, DoctorReport, diagnose
from studio.operations.doctor import probes as doctor_probes
from studio.records.migrate import head_revision
from studio.services import build_services
from studio.settings import Settings
from studio.storage.keys import CHARACTER_BUCKET, REFERENCE_BUCKET
from tests.servers.openai import OpenAIServer
from tests.servers.replicate import ReplicateServer
from tests.servers.supabase_storage import SupabaseStorageServer


def check(report: DoctorReport, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def statuses(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


@pytest.fixture
def live(
    data_dir: Path,
    supabase_server: SupabaseStorageServer,
    replicate_server: ReplicateServer,
    openai_server: OpenAIServer,
) -> Settings:
    """Every real backend configured against its test server, in a healthy state."""
    replicate_server.add_version(IMG2PROMPT_VERSION, model=IMG2PROMPT_MODEL)
    for bucket in (REFERENCE_BUCKET, CHARACTER_BUCKET):
        supabase_server.add_bucket(bucket)
    return Settings(
        data_dir=data_dir,
        replicate_api_token=replicate_server.token,
        replicate_base_url=replicate_server.base_url,
        openai_api_key=openai_server.api_key,
        openai_base_url=openai_server.url,
        supabase_url=supabase_server.url,
        supabase_key=supabase_server.key,
    )


def test_offline_defaults_are_healthy_and_say_why(settings: Settings) -> None:
    report = diagnose(settings)
    assert report.healthy and report.problems == []
    backends = {b.concern: (b.backend, b.reason) for b in report.backends}
    assert backends["image generation"] == ("local", "auto: REPLICATE_API_TOKEN not set, offline default")
    assert backends["storage"][0] == "local" and backends["records"][0] == "sqlite"
    assert set(report.secrets.values()) == {"not set"}
    assert statuses(report) == {
        "replicate": "skipped",
        "openai": "skipped",
        "supabase": "skipped",
        "local storage writable": "ok",
        "signing key": "ok",
        "database": "ok",
        "data directory writable": "ok",
    }
    assert not settings.data_dir.exists(), "the doctor creates nothing"


def test_every_live_service_answers(live: Settings) -> None:
    report = diagnose(live)
    assert report.healthy, [c for c in report.checks if c.status == "failed"]
    assert statuses(report) == {
        "replicate account": "ok",
        "replicate model stability-ai/sdxl": "ok",
        f"replicate model {IMG2PROMPT_MODEL}": "ok",
        f"openai model {live.openai_model}": "ok",
        "replicate pace": "ok",
        "openai pace": "ok",
        "supabase bucket reference-images": "ok",
        "supabase bucket character-images": "ok",
        "database": "ok",
        "data directory writable": "ok",
    }
    backends = {b.concern: b.backend for b in report.backends}
    assert backends == {
        "image generation": "replicate",
        "interrogation": "openai,replicate,local",
        "storage": "supabase",
        "records": "sqlite",
    }
    assert (
        report.secrets["REPLICATE_API_TOKEN"] == "set" and report.secrets["STUDIO_SIGNING_KEY"] == "not set"
    )
    shown = report.model_dump_json()
    for secret in (live.replicate_api_token, live.openai_api_key, live.supabase_key):
        assert secret is not None and secret.get_secret_value() not in shown


def test_the_pace_shows_what_every_process_shares(data_dir: Path, replicate_server: ReplicateServer) -> None:
    settings = Settings(
        data_dir=data_dir,
        replicate_api_token=replicate_server.token,
        replicate_base_url=replicate_server.base_url,
        replicate_creates_per_minute=600,
    )
    fresh = check(diagnose(settings), "replicate pace").detail
    assert "paced at 570 a minute (95% of REPLICATE_CREATES_PER_MINUTE=600)" in fresh
    services = build_services(settings)
    try:
        asyncio.run(services.clients.replicate_pace.hold(30.0))  # another process met a 429
    finally:
        services.close()
    held = check(diagnose(settings), "replicate pace").detail
    assert "held for" in held and "by the provider's rate limit" in held and "1 throttled (429)" in held


def test_wrong_replicate_token_fails_with_a_fix(live: Settings) -> None:
    report = diagnose(
        live.model_copy(update={"replicate_api_token": SecretStr("r8_not_the_right_token_0000")})
    )
    account = check(report, "replicate account")
    assert account.status == "failed" and "401" in account.detail
    assert account.fix and "REPLICATE_API_TOKEN" in account.fix
    assert not report.healthy and "r8_not_the_right_token_0000" not in report.model_dump_json()


def test_unknown_model_version_fails(live: Settings) -> None:
    report = diagnose(live.model_copy(update={"reference_model_version": "0" * 64}))
    version = check(report, "replicate model stability-ai/sdxl")
    assert version.status == "failed" and "404" in version.detail
    assert version.fix and "REFERENCE_MODEL_VERSION" in version.fix
    assert check(report, "replicate account").status == "ok"


def test_a_stopped_service_fails_fast(data_dir: Path) -> None:
    with ReplicateServer() as server:
        url, token = server.base_url, server.token
    settings = Settings(
        data_dir=data_dir, replicate_api_token=token, replicate_base_url=url, interrogator="local"
    )
    started = time.perf_counter()
    report = diagnose(settings)
    assert time.perf_counter() - started < 2
    account = check(report, "replicate account")
    assert account.status == "failed" and "could not connect" in account.detail
    assert account.fix and "REPLICATE_BASE_URL" in account.fix


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_service_that_never_answers_times_out(
    data_dir: Path, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor_probes, "REQUEST_TIMEOUT", 0.3)
    settings = Settings(
        data_dir=data_dir, openai_api_key="sk-test-abcdefghijkl", openai_base_url=silent_server
    )
    started = time.perf_counter()
    report = diagnose(settings)
    assert time.perf_counter() - started < CHECK_DEADLINE
    openai = check(report, "openai model gpt-4o-mini")
    assert openai.status == "failed" and "did not answer" in openai.detail
    assert openai.fix and "OPENAI_BASE_URL" in openai.fix


def test_openai_model_not_listed_or_key_refused(live: Settings) -> None:
    report = diagnose(live.model_copy(update={"openai_model": "gpt-nonexistent"}))
    model = check(report, "openai model gpt-nonexistent")
    assert model.status == "failed" and "gpt-4o-mini" in model.detail
    assert model.fix and "STUDIO_OPENAI_MODEL" in model.fix
    report = diagnose(live.model_copy(update={"openai_api_key": SecretStr("sk-wrong-key-0123456789")}))
    refused = check(report, f"openai model {live.openai_model}")
    assert refused.status == "failed" and refused.fix and "OPENAI_API_KEY" in refused.fix


def test_public_or_missing_bucket_and_wrong_key_fail(
    live: Settings, supabase_server: SupabaseStorageServer
) -> None:
    supabase_server.add_bucket(REFERENCE_BUCKET, public=True)
    del supabase_server.buckets[CHARACTER_BUCKET]
    report = diagnose(live)
    public = check(report, "supabase bucket reference-images")
    assert public.status == "failed" and "public" in public.detail
    assert public.fix and "private" in public.fix
    missing = check(report, "supabase bucket character-images")
    assert missing.status == "failed" and "does not exist" in missing.detail
    report = diagnose(live.model_copy(update={"supabase_key": SecretStr("sb_secret_wrongwrongwrong")}))
    refused = check(report, "supabase bucket reference-images")
    assert refused.status == "failed" and refused.fix and "SUPABASE_KEY" in refused.fix
    assert "sb_secret_wrongwrongwrong" not in report.model_dump_json()


def test_database_reachable_and_migrated(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "studio.db").write_bytes(b"")  # an empty SQLite file: reachable, no tables
    database = check(diagnose(settings), "database")
    assert database.status == "failed" and "missing tables" in database.detail and "jobs" in database.detail
    build_services(settings).close()
    database = check(diagnose(settings), "database")
    assert database.status == "ok" and f"migrated to {head_revision()}" in database.detail


def test_unreachable_database_fails_fast_without_its_password(data_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://studio:pw-hunter22@127.0.0.1:{port}/studio"
    report = diagnose(Settings(data_dir=data_dir, database_url=url))
    database = check(report, "database")
    assert database.status == "failed" and database.fix and "STUDIO_DATABASE_URL" in database.fix
    assert "pw-hunter22" not in report.model_dump_json() and "***" in report.database
    assert database.seconds < 3


def test_unwritable_data_dir_and_refused_configuration(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    report = diagnose(Settings(data_dir=blocker / "data", storage="supabase"))
    data = check(report, "data directory writable")
    assert data.status == "failed" and data.fix and "STUDIO_DATA_DIR" in data.fix
    storage = {b.concern: b for b in report.backends}["storage"]
    assert storage.backend is None and "SUPABASE_URL" in storage.reason
    refused = [c for c in report.checks if c.name == "configuration"]
    assert refused and refused[0].fix and "SUPABASE_URL" in refused[0].fix
    assert not report.healthy


def test_a_database_behind_the_migrations_fails_with_the_fix(settings: Settings) -> None:
    from sqlalchemy import create_engine

    from studio.records import Base

    settings.data_dir.mkdir(parents=True)
    engine = create_engine(settings.resolved_database_url())
    Base.metadata.create_all(engine)  # every table, made before migrations: no alembic_version yet
    engine.dispose()
    database = check(diagnose(settings), "database")
    assert database.status == "failed" and "at migration none" in database.detail
    assert database.fix is not None and "upgrades in place" in database.fix


def test_a_damaged_sqlite_file_is_named_as_damaged_not_as_a_network_problem(settings: Settings) -> None:
    build_services(settings).close()
    (settings.data_dir / "studio.db").write_bytes(b"not a database at all" * 100)
    database = check(diagnose(settings), "database")
    assert database.status == "failed" and "is not a SQLite database" in database.detail
    assert database.fix and "move it aside" in database.fix and "host, port" not in database.fix


def test_a_data_dir_that_is_a_file_fails_every_local_check(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data dir belongs")
    report = diagnose(Settings(data_dir=blocker))
    assert check(report, "database").status == "failed"
    assert "is a file, not a folder" in check(report, "database").detail
    assert check(report, "data directory writable").status == "failed"
    assert blocker.read_text() == "a file where the data dir belongs"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs /sys, where nobody may create files")
def test_an_unwritable_data_dir_is_named() -> None:
    report = diagnose(Settings(data_dir=Path("/sys/kernel/studio-data")))
    writable = check(report, "data directory writable")
    assert writable.status == "failed" and "cannot write in /sys/kernel" in writable.detail
    assert writable.fix and "STUDIO_DATA_DIR" in writable.fix


def test_an_empty_or_missing_signing_key_is_named(settings: Settings) -> None:
    build_services(settings).close()
    key = settings.data_dir / "signing.key"
    key.write_bytes(b"  \n")
    signing = check(diagnose(settings), "signing key")
    assert signing.status == "failed" and "signing.key is empty" in signing.detail
    assert signing.fix and "restore signing.key" in signing.fix
    key.unlink()
    bucket = settings.data_dir / "storage" / "reference-images"
    bucket.mkdir(parents=True)
    assert check(diagnose(settings), "signing key").status == "ok", "an empty folder holds no signed object"
    (bucket / "job").mkdir()
    (bucket / "job" / "scene_a.png").write_bytes(b"png")
    signing = check(diagnose(settings), "signing key")
    assert signing.status == "failed" and "missing while the storage holds objects" in signing.detail
    assert (
        check(
            diagnose(settings.model_copy(update={"signing_key": SecretStr("k" * 32)})), "signing key"
        ).status
        == "ok"
    )


def test_an_unsupported_database_url_is_refused_configuration(data_dir: Path) -> None:
    report = diagnose(Settings(data_dir=data_dir, database_url="mysql://studio:pw-hunter22@db/studio"))
    records = {b.concern: b for b in report.backends}["records"]
    assert records.backend is None and "names a mysql database" in records.reason
    refused = [c for c in report.checks if c.name == "configuration"]
    assert refused and refused[0].fix and "postgresql://" in refused[0].fix
    assert "pw-hunter22" not in report.model_dump_json() and not report.healthy
