"""Migrations: the scripts build exactly the models' schema, and every kind of database reaches head."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

from studio.records import Base, Records
from studio.records.database import make_engine
from studio.records.jobs import JobRequest
from studio.records.migrate import BASELINE, alembic_config, current_revision, head_revision
from studio.settings import Settings


def _url(database_url: str) -> str:
    return Settings(database_url=database_url).resolved_database_url()


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_replaying_the_migrations_builds_the_models_schema(database_url: str) -> None:
    engine = make_engine(_url(database_url))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()
    assert _diff(_url(database_url)) == []


def test_a_new_database_is_created_at_head(database_url: str) -> None:
    records = Records(_url(database_url))
    assert current_revision(records.engine) == head_revision()
    records.close()
    assert _diff(_url(database_url)) == []


def _old_job(connection: Connection) -> None:
    """A job as the first schema stored it (with a per-job lease owner and no epoch)."""
    connection.execute(
        text(
            "INSERT INTO jobs (id, plan_json, status, budget_nanos, reserved_nanos, spent_nanos, "
            "concurrency, provider, model_version, cancel_requested, lease_owner, created_at) VALUES "
            "('j', '{}', 'running', 1000000000, 5, 0, 1, 'p', 'm', false, 'host:1:x', CURRENT_TIMESTAMP)"
        )
    )


def test_a_database_made_before_migrations_is_adopted_and_keeps_its_data(database_url: str) -> None:
    engine = make_engine(_url(database_url))
    with engine.begin() as connection:  # the first schema, from before migrations were recorded
        command.upgrade(alembic_config(connection), BASELINE)
        connection.execute(text("DROP TABLE alembic_version"))
        _old_job(connection)
    engine.dispose()
    records = Records(_url(database_url))
    assert current_revision(records.engine) == head_revision()
    job = records.jobs.get("j")
    assert job is not None and job.lease_owner == "host:1:x" and job.lease_epoch == 0
    assert "alembic_version" in inspect(records.engine).get_table_names()
    records.close()
    assert _diff(_url(database_url)) == []


def test_opening_a_migrated_database_again_changes_nothing(database_url: str) -> None:
    first = Records(_url(database_url))
    first.jobs.submit(JobRequest("j", "{}", 10**9, None, 1, "{}"))
    first.close()
    again = Records(_url(database_url))
    assert again.jobs.get("j") is not None and current_revision(again.engine) == head_revision()
    again.close()


def test_six_processes_opening_an_empty_data_dir_create_the_schema_once(database_url: str) -> None:
    """The first use of a data dir by many processes at once: each opens it, none fails."""
    import subprocess
    import sys

    url = _url(database_url)
    code = (
        "import sys; from studio.records import Records; "
        "r = Records(sys.argv[1]); r.jobs.recent(); r.close(); print('ok')"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]
    assert [out.strip() for out, _ in outcomes] == ["ok"] * 6, [err for _, err in outcomes]
    assert current_revision(create_engine(url)) == head_revision()
    assert _diff(url) == []
