"""Migrations: the scripts build exactly the models' schema, and every kind of database reaches head."""

from __future__ import annotations

from decimal import Decimal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from studio.records import Base, Records
from studio.records.migrate import alembic_config, current_revision, head_revision
from studio.records.store import make_engine
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


def test_a_database_made_before_migrations_is_adopted_and_keeps_its_data(database_url: str) -> None:
    engine = make_engine(_url(database_url))
    Base.metadata.create_all(engine)
    engine.dispose()
    old = Records(_url(database_url), create=False)
    old.start_job(
        "j", "{}", Decimal(1), duration_seconds=None, concurrency=1, provider="p", model_version="m"
    )
    old.close()
    records = Records(_url(database_url))
    assert current_revision(records.engine) == head_revision()
    assert records.get_job("j") is not None
    assert "alembic_version" in inspect(records.engine).get_table_names()
    records.close()


def test_opening_a_migrated_database_again_changes_nothing(database_url: str) -> None:
    first = Records(_url(database_url))
    first.start_job(
        "j", "{}", Decimal(1), duration_seconds=None, concurrency=1, provider="p", model_version="m"
    )
    first.close()
    again = Records(_url(database_url))
    assert again.get_job("j") is not None and current_revision(again.engine) == head_revision()
    again.close()
