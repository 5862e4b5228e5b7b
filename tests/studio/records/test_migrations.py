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


def _work_as_0004_left_it(connection: Connection) -> None:
    """Queued, running and ended work as the three tables of 0004 held it, and what it paid for."""
    from datetime import UTC, datetime

    from sqlalchemy import MetaData, insert

    tables = MetaData()
    tables.reflect(connection)
    now, later = datetime.now(UTC), datetime(2999, 1, 1, tzinfo=UTC)
    job = {
        "plan_json": "{}", "budget_nanos": 5000, "reserved_nanos": 7, "spent_nanos": 40, "concurrency": 2,
        "provider": "p", "model_version": "m", "cancel_requested": False, "lease_epoch": 3, "attempts": 1,
        "created_at": now, "started_at": now,
    }  # fmt: skip
    connection.execute(
        insert(tables.tables["jobs"]),
        [
            {**job, "id": "queued-job", "status": "queued", "lease_owner": None, "lease_expires_at": None},
            {
                **job,
                "id": "running-job",
                "status": "running",
                "lease_owner": "host:7:abc",
                "lease_expires_at": later,
            },
            {**job, "id": "done-job", "status": "partial", "lease_owner": None, "lease_expires_at": None},
        ],
    )
    connection.execute(
        insert(tables.tables["reference_records"]).values(
            job_id="running-job",
            ref="scene_a",
            kind="scene",
            subject_id="a",
            prompt="p",
            negative_prompt="n",
            seed=1,
            parameters_json="{}",
            params_hash="h",
            storage_key="k",
            status="generating",
            attempts=0,
            generation_time=0,
            cost_nanos=0,
            provider="replicate",
            model_version="m",
            version=0,
            started_epoch=3,
            started_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    connection.execute(
        insert(tables.tables["predictions"]).values(
            id="pred-1",
            provider="replicate",
            job_id="running-job",
            song_id=None,
            ref="scene_b",
            epoch=3,
            charged=True,
            used=False,
            created_at=now,
        )
    )
    connection.execute(
        insert(tables.tables["character_jobs"]).values(
            id="cj-1",
            song_id="song-1",
            status="queued",
            lease_epoch=0,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


def test_queued_and_running_work_survives_the_move_to_one_queue(database_url: str) -> None:
    from studio.records.paid_calls import PaidCallRow
    from studio.records.work import WorkRow

    engine = make_engine(_url(database_url))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0004")
        _work_as_0004_left_it(connection)
    engine.dispose()
    records = Records(_url(database_url))
    try:
        queued, running, done = (records.jobs.get(job) for job in ("queued-job", "running-job", "done-job"))
        assert queued is not None and queued.status == "queued" and queued.budget_nanos == 5000
        assert running is not None and running.status == "running" and running.lease_owner == "host:7:abc"
        assert (running.lease_epoch, running.spent_nanos, running.reserved_nanos) == (3, 40, 7)
        assert done is not None and done.status == "partial" and done.reserved_nanos == 0
        consistency = records.songs.job("cj-1")
        assert consistency is not None and consistency.status == "queued"
        with records.db.read() as s:
            calls = {(c.ref, c.prediction_id, c.state) for c in s.query(PaidCallRow).all()}
            kinds = sorted(row.kind for row in s.query(WorkRow).all())
        assert calls == {("scene_b", "pred-1", "settled"), ("scene_a", None, "started")}
        assert kinds == ["consistency", "references", "references", "references"]
    finally:
        records.close()
    assert _diff(_url(database_url)) == []
