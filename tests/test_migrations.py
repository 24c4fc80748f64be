"""The Alembic migrations build exactly the schema the models describe, on either database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from labelflow import migrate


def test_models_and_migrations_agree(db: Engine) -> None:
    with db.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "render_as_batch": db.dialect.name == "sqlite",
            },
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_database_is_at_head(db: Engine) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    with db.connect() as conn:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert current == script.get_current_head()
    assert len(script.get_heads()) == 1


def test_every_table_is_migrated(db: Engine) -> None:
    tables = set(inspect(db).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
