"""Run Alembic migrations from code (CLI, app start-up, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from labelflow.db import write_engine
from labelflow.settings import PROJECT_ROOT


def alembic_config() -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade in one transaction.

    On SQLite, foreign keys are off while it runs: a batch migration copies a table and drops
    the old one, and with them on, dropping it would delete (ON DELETE CASCADE) every row that
    refers to it. The pragma only takes effect outside a transaction; the references are
    checked before the commit instead.
    """
    cfg = alembic_config()
    with write_engine(engine).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if sqlite:
            # Straight to the driver: SQLAlchemy would begin a transaction first.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("the migration left rows referring to missing ones")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")
