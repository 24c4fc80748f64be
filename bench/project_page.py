"""Benchmark: what one project costs the server, as JSON and as a page, against /healthz.

Builds a throwaway database (SQLite by default, PostgreSQL with --database-url), loads the
twelve demo projects through the services, then 5,000 demo-like projects with their histories
by bulk inserts, plus one project with a very long history. It then calls the real app
in-process through TestClient and reports, per endpoint:

- the number of SQL statements of one request, for a project with a short history and one with
  a long one, before and after the 5,000 projects are added (it must not grow);
- the median wall time and process CPU time of a request over --requests calls, and their
  ratio to GET /healthz measured in the same run (the floor: routing, middleware, the client).

Project requests are authenticated like an integration's: a staff account of the bench database
and its API token, sent as `Authorization: Bearer` (the token lookup is one statement of each
request); /healthz stays anonymous.

Usage: .venv/bin/python bench/project_page.py [--projects 5000] [--requests 300]
       [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--profile json-many]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk import generate_bulk  # bench/bulk.py, next to this script
from sqlalchemy import Engine, create_engine, event, func, make_url, select, text
from sqlmodel import col

from labelflow import accounts, migrate
from labelflow.actors import SYSTEM
from labelflow.db import make_engine, transaction
from labelflow.demo.load import load_demo
from labelflow.models import Document, Event, Project
from labelflow.schemas import UserCreate
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app

# Targets of the issue: project JSON within 10x /healthz, page within 1.3x the JSON.
JSON_TARGET = 10.0
PAGE_TARGET = 1.3

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# --- database ---------------------------------------------------------------------------------


@contextmanager
def throwaway_database(url: str | None, workdir: Path) -> Iterator[str]:
    """A fresh SQLite file, or a new PostgreSQL database next to the one named (dropped after)."""
    if not url:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    if not url.startswith("postgresql"):
        raise SystemExit(
            "--database-url : seule une URL PostgreSQL (postgresql+psycopg://…) "
            "est acceptée ; sans cette option, une base SQLite temporaire est créée."
        )
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


class StatementCounter:
    """Counts the statements sent to the database (before_cursor_execute) while attached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(" ".join(statement.split()))

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


# --- timing -----------------------------------------------------------------------------------


class TimedApp:
    """ASGI wrapper: time spent inside the app for the last request (no client overhead)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - start


@dataclass
class Endpoint:
    key: str
    label: str
    path: str
    html: bool = False
    token: str | None = None  # sent as `Authorization: Bearer`
    status: int = 0
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    app: list[float] = field(default_factory=list)
    statements: dict[str, int] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/html" if self.html else "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def median(self, name: str) -> float:
        values: list[float] = getattr(self, name)
        return statistics.median(values) * 1000 if values else float("nan")

    def p90(self, name: str) -> float:
        values: list[float] = sorted(getattr(self, name))
        return values[int(len(values) * 0.9)] * 1000 if values else float("nan")


def count_statements(client: Any, db: Engine, endpoints: list[Endpoint], label: str) -> None:
    for ep in endpoints:
        client.get(ep.path, headers=ep.headers)  # warm caches (compiled SQL, templates)
        with StatementCounter(db) as counter:
            response = client.get(ep.path, headers=ep.headers)
        ep.status = response.status_code
        ep.statements[label] = len(counter.statements)


def measure(
    client: Any, timed: TimedApp, endpoints: list[Endpoint], requests: int, warmup: int
) -> None:
    """Round-robin over the endpoints so that each sees the same machine conditions."""
    for _ in range(warmup):
        for ep in endpoints:
            client.get(ep.path, headers=ep.headers)
    gc.collect()
    for _ in range(requests):
        for ep in endpoints:
            cpu0 = time.process_time()
            wall0 = time.perf_counter()
            response = client.get(ep.path, headers=ep.headers)
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            if response.status_code != ep.status:
                raise SystemExit(f"{ep.path} : statut {response.status_code} (attendu {ep.status})")
            ep.wall.append(wall)
            ep.cpu.append(cpu)
            ep.app.append(timed.last)


# --- profiling (optional: pip install pyinstrument) ---------------------------------------------


async def _asgi_get(app: Any, path: str, headers: dict[str, str]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def profile(app: Any, endpoint: Endpoint, requests: int) -> None:
    """Profile `requests` calls in this thread: thread hops are replaced by direct calls."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "--profile demande pyinstrument : .venv/bin/pip install pyinstrument "
            "(ne pas l'ajouter à pyproject.toml)."
        ) from None
    import anyio.to_thread

    async def inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    original = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:

        async def run() -> None:
            for _ in range(20):
                await _asgi_get(app, endpoint.path, endpoint.headers)
            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            for _ in range(requests):
                await _asgi_get(app, endpoint.path, endpoint.headers)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))

        asyncio.run(run())
    finally:
        anyio.to_thread.run_sync = original


