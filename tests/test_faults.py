"""Faults survived by real processes (DESIGN §12): a server killed in the middle of a transition,
PostgreSQL restarted under load, a full disk while a document is written, a database that
cannot be used at start.

Each test runs `labelflow serve` in a subprocess on a database of its own (a SQLite file, a
PostgreSQL database created for it, or a PostgreSQL server started for it), never on the
suite's shared one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from labelflow import chain
from labelflow.db import make_engine, transaction
from labelflow.french import typeset
from labelflow.settings import PROJECT_ROOT
from tests.conftest import make_user, token_for
from tests.factories import PDF, complete_groupe_projet, create_project
from tests.serving import LABELFLOW, free_port

PG_BASE = os.environ.get("LABELFLOW_TEST_DATABASE_URL", "")
pg_only = pytest.mark.skipif(
    not PG_BASE.startswith("postgresql"), reason="LABELFLOW_TEST_DATABASE_URL names no PostgreSQL"
)
TIMEOUT = 60.0


# --- a server of the test's own ----------------------------------------------------------------


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process, self.base, self.log = process, base, log

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)


@contextmanager
def serving(url: str, data_dir: Path, **extra_env: str) -> Iterator[Server]:
    """`labelflow serve` on `url`, ready once `/healthz` answers; stopped (or found killed)."""
    port = free_port()
    env = {
        **os.environ,
        "LABELFLOW_DATABASE_URL": url,
        "LABELFLOW_DATA_DIR": str(data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    log_path = data_dir / f"serve-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text(errors="replace"))
            time.sleep(0.1)
        yield Server(process, base, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert "500 Internal" not in log_path.read_text(errors="replace")


@contextmanager
def pg_database(**settings: str) -> Iterator[str]:
    """A PostgreSQL database of the test's own on the suite's server, dropped afterwards."""
    name = f"labelflow_fault_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        for key, value in settings.items():
            conn.execute(text(f'ALTER DATABASE "{name}" SET {key} = {value}'))
    try:
        yield make_url(PG_BASE).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pg_only)])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    with pg_database() as url:
        yield url


def staff_client(db: Engine, base: str) -> httpx.Client:
    user = make_user(db, role="staff", is_admin=True, name="Camille Roussel")
    headers = {"Authorization": f"Bearer {token_for(db, user)}"}
    return httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT)


def project_row(db: Engine, pid: int) -> dict[str, Any]:
    """What must agree after a fault: the state and version, the transitions recorded, the
    open step deadlines."""
    with db.connect() as conn:
        state, version = conn.execute(
            text("SELECT state, version FROM projects WHERE id = :p"), {"p": pid}
        ).one()
        moves = conn.execute(
            text("SELECT to_state FROM events WHERE project_id = :p AND kind = 'transition'"),
            {"p": pid},
        ).all()
        open_steps = conn.execute(
            text(
                "SELECT state FROM deadlines WHERE project_id = :p AND kind = 'etape' "
                "AND closed_on IS NULL"
            ),
            {"p": pid},
        ).all()
    return {
        "state": state,
        "version": version,
        "transitions": [m[0] for m in moves],
        "open_steps": sorted(s[0] for s in open_steps),
    }


def assert_history_holds(db: Engine) -> None:
    with transaction(db, write=False) as session:
        assert chain.verify(session).breaks == []


# --- a server killed in the middle of a transition ---------------------------------------------


def _stall_inside_the_transition(db: Engine) -> Any:
    """Make the transition's transaction stop after it changed the state and recorded the
    event, at its first notification (the last of the transition's subscribers); returns what
    releases it, if anything can."""
    if db.dialect.name == "postgresql":
        conn = db.connect()
        conn.execute(text("LOCK TABLE notifications IN EXCLUSIVE MODE"))
        return conn
    # SQLite has no lock to hold from outside: a trigger runs a query that never ends in time.
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE ballast (x INTEGER)"))
        conn.execute(
            text("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000) "
                 "INSERT INTO ballast SELECT x FROM n")
        )  # fmt: skip
        conn.execute(
            text(
                "CREATE TRIGGER stall BEFORE INSERT ON notifications BEGIN "
                "SELECT count(*) FROM ballast a, ballast b, ballast c; END"
            )
        )
    return None


def _wait_until_stalled(db: Engine) -> None:
    deadline = time.monotonic() + TIMEOUT
    if db.dialect.name == "postgresql":
        # The server's connection waits to insert its notification, having already inserted
        # the event (it holds the lock that insert took on `events`).
        query = text(
            "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
            "JOIN pg_class c ON c.oid = l.relation WHERE a.datname = current_database() "
            "AND a.wait_event_type = 'Lock' AND a.query ILIKE 'INSERT INTO notifications%' "
            "AND c.relname = 'events' AND l.mode = 'RowExclusiveLock'"
        )
        with db.connect() as probe:
            # pg_stat_activity is a snapshot per transaction: a new one for every look.
            while not probe.execute(query).first():
                probe.rollback()
                seen = probe.execute(
                    text(
                        "SELECT state, wait_event_type, left(query, 60) FROM pg_stat_activity "
                        "WHERE datname = current_database()"
                    )
                ).all()
                probe.rollback()
                assert time.monotonic() < deadline, f"never reached its stall: {seen}"
                time.sleep(0.05)
        return
    # SQLite: the write lock held for seconds (a transition alone takes milliseconds).
    held_since = None
    while True:
        assert time.monotonic() < deadline, "the transition never reached its stall"
        raw = db.raw_connection()
        try:
            raw.execute("PRAGMA busy_timeout=0")  # type: ignore[attr-defined]
            try:
                raw.execute("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
                raw.execute("ROLLBACK")  # type: ignore[attr-defined]
                held_since = None
            except Exception:  # noqa: BLE001 - "database is locked": a writer is inside
                held_since = held_since or time.monotonic()
                if time.monotonic() - held_since > 2.0:
                    return
        finally:
            raw.close()
        time.sleep(0.05)


def test_a_server_killed_in_the_middle_of_a_transition_leaves_the_project_before_it(
    own_database: str, tmp_path: Path
) -> None:
    url = own_database
    with serving(url, tmp_path) as server:
        db = make_engine(url)
        try:
            api = staff_client(db, server.base)
            project = create_project(api)
            pid = project["id"]
            complete_groupe_projet(api, project)
            porteur = make_user(db, role="porteur", name="Awa Diallo")
            linked = api.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
            assert linked.status_code in (200, 201), linked.text
            before = project_row(db, pid)
            assert before["state"] == "groupe_projet" and before["transitions"] == []

            stall = _stall_inside_the_transition(db)
            outcome: list[Any] = []

            def fire() -> None:
                try:
                    outcome.append(
                        api.post(
                            f"/api/v1/projects/{pid}/transitions",
                            json={"action": "lancer_faisabilite"},
                        )
                    )
                except httpx.HTTPError as exc:
                    outcome.append(exc)

            request = threading.Thread(target=fire, daemon=True)
            request.start()
            _wait_until_stalled(db)
            server.kill()
            request.join(timeout=TIMEOUT)
            # The client saw the connection drop, never an answer.
            assert outcome and isinstance(outcome[0], httpx.TransportError), outcome

            if stall is not None:
                stall.commit()  # released: PostgreSQL finds the client gone and rolls back
                stall.close()
            else:
                with db.begin() as conn:
                    conn.execute(text("DROP TRIGGER stall"))
                    conn.execute(text("DROP TABLE ballast"))
            # Before, never between: state, version, event and deadlines as they were.
            deadline = time.monotonic() + TIMEOUT
            while project_row(db, pid) != before and time.monotonic() < deadline:
                time.sleep(0.1)
            assert project_row(db, pid) == before
            assert_history_holds(db)
        finally:
            api.close()
            db.dispose()

    # The next server answers normally, and the transition goes through once.
    with serving(url, tmp_path) as server:
        db = make_engine(url)
        try:
            with httpx.Client(base_url=server.base, headers=api.headers, timeout=TIMEOUT) as again:
                assert again.get(f"/api/v1/projects/{pid}").status_code == 200
                moved = again.post(
                    f"/api/v1/projects/{pid}/transitions", json={"action": "lancer_faisabilite"}
                )
                assert moved.status_code == 200, moved.text
            after = project_row(db, pid)
            assert after == {
                "state": "faisabilite",
                "version": before["version"] + 1,
                "transitions": ["faisabilite"],
                "open_steps": ["faisabilite"],
            }
            assert_history_holds(db)
        finally:
            db.dispose()


# --- a database that cannot be used at start ----------------------------------------------------


def _refused_start(url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LABELFLOW_DATABASE_URL": url,
        "LABELFLOW_DATA_DIR": str(data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
    }
    return subprocess.run(
        [LABELFLOW, "serve", "--port", str(free_port())],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    ("make_url_for", "expected"),
    [
        (lambda d: f"sqlite:///file:{d / 'ro.db'}?mode=ro&uri=true", "est en lecture seule"),
        (lambda d: f"sqlite:///{d / 'absent' / 'labelflow.db'}", "Impossible d'ouvrir"),
    ],
    ids=["sqlite-read-only", "sqlite-folder-missing"],
)
def test_a_sqlite_database_read_only_or_missing_refuses_the_start(
    tmp_path: Path, make_url_for: Any, expected: str
) -> None:
    (tmp_path / "ro.db").touch()
    result = _refused_start(make_url_for(tmp_path), tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


@pg_only
def test_a_postgresql_database_missing_unreachable_or_read_only_refuses_the_start(
    tmp_path: Path,
) -> None:
    missing = make_url(PG_BASE).set(database=f"absente_{uuid.uuid4().hex[:8]}")
    result = _refused_start(missing.render_as_string(hide_password=False), tmp_path)
    assert result.returncode == 2, result.stderr
    assert "n'existe pas : créez-la d'abord" in result.stderr
    assert "Traceback" not in result.stderr

    nobody = make_url(PG_BASE).set(port=free_port())
    result = _refused_start(nobody.render_as_string(hide_password=False), tmp_path)
    assert result.returncode == 2 and "injoignable" in result.stderr, result.stderr

    with pg_database(default_transaction_read_only="on") as url:
        result = _refused_start(url, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "est en lecture seule" in result.stderr and "Traceback" not in result.stderr


# --- a full disk while a document is written ---------------------------------------------------


@contextmanager
def small_filesystem(size: str) -> Iterator[Path]:
    """A tmpfs of `size` (root only); the test is skipped where mounting is not allowed."""
    where = Path(tempfile.mkdtemp(prefix="labelflow-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_full_disk_while_a_document_is_written_keeps_no_row_and_no_partial_file(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'own.db'}"
    with (
        small_filesystem("512k") as documents,
        serving(url, tmp_path, LABELFLOW_DOCUMENTS_DIR=str(documents)) as server,
    ):
        db = make_engine(url)
        try:
            api = staff_client(db, server.base)
            pid = create_project(api)["id"]
            # Larger than the whole file system: the disk fills up while it is written.
            big = PDF[:-6] + b"%" + b"x" * (1024 * 1024) + b"\n%%EOF\n"
            refused = api.post(
                f"/api/v1/projects/{pid}/documents",
                data={"type": "note_cadrage"},
                files={"file": ("gros.pdf", big, "application/pdf")},
            )
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error["code"] == "stockage_plein"
            assert "stockage des pièces est plein" in error["message"]
            assert api.get(f"/api/v1/projects/{pid}/documents").json() == []
            assert _files_under(documents) == []

            # The service goes on: a document that fits is kept.
            kept = api.post(
                f"/api/v1/projects/{pid}/documents",
                data={"type": "note_cadrage"},
                files={"file": ("note.pdf", PDF, "application/pdf")},
            )
            assert kept.status_code == 201, kept.text
            assert [p.name for p in _files_under(documents)] == [kept.json()["sha256"]]
        finally:
            api.close()
            db.dispose()


# --- PostgreSQL restarted under load ------------------------------------------------------------


@dataclass
class OwnPostgres:
    url: str
    restart: Callable[[], None]
    stop: Callable[[], None]
    start: Callable[[], None]


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, pg_ctl on a free
    port, as the `postgres` user when run as root), and what restarts, stops and starts it."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("initdb and pg_ctl are not installed")
    root = Path(tempfile.mkdtemp(prefix="labelflow-pg-"))
    data = root / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"

    def pg(*args: str) -> None:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data), "-l", str(root / "log"), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    subprocess.run(
        [*as_postgres, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pg("-o", options, "-w", "start")
    try:
        yield OwnPostgres(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
            restart=lambda: pg("-o", options, "-m", "fast", "-w", "restart"),
            stop=lambda: pg("-m", "fast", "-w", "stop"),
            start=lambda: pg("-o", options, "-w", "start"),
        )
    finally:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(shutil.which("initdb") is None, reason="PostgreSQL's initdb is not installed")
def test_postgresql_restarted_under_load_gets_503_then_serves_again_losing_nothing(
    tmp_path: Path,
) -> None:
    with own_postgres() as pg, serving(pg.url, tmp_path) as server:
        db = make_engine(pg.url)
        api = staff_client(db, server.base)
        try:
            pid = create_project(api)["id"]
            answers: list[tuple[float, str, Any]] = []
            kept: list[str] = []
            stop = threading.Event()

            def load(worker: int) -> None:
                with httpx.Client(
                    base_url=server.base, headers=api.headers, timeout=TIMEOUT
                ) as http:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        name = f"Collectif {worker}-{n}"
                        try:
                            posted = http.post(
                                f"/api/v1/projects/{pid}/stakeholders",
                                json={"name": name, "college": "habitants"},
                            )
                            read = http.get(f"/api/v1/projects/{pid}")
                        except httpx.HTTPError as exc:
                            answers.append((time.monotonic(), "transport", exc))
                            continue
                        if posted.status_code == 201:
                            kept.append(name)
                        for response in (posted, read):
                            answers.append((time.monotonic(), "http", response))

            threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(1.5)
            restarted_at = time.monotonic()
            pg.restart()
            back_at = time.monotonic()
            time.sleep(3.0)
            stop.set()
            for thread in threads:
                thread.join(timeout=TIMEOUT)

            assert not [a for a in answers if a[1] == "transport"], "the server itself failed"
            statuses = [a[2].status_code for a in answers]
            assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
            refused = [a[2] for a in answers if a[2].status_code == 503]
            assert refused, "no request met the restart"
            for response in refused:
                error = response.json()["error"]
                assert error["code"] == "base_indisponible", error
                assert "momentanément indisponible" in error["message"]
                assert int(response.headers["Retry-After"]) >= 1
            # Normal again without a manual step: the last second answered only successes.
            late = [a[2].status_code for a in answers if a[0] > back_at + 2.0]
            assert late and set(late) <= {200, 201}, late
            assert any(a[0] < restarted_at and a[2].status_code == 201 for a in answers)

            # Nothing committed is lost: every stakeholder answered 201 is there.
            listed = api.get(f"/api/v1/projects/{pid}/stakeholders").json()
            assert set(kept) <= {s["name"] for s in listed}
            assert_history_holds(db)
        finally:
            api.close()
            db.dispose()


@pytest.mark.skipif(shutil.which("initdb") is None, reason="PostgreSQL's initdb is not installed")
def test_healthz_fails_in_french_while_postgresql_is_down_and_answers_once_it_is_back(
    tmp_path: Path,
) -> None:
    """`/healthz` keeps a connection of its own (outside the pool): it must still see the
    database stop, and a restart must not cost a failed check once the database answers."""
    with own_postgres() as pg, serving(pg.url, tmp_path) as server:
        health = server.base + "/healthz"
        assert httpx.get(health, timeout=TIMEOUT).json() == {"status": "ok"}
        pg.restart()  # its connection is dead, the database answers
        assert httpx.get(health, timeout=TIMEOUT).json() == {"status": "ok"}
        pg.stop()
        for _ in range(2):
            down = httpx.get(health, timeout=TIMEOUT)
            assert down.status_code == 503, down.text
            error = down.json()["error"]
            assert error["code"] == "base_indisponible", error
            assert error["message"] == typeset(
                "La base de données est momentanément indisponible : votre demande n'a pas "
                "été enregistrée. Réessayez dans quelques secondes."
            )
        pg.start()
        assert httpx.get(health, timeout=TIMEOUT).json() == {"status": "ok"}
