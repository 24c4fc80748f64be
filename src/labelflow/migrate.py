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
    cfg = alembic_config()
    with write_engine(engine).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