# --- report -----------------------------------------------------------------------------------


def report(
    endpoints: list[Endpoint],
    sizes: dict[str, int],
    few: tuple[int, int, int],
    many: tuple[int, int, int],
    db_name: str,
    requests: int,
) -> dict[str, Any]:
    by_key = {ep.key: ep for ep in endpoints}
    health = by_key["healthz"]
    print()
    print(
        f"Base : {db_name} ; {requests} requêtes par adresse (médianes), serveur dans ce "
        "processus (TestClient)."
    )
    print(
        f"Projet « peu d'historique » : n° {few[0]} ({few[1]} événements, {few[2]} pièces) ; "
        f"« long historique » : n° {many[0]} ({many[1]} événements, {many[2]} pièces)."
    )
    print()
    labels = list(sizes)
    head = f"{'adresse':<34}{'statut':>7}" + "".join(
        f"{'SQL @' + str(sizes[s]) + ' projets':>20}" for s in labels
    )
    print("Requêtes SQL par appel")
    print(head)
    for ep in endpoints:
        print(
            f"{ep.label:<34}{ep.status:>7}"
            + "".join(f"{ep.statements.get(s, 0):>20}" for s in labels)
        )
    print()
    print(f"Temps par appel, {sizes[labels[-1]]} projets (ms)")
    print(
        f"{'adresse':<34}{'CPU':>8}{'mur':>8}{'app':>8}{'mur p90':>9}"
        f"{'CPU/healthz':>13}{'mur/healthz':>13}"
    )
    results: dict[str, Any] = {
        "database": db_name,
        "requests": requests,
        "sizes": sizes,
        "endpoints": {},
    }
    for ep in endpoints:
        if ep.status != 200:
            print(f"{ep.label:<34}  absente (statut {ep.status}) : non mesurée")
            continue
        cpu_ratio = ep.median("cpu") / health.median("cpu")
        wall_ratio = ep.median("wall") / health.median("wall")
        print(
            f"{ep.label:<34}{ep.median('cpu'):>8.2f}{ep.median('wall'):>8.2f}"
            f"{ep.median('app'):>8.2f}{ep.p90('wall'):>9.2f}{cpu_ratio:>13.1f}"
            f"{wall_ratio:>13.1f}"
        )
        results["endpoints"][ep.key] = {
            "path": ep.path,
            "status": ep.status,
            "statements": ep.statements,
            "cpu_ms": ep.median("cpu"),
            "wall_ms": ep.median("wall"),
            "app_ms": ep.median("app"),
            "wall_p90_ms": ep.p90("wall"),
            "cpu_ratio_healthz": cpu_ratio,
            "wall_ratio_healthz": wall_ratio,
        }
    print()
    print("Objectifs (CPU du processus, médianes)")
    for shape in ("few", "many"):
        json_ep, page_ep = by_key[f"json-{shape}"], by_key[f"page-{shape}"]
        ratio = json_ep.median("cpu") / health.median("cpu")
        verdict = "atteint" if ratio <= JSON_TARGET else "NON ATTEINT"
        print(
            f"  JSON {json_ep.label.split()[-1]:<10} / healthz = {ratio:5.1f}  "
            f"(objectif ≤ {JSON_TARGET:g}) : {verdict}"
        )
        if page_ep.status == 200:
            page_ratio = page_ep.median("cpu") / json_ep.median("cpu")
            verdict = "atteint" if page_ratio <= PAGE_TARGET else "NON ATTEINT"
            print(
                f"  page {page_ep.label.split()[-1]:<10} / JSON    = {page_ratio:5.2f}  "
                f"(objectif ≤ {PAGE_TARGET:g}) : {verdict}"
            )
        else:
            print(f"  page {page_ep.label.split()[-1]:<10} : absente (statut {page_ep.status})")
    grows = [ep.label for ep in endpoints if len(set(ep.statements.values())) > 1]
    same_shape = all(
        by_key[f"{k}-few"].statements == by_key[f"{k}-many"].statements for k in ("json", "page")
    )
    print(
        f"  Requêtes SQL indépendantes du nombre de projets : "
        f"{'oui' if not grows else 'NON (' + ', '.join(grows) + ')'}"
    )
    print(
        f"  Requêtes SQL identiques pour un historique court ou long : "
        f"{'oui' if same_shape else 'NON'}"
    )
    return results


