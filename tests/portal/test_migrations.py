"""The migrations: they build exactly the schema the models describe, and every one
can be undone and done again, on the backend the suite runs on."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from portal import create_app
from portal.cli import alembic_config
from portal.models.base import Base
from tests.conftest import make_config


def _engine(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_the_migrated_schema_matches_the_models(live_database_url):
    engine = _engine(live_database_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_every_migration_can_be_undone_and_done_again(live_database_url, redis_url, tmp_path):
    app = create_app(make_config(live_database_url, redis_url, tmp_path))
    config = alembic_config(app)
    engine = _engine(live_database_url)
    try:
        command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert {"audit_log", "audit_retention", "cases", "requests"} <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
        app.extensions["db"].engine.dispose()
