"""The Alembic migrations build exactly the schema the models describe, on either database."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, make_url, text
from sqlmodel import Session, SQLModel

from labelflow import chain, migrate
from labelflow.db import make_engine


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


# --- data migrations --------------------------------------------------------------------------

PROJECT_COLUMNS = (
    "name, kind, communes, region, qpv, initiator, search_text, workflow_key, workflow_version, "
    "state, entered_state_at, suspended, version, created_at, updated_at, "
    "consultant_name, consultant_email"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no table at all, of each kind the suite can run on."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    base = os.environ.get("LABELFLOW_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("LABELFLOW_TEST_DATABASE_URL names no PostgreSQL server")
    name = f"labelflow_migration_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(base).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    migrate.upgrade(engine, revision)


def _insert_project(conn: Any, name: str, consultant: tuple[str, str] | None) -> int:
    consultant_name, consultant_email = consultant or (None, None)
    conn.execute(
        text(
            f"INSERT INTO projects ({PROJECT_COLUMNS}) VALUES (:name, 'quartier', :communes, "
            "'Hauts-de-France', '[]', 'habitants', :name, 'regie-de-quartier', 1, "
            "'prefiguration', :at, :false, 3, :at, :at, :consultant_name, :consultant_email)"
        ),
        {
            "name": name,
            "communes": json.dumps([{"insee": "59512", "name": "Roubaix"}]),
            "at": datetime(2026, 5, 4, 8, 30, tzinfo=UTC),
            "false": False,
            "consultant_name": consultant_name,
            "consultant_email": consultant_email,
        },
    )
    return int(
        conn.execute(text("SELECT id FROM projects WHERE name = :name"), {"name": name}).scalar()
    )


def test_recorded_consultants_become_accounts(empty_database: Engine) -> None:
    """Before accounts, a project named its consultant; after, it points to their account."""
    engine = empty_database
    first = ScriptDirectory.from_config(migrate.alembic_config()).get_bases()[0]
    _upgrade(engine, first)
    with engine.begin() as conn:
        alma = _insert_project(conn, "Alma", ("Claire Martin", "Claire.Martin@example.org "))
        # The same consultant, written differently, on a second project: one account.
        bray = _insert_project(conn, "Bray", ("Claire M.", "claire.martin@example.org"))
        other = _insert_project(conn, "Epinay", ("Yves Diallo", "yves.diallo@example.org"))
        none = _insert_project(conn, "Sans consultant", None)

    _upgrade(engine, "head")

    with engine.connect() as conn:
        users = conn.execute(
            text("SELECT id, email, name, role, is_admin, active, password_hash FROM users")
        ).all()
        consultant_of = dict(conn.execute(text("SELECT id, consultant_id FROM projects")).all())
        columns = {c["name"] for c in inspect(conn).get_columns("projects")}
    by_email = {u.email: u for u in users}
    assert set(by_email) == {"claire.martin@example.org", "yves.diallo@example.org"}
    claire, yves = by_email["claire.martin@example.org"], by_email["yves.diallo@example.org"]
    assert (claire.name, claire.role, yves.name, yves.role) == (
        "Claire Martin", "consultant", "Yves Diallo", "consultant",
    )  # fmt: skip
    # Accounts without a password: nobody can sign in with them until one is set.
    assert all(u.active and not u.is_admin and u.password_hash is None for u in users)
    assert consultant_of == {alma: claire.id, bray: claire.id, other: yves.id, none: None}
    assert not {"consultant_name", "consultant_email"} & columns


def test_projects_get_their_creator_as_chargé_de_suivi_and_a_wider_search_text(
    empty_database: Engine,
) -> None:
    """Before the field, the history knows who created each project: they follow it; the search
    text is rebuilt with the association, the porteurs and the chargé·e de suivi."""
    engine = empty_database
    _upgrade(engine, "c41d2e8f9a37")
    at = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
    with engine.begin() as conn:

        def user(name: str, role: str) -> int:
            conn.execute(
                text(
                    "INSERT INTO users (email, name, role, is_admin, active, created_at, "
                    "updated_at) VALUES (:email, :name, :role, :false, :true, :at, :at)"
                ),
                {"email": f"{role}-{name[:3]}@example.org", "name": name, "role": role,
                 "false": False, "true": True, "at": at},
            )  # fmt: skip
            return int(
                conn.execute(text("SELECT id FROM users WHERE name = :n"), {"n": name}).scalar()
            )

        def project(name: str, creator: int | None, association: str | None) -> int:
            conn.execute(
                text(
                    "INSERT INTO projects (name, kind, communes, region, qpv, initiator, "
                    "search_text, workflow_key, workflow_version, state, entered_state_at, "
                    "suspended, version, created_at, updated_at, association_name) VALUES "
                    "(:name, 'quartier', :communes, 'Hauts-de-France', '[]', 'habitants', "
                    "'ancien', 'regie-de-quartier', 1, 'groupe_projet', :at, :false, 1, :at, "
                    ":at, :association)"
                ),
                {"name": name, "at": at, "false": False, "association": association,
                 "communes": json.dumps([{"insee": "59512", "name": "Roubaix"}])},
            )  # fmt: skip
            pid = int(
                conn.execute(text("SELECT id FROM projects WHERE name = :n"), {"n": name}).scalar()
            )
            conn.execute(
                text(
                    "INSERT INTO events (project_id, at, actor, actor_id, kind, data) "
                    "VALUES (:pid, :at, 'Quelqu''un', :creator, 'creation', '{}')"
                ),
                {"pid": pid, "at": at, "creator": creator},
            )
            return pid

        camille = user("Camille Roussel", "staff")
        awa = user("Awa Diallo", "porteur")
        alma = project("Alma", camille, "Association Élan")
        # Created by the command line (no account), or by an account that is no staff one.
        cli = project("Bray", None, None)
        odd = project("Épinay", awa, None)
        conn.execute(
            text(
                "INSERT INTO project_members (project_id, user_id, added_at, added_by) "
                "VALUES (:pid, :uid, :at, 'Camille Roussel')"
            ),
            {"pid": alma, "uid": awa, "at": at},
        )

    _upgrade(engine, "head")

    with engine.connect() as conn:
        rows = {
            r.id: (r.staff_owner_id, r.search_text)
            for r in conn.execute(text("SELECT id, staff_owner_id, search_text FROM projects"))
        }
    assert rows == {
        alma: (camille, "alma roubaix 59512 association elan awa diallo camille roussel"),
        cli: (None, "bray roubaix 59512"),
        odd: (None, "epinay roubaix 59512"),
    }


def test_existing_histories_are_chained_in_order_of_recording(empty_database: Engine) -> None:
    """Events recorded before the hash chain get their digests, each project's in id order,
    and verify as a chain recorded since."""
    engine = empty_database
    _upgrade(engine, "9c4e7b2a1d58")
    at = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
    with engine.begin() as conn:
        pids = []
        for name in ("Alma", "Bray"):
            conn.execute(
                text(
                    "INSERT INTO projects (name, kind, communes, region, qpv, initiator, "
                    "search_text, workflow_key, workflow_version, state, entered_state_at, "
                    "suspended, version, created_at, updated_at) VALUES (:name, 'quartier', "
                    "'[]', 'Hauts-de-France', '[]', 'habitants', :name, 'regie-de-quartier', 1, "
                    "'groupe_projet', :at, :false, 1, :at, :at)"
                ),
                {"name": name, "at": at, "false": False},
            )
            pids.append(
                conn.execute(text("SELECT id FROM projects WHERE name = :n"), {"n": name}).scalar()
            )
        for i, pid in enumerate(pids * 3):
            conn.execute(
                text(
                    "INSERT INTO events (project_id, at, actor, kind, comment, data) "
                    "VALUES (:pid, :at, 'Camille Roussel', 'modification', :comment, :data)"
                ),
                {"pid": pid, "at": at, "comment": f"n° {i}", "data": json.dumps({"i": i})},
            )
        conn.execute(
            text(
                "INSERT INTO events (project_id, at, actor, kind, data) "
                "VALUES (NULL, :at, 'Système', 'compte', '{}')"
            ),
            {"at": at},
        )

    _upgrade(engine, "head")

    with Session(engine) as session:
        report = chain.verify(session)
    assert (report.events, report.chains, report.breaks) == (7, 3, [])
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT previous_sha256, sha256 FROM events WHERE project_id = :p ORDER BY id"),
            {"p": pids[0]},
        ).all()
    assert rows[0].previous_sha256 is None
    assert [r.previous_sha256 for r in rows[1:]] == [r.sha256 for r in rows[:-1]]
