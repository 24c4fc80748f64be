"""Benchmark: the network's figures, the dashboard and the project list (also sorted by forecast),
served as users get them, against a bare Starlette app served the same way.

1. Builds a throwaway database (SQLite, or a new PostgreSQL database with --database-url) by bulk
   inserts (bench/bulk.py): first --small projects, then up to --projects (10,000) with 40–60
   events each (about 500,000 events); the passes through each step are replayed from that
   history (`stats.rebuild_passes`), as the migration does for an existing database.
2. Counts the SQL statements of one request to each address in-process (a
   `before_cursor_execute` listener) with the small and with the full data: the two counts must
   be equal (nothing grows with the data).
3. Serves labelflow with `labelflow serve` (its job worker off) and the bare app of
   bench/bare.py with the same uvicorn options, loads each address with `wrk` (--rounds rounds,
   round-robin, after a warm-up), and reads the server's CPU from /proc (utime + stime of its
   process tree) before and after each load: CPU per request and its ratio to the bare app.

The goal (issue 11): each address at most 30× the bare app's CPU per request, and the same
number of statements whatever the data.

Usage: .venv/bin/python bench/stats.py [--projects 10000] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from bulk import generate_bulk  # bench/bulk.py, next to this script
from project_page import StatementCounter, staff_token, throwaway_database
from served import (
    BENCH,
    LABELFLOW,
    Address,
    Built,
    Row,
    bench_settings,
    free_port,
    running,
    server_env,
    wrk,
)
from sqlalchemy import func, make_url, select

from labelflow import migrate, stats
from labelflow.db import make_engine, transaction
from labelflow.models import Event, Project, StepPass
from labelflow.web.app import create_app

TARGET = 30.0  # CPU per request against the bare app


@dataclass
class Measured:
    address: Address
    statements: dict[str, int] = field(default_factory=dict)


def _addresses(token: str) -> list[Address]:
    return [
        Address("bare", "bare Starlette app", "/"),
        Address("stats", "GET /api/v1/stats/network", "/api/v1/stats/network", token=token),
        Address("stats_page", "GET /stats/network (page)", "/stats/network", True, token),
        Address("dashboard", "GET / (dashboard)", "/", True, token),
        Address("list", "GET /api/v1/projects", "/api/v1/projects", token=token),
        Address(
            "list_forecast",
            "GET /api/v1/projects?sort=prevision",
            "/api/v1/projects?sort=prevision",
            token=token,
        ),
        Address("list_page", "GET /projects (page)", "/projects", True, token),
        Address(
            "list_page_forecast",
            "GET /projects?sort=prevision (page)",
            "/projects?sort=prevision",
            True,
            token,
        ),
    ]


def _count(client: object, db: object, addresses: list[Address], label: str) -> None:
    for address in addresses[1:]:
        client.get(address.path, headers=address.headers)  # type: ignore[attr-defined]  # warm
        with StatementCounter(db) as counter:  # type: ignore[arg-type]
            response = client.get(address.path, headers=address.headers)  # type: ignore[attr-defined]
        if response.status_code != 200:
            raise SystemExit(f"{address.path} : {response.status_code} {response.text[:300]}")
        address.statements[label] = len(counter.statements)


def build(url: str, workdir: Path, *, small: int, projects: int) -> Built:
    from fastapi.testclient import TestClient  # noqa: PLC0415

    started = time.monotonic()
    db = make_engine(url)
    migrate.upgrade(db)
    settings = bench_settings(url, workdir)
    app = create_app(settings, db=db)
    workflows = app.state.workflows
    token = staff_token(db)
    addresses = _addresses(token)
    with TestClient(app) as client:
        generate_bulk(db, workflows, count=small, seed=1, events=(40, 60), docs=(1, 3))
        with transaction(db) as session:
            stats.rebuild_passes(session)
        _count(client, db, addresses, "short")
        generate_bulk(db, workflows, count=projects - small, seed=0, events=(40, 60), docs=(1, 3))
        with transaction(db) as session:
            stats.rebuild_passes(session)
        _count(client, db, addresses, "long")
    with transaction(db, write=False) as session:
        counts = [
            int(session.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (Project, Event, StepPass)
        ]
    db.dispose()
    return Built(
        url,
        settings.data_dir,
        addresses,
        counts[0],
        counts[1],
        counts[2],
        (small, 0, 0),
        (projects, 0, 0),
        time.monotonic() - started,
    )


def measure(built: Built, args: argparse.Namespace, logs: Path) -> list[Row]:
    env = server_env(built)
    bare_port, app_port = free_port(), free_port()
    bare_argv = [sys.executable, str(BENCH / "bare.py"), "--port", str(bare_port)]
    app_argv = [LABELFLOW, "serve", "--port", str(app_port)]
    rows = [Row("base", 1, a) for a in built.addresses]
    with (
        running(bare_argv, env, logs / "bare.log") as (bare, bare_pid),
        running(app_argv, env, logs / "app.log") as (served, app_pid),
    ):
        for row in rows:  # warm-up: compiled statements, templates, the figures' cache
            base = bare if row.address.key == "bare" else served
            wrk(base + row.address.path, row.address.headers, pid=app_pid, seconds=2,
                connections=args.connections)  # fmt: skip
        for _ in range(args.rounds):
            for row in rows:
                is_bare = row.address.key == "bare"
                row.loads.append(
                    wrk(
                        (bare if is_bare else served) + row.address.path,
                        row.address.headers,
                        pid=bare_pid if is_bare else app_pid,
                        seconds=args.duration,
                        connections=args.connections,
                    )
                )
    return rows


def report(built: Built, rows: list[Row], args: argparse.Namespace) -> tuple[str, bool]:
    floor = next(r for r in rows if r.address.key == "bare").cpu_us
    lines = [
        f"{built.projects} projets, {built.events} événements, {built.documents} passages "
        f"(base construite en {built.seconds:.0f} s) ; {args.database}",
        "",
        f"| adresse | requêtes SQL ({built.short[0]} projets) | requêtes SQL ({built.long[0]}) "
        "| req/s | CPU/req (µs) | × nue | p50 (ms) | échecs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    met = True
    for row in rows:
        a = row.address
        ratio = row.cpu_us / floor if floor else float("nan")
        if a.key != "bare":
            met &= ratio <= TARGET and a.statements["short"] == a.statements["long"]
            met &= row.bad == 0
        lines.append(
            f"| {a.label} | {a.statements.get('short', '—')} | {a.statements.get('long', '—')} "
            f"| {row.rate:.0f} | {row.cpu_us:.0f} | {ratio:.1f} | {row.p50:.2f} | {row.bad} |"
        )
    lines += [
        "",
        f"Objectif : chaque adresse ≤ {TARGET:.0f}× l'application nue (CPU du serveur par "
        "requête), et autant de requêtes SQL quelles que soient les données : "
        + ("atteint." if met else "NON ATTEINT."),
    ]
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=200, help="projets du premier comptage")
    parser.add_argument("--duration", type=int, default=5, help="secondes par charge")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (sinon SQLite)")
    parser.add_argument("--output", type=Path, default=None, help="résultats JSON")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk est introuvable : apt-get install -y wrk (make bench l'installe).")
    warnings.simplefilter("ignore", DeprecationWarning)
    with tempfile.TemporaryDirectory(prefix="labelflow-stats-") as tmp:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        with throwaway_database(args.database_url, Path(tmp)) as url:
            args.database = make_url(url).get_backend_name()
            print(f"construction de la base ({args.database})…", file=sys.stderr)
            built = build(url, Path(tmp), small=args.small, projects=args.projects)
            rows = measure(built, args, logs)
    text, met = report(built, rows, args)
    print(text)
    if args.output:
        floor = next(r for r in rows if r.address.key == "bare").cpu_us
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            json.dumps(
                {
                    "database": args.database,
                    "projects": built.projects,
                    "events": built.events,
                    "passes": built.documents,
                    "addresses": {
                        r.address.key: {
                            "statements": r.address.statements,
                            "cpu_us": round(r.cpu_us, 1),
                            "ratio": round(r.cpu_us / floor, 2) if floor else None,
                            "requests": r.requests,
                            "bad": r.bad,
                        }
                        for r in rows
                    },
                    "met": met,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