def history_size(db: Engine, project_id: int) -> tuple[int, int, int]:
    with transaction(db, write=False) as session:
        events = session.execute(
            select(func.count()).select_from(Event).where(col(Event.project_id) == project_id)
        ).scalar_one()
        docs = session.execute(
            select(func.count()).select_from(Document).where(col(Document.project_id) == project_id)
        ).scalar_one()
    return project_id, int(events), int(docs)


def staff_token(db: Engine) -> str:
    """A staff account of the bench database and a new API token for it."""
    data = UserCreate(email="bench@example.org", name="Banc d'essai", role="staff")
    with transaction(db) as session:
        user = accounts.create_user(session, data=data, actor=SYSTEM)
        raw, _token = accounts.create_token(session, user=user, name="bench")
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="PostgreSQL : une base jetable est créée à côté")
    parser.add_argument(
        "--profile",
        metavar="ADRESSE",
        help="profiler une adresse avec pyinstrument (healthz, json-few, "
        "json-many, page-few, page-many)",
    )
    parser.add_argument("--output", type=Path, help="écrire les résultats en JSON")
    args = parser.parse_args(argv)
    # Imported by TestClient; the project itself uses httpx2 in tests.
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

    with (
        tempfile.TemporaryDirectory(prefix="labelflow-bench-") as tmp,
        throwaway_database(args.database_url, Path(tmp)) as url,
    ):
        db = make_engine(url)
        migrate.upgrade(db)
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            workflows_dir=PROJECT_ROOT / "workflows",
            templates_dir=PROJECT_ROOT / "templates",
            static_dir=PROJECT_ROOT / "static",
        )
        app = create_app(settings, db=db)
        workflows = app.state.workflows
        started = time.perf_counter()
        demo_ids = load_demo(db, workflows, store=app.state.store, seed=args.seed)
        many_id = generate_bulk(
            db, workflows, count=1, seed=args.seed + 1, events=(400, 400), docs=(120, 120)
        )[0]
        sizes_by_id = [history_size(db, pid) for pid in demo_ids]
        few = min(sizes_by_id, key=lambda s: s[1])
        many = history_size(db, many_id)
        token = staff_token(db)
        json_few, json_many = f"/api/v1/projects/{few[0]}", f"/api/v1/projects/{many[0]}"
        endpoints = [
            Endpoint("healthz", "GET /healthz", "/healthz"),
            Endpoint("json-few", "GET /api/v1/projects/{id} court", json_few, token=token),
            Endpoint("json-many", "GET /api/v1/projects/{id} long", json_many, token=token),
            Endpoint("page-few", "GET /projects/{id} court", f"/projects/{few[0]}", True, token),
            Endpoint("page-many", "GET /projects/{id} long", f"/projects/{many[0]}", True, token),
        ]
        timed = TimedApp(app)
        sizes: dict[str, int] = {}
        with TestClient(timed) as client:
            with transaction(db, write=False) as session:
                small = int(session.execute(select(func.count()).select_from(Project)).scalar_one())
            sizes["small"] = small
            count_statements(client, db, endpoints, "small")
            generate_bulk(db, workflows, count=args.projects, seed=args.seed)
            with transaction(db, write=False) as session:
                large = int(session.execute(select(func.count()).select_from(Project)).scalar_one())
            sizes["large"] = large
            print(
                f"Données prêtes en {time.perf_counter() - started:.1f} s : {large} projets.",
                file=sys.stderr,
            )
            count_statements(client, db, endpoints, "large")
            if args.profile:
                chosen = {ep.key: ep for ep in endpoints}.get(args.profile)
                if chosen is None:
                    raise SystemExit(f"Adresse inconnue pour --profile : {args.profile}")
                profile(app, chosen, args.requests)
                return 0
            measure(client, timed, endpoints, args.requests, args.warmup)
        results = report(endpoints, sizes, few, many, db.dialect.name, args.requests)
        db.dispose()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
