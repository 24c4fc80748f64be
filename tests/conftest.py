"""Test harness: a real database migrated by Alembic, the real app, emptied after each test.

`LABELFLOW_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test` runs the suite
on PostgreSQL (a throwaway database is created next to the one named); default: SQLite.
Tables are emptied after each test rather than rolled back, so that tests with real threads and
real commits (concurrency) see exactly what production would.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlmodel import SQLModel

from labelflow import accounts, cache, consequences, migrate
from labelflow.actors import SYSTEM
from labelflow.db import READ_OPTION, make_engine, transaction
from labelflow.models import User
from labelflow.schemas import UserCreate
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app

# The SMTP server fixture (`smtp_server`), for every test that checks an e-mail.
pytest_plugins = ["tests.smtp"]

KEEP_TABLES = {"workflow_versions", "alembic_version"}

# Every cache hit computed again and compared (`labelflow.cache`): a fact that forgets to change
# a token fails the test that shows it. Through the environment, so that every app a test builds
# and every server process it starts checks too.
os.environ.setdefault("LABELFLOW_CACHE_CHECK", "true")


@pytest.fixture(scope="session", autouse=True)
def subscribers() -> None:
    """The subscribers of facts, as `create_app` installs them: tests that call the services
    directly (factories, fixtures seeding a server's database) record facts too."""
    consequences.install()
    cache.configure(check=True)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("LABELFLOW_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    name = f"labelflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER")


def _refuse_writes_of_reads(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    """A read request (GET) writes nothing through its session: on PostgreSQL it runs in
    autocommit (`db.read_engine`), where two writes would not be one transaction. Its
    writes (a session's activity) go through a short transaction of their own."""
    if conn.get_execution_options().get(READ_OPTION) and statement.lstrip().upper().startswith(
        WRITES
    ):
        raise AssertionError(f"a read request wrote through its session: {statement[:200]}")


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    event.listen(engine, "before_cursor_execute", _refuse_writes_of_reads)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return Settings(
        environment="test",
        data_dir=data,
        database_url=database_url,
        workflows_dir=PROJECT_ROOT / "workflows",
        max_upload_bytes=1024 * 1024,
    )


@pytest.fixture(scope="session")
def app(settings: Settings, db: Engine) -> Any:
    return create_app(settings, db=db)


def empty_tables(db: Engine) -> None:
    tables = [t for t in reversed(SQLModel.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with db.begin() as conn:
        if db.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


def make_user(
    db: Engine,
    *,
    role: str = "staff",
    is_admin: bool = False,
    name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    regions: list[str] | None = None,
) -> User:
    """A real account, committed (plain function: tests call it through `users`)."""
    data = UserCreate(
        email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.org",
        name=name or f"Compte {role}",
        role=role,  # type: ignore[arg-type]
        is_admin=is_admin,
        password=password,
        regions=regions or [],
    )
    with transaction(db) as session:
        return accounts.create_user(session, data=data, actor=SYSTEM)


def token_for(db: Engine, user: User) -> str:
    with transaction(db) as session:
        raw, _token = accounts.create_token(session, user=user, name="tests")
    return raw


@pytest.fixture
def anonymous(app: Any, db: Engine, settings: Settings) -> Iterator[Any]:
    """A client with no credentials; tables are emptied afterwards."""
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client
    empty_database(db, settings)


def empty_database(db: Engine, settings: Settings) -> None:
    """What a test leaves behind goes: every row (the workflow versions aside), every file."""
    empty_tables(db)
    shutil.rmtree(settings.resolved_documents_dir, ignore_errors=True)


@pytest.fixture
def staff_user(db: Engine, anonymous: Any) -> User:
    return make_user(db, role="staff", is_admin=True, name="Camille Roussel")


@pytest.fixture
def client(anonymous: Any, db: Engine, staff_user: User) -> Any:
    """The default client: a staff administrator authenticated by an API token."""
    anonymous.headers["Authorization"] = f"Bearer {token_for(db, staff_user)}"
    return anonymous


@pytest.fixture
def client_as(app: Any, db: Engine, anonymous: Any) -> Iterator[Any]:
    """`client_as(user)`: another client acting as `user` (API token)."""
    from fastapi.testclient import TestClient

    opened: list[Any] = []

    def make(user: User) -> Any:
        other = TestClient(app)
        other.__enter__()
        other.headers["Authorization"] = f"Bearer {token_for(db, user)}"
        opened.append(other)
        return other

    yield make
    for other in opened:
        other.__exit__(None, None, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Browser tests last: after a sync Playwright test, asyncio-based tests cannot run.
    items.sort(key=lambda item: 1 if item.get_closest_marker("browser") else 0)


@pytest.fixture
def docs_dir(settings: Settings) -> Path:
    return settings.resolved_documents_dir
