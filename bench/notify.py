"""Benchmark: what notifying five people adds to a transition, in the served process.

Builds a throwaway database (SQLite by default, PostgreSQL with --database-url) with two kinds
of projects: *quiet* ones, where nobody is told of a transition (the acting staff member is
their chargé·e de suivi and they have no porteur), and *busy* ones, where five people are (a
chargé·e de suivi, two staff followers, two porteurs). It then serves the app (`labelflow
serve` in a subprocess, the in-process worker off, so that no e-mail is sent during the
measure) and fires the same transition (`abandonner`, which needs only a comment) on each
project through HTTP, in alternating blocks of quiet and busy projects.

The figure is the **server's CPU time per request** (utime + stime of the server process, read
from /proc before and after each block), quiet against busy, in the same run: the client shares
the machine but not the figure. The target (issue 9): busy ≤ 1.3 × quiet.

Usage: .venv/bin/python bench/notify.py [--projects 200] [--block 20]
       [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, make_url, select, text

from labelflow import accounts, consequences, dates, migrate, projects
from labelflow.actors import SYSTEM
from labelflow.db import make_engine, transaction
from labelflow.models import Notification, ProjectFollower, ProjectMember, User
from labelflow.schemas import ProjectCreate, UserCreate
from labelflow.settings import PROJECT_ROOT
from labelflow.workflow_store import sync_definitions

TARGET = 1.3
PEOPLE = 5  # told of each busy transition
LABELFLOW = str(Path(sys.executable).with_name("labelflow"))
TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def throwaway_database(url: str | None, workdir: Path) -> Iterator[str]:
    """A fresh SQLite file, or a new PostgreSQL database next to the one named (dropped after)."""
    if not url:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    if not url.startswith("postgresql"):
        raise SystemExit("--database-url : seule une URL PostgreSQL est acceptée.")
    name = f"labelflow_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_account(session: object, role: str, name: str) -> User:
    data = UserCreate(
        email=f"{role}-{uuid.uuid4().hex[:8]}@example.org",
        name=name,
        role=role,  # type: ignore[arg-type]
        password=None,
    )
    return accounts.create_user(session, data=data, actor=SYSTEM)  # type: ignore[arg-type]


def seed(database_url: str, count: int) -> tuple[str, list[int], list[int]]:
    """The acting staff member's token, the quiet projects' ids, the busy ones'."""
    db = make_engine(database_url)
    migrate.upgrade(db)
    consequences.install()
    workflows = sync_definitions(db, PROJECT_ROOT / "workflows")
    with transaction(db) as session:
        actor_user = make_account(session, "staff", "Agent du banc")
        owner = make_account(session, "staff", "Chargée de suivi")
        followers = [make_account(session, "staff", f"Suiveur {i}") for i in range(2)]
        porteurs = [make_account(session, "porteur", f"Porteur {i}") for i in range(2)]
        raw, _token = accounts.create_token(session, user=actor_user, name="banc")
        actor = accounts.actor_of(actor_user)
    quiet: list[int] = []
    busy: list[int] = []
    body = {
        "kind": "quartier",
        "communes": [{"insee": "59512", "name": "Roubaix"}],
        "region": "Hauts-de-France",
        "initiator": "habitants",
    }
    for i in range(2 * count):
        with transaction(db) as session:
            data = ProjectCreate.model_validate({**body, "name": f"Projet {i}"})
            project = projects.create_project(session, engine=workflows, data=data, actor=actor)
            assert project.id is not None
            now = dates.now()
            if i % 2:
                project.staff_owner_id = owner.id
                session.add(project)
                session.add_all(
                    [
                        ProjectFollower(project_id=project.id, user_id=f.id or 0, created_at=now)
                        for f in followers
                    ]
                    + [
                        ProjectMember(
                            project_id=project.id,
                            user_id=p.id or 0,
                            added_at=now,
                            added_by=actor.name,
                        )
                        for p in porteurs
                    ]
                )
                busy.append(project.id)
            else:
                quiet.append(project.id)  # its chargé·e de suivi is the actor: nobody to tell
    db.dispose()
    return raw, quiet, busy


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(database_url: str, data_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "LABELFLOW_DATABASE_URL": database_url,
        "LABELFLOW_DATA_DIR": str(data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
    }
    base = f"http://127.0.0.1:{port}"
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((data_dir / "serve.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def fire_block(http: httpx.Client, pid: int, ids: list[int]) -> float:
    """Abandon each project of `ids`; the server CPU seconds it took."""
    before = cpu_seconds(pid)
    for project_id in ids:
        r = http.post(
            f"/api/v1/projects/{project_id}/transitions",
            json={"action": "abandonner", "comment": "Banc d'essai"},
        )
        if r.status_code != 200:
            raise SystemExit(f"projet {project_id} : {r.status_code} {r.text[:200]}")
    return cpu_seconds(pid) - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200, help="projets de chaque sorte")
    parser.add_argument("--block", type=int, default=20, help="transitions par bloc")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="labelflow-bench-") as tmp:
        workdir = Path(tmp)
        with throwaway_database(args.database_url, workdir) as url:
            backend = make_url(url).get_backend_name()
            print(f"Base : {backend}, {args.projects} projets de chaque sorte")
            token, quiet, busy = seed(url, args.projects)
            warm = min(args.block, len(quiet) // 10 or 1)
            with served(url, workdir) as (base, pid):
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                    # Warm-up (compiled SQL, templates, connections), left out of the figures.
                    fire_block(http, pid, quiet[:warm])
                    fire_block(http, pid, busy[:warm])
                    quiet, busy = quiet[warm:], busy[warm:]
                    cpu = {"quiet": 0.0, "busy": 0.0}
                    done = {"quiet": 0, "busy": 0}
                    for start in range(0, min(len(quiet), len(busy)), args.block):
                        for kind, ids in (("quiet", quiet), ("busy", busy)):
                            block = ids[start : start + args.block]
                            cpu[kind] += fire_block(http, pid, block)
                            done[kind] += len(block)
            db = make_engine(url)
            with db.connect() as conn:
                told = conn.execute(select(func.count()).select_from(Notification)).scalar_one()
            db.dispose()
    per_quiet = cpu["quiet"] / done["quiet"] * 1000
    per_busy = cpu["busy"] / done["busy"] * 1000
    ratio = per_busy / per_quiet
    print(f"Transitions mesurées : {done['quiet']} sans notification, {done['busy']} avec")
    print(f"Notifications écrites : {told} (attendu : {PEOPLE} × {done['busy'] + warm})")
    print(f"CPU serveur par transition, personne à prévenir (plancher) : {per_quiet:.2f} ms")
    print(f"CPU serveur par transition, {PEOPLE} personnes à prévenir : {per_busy:.2f} ms")
    met = "atteint" if ratio <= TARGET else "NON ATTEINT"
    print(f"Rapport : {ratio:.2f} (objectif ≤ {TARGET}) : {met}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
