"""Benchmark: labelflow served as users get it, against a bare Starlette app served the same way.

For each database (a throwaway SQLite file, and a throwaway PostgreSQL database unless
--no-postgres) it builds a large network by bulk inserts (bench/bulk.py: --projects projects,
about 50 events and 10 documents each), then for each number of processes (--processes, 1 and 2):

- serves labelflow with `labelflow serve --workers N` (a subprocess, exactly the command of
  production, its job worker off so that only requests are measured) and, beside it, the bare
  app of bench/bare.py served by the same uvicorn with the same options and processes;
- loads each address with `wrk` (--connections, 16) for --duration seconds, in --rounds rounds
  round-robin so that all see the same machine conditions;
- reads the server's CPU time (utime + stime from /proc of the server process and of every one
  of its descendants, children that exited included) before and after each load, and reports
  CPU per request, its ratio to the bare app, throughput, p50 and p99 latency;
- counts the SQL statements of one request to each address in-process (a
  `before_cursor_execute` listener), for a project with a short history and for one with a long
  one: the count must not depend on the data.

It then measures a transition write (the same transition on many projects, over HTTP, with 4
processes on SQLite) against a raw `sqlite3` loop doing the same writes, and writes the tables
and the goals to docs/performance.md (--output).

Usage: .venv/bin/python bench/served.py [--projects 10000] [--duration 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bulk import generate_bulk  # bench/bulk.py, next to this script
from project_page import StatementCounter, staff_token, throwaway_database
from sqlalchemy import Engine, func, make_url, select

from labelflow import cache, migrate
from labelflow.db import make_engine, transaction
from labelflow.models import Document, Event, Project
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app

BENCH = Path(__file__).resolve().parent
LABELFLOW = str(Path(sys.executable).with_name("labelflow"))
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TICKS = os.sysconf("SC_CLK_TCK")

# The goals of issue 12.
JSON_TARGET = 10.0  # project JSON, CPU per request, against the bare app
PAGE_TARGET = 1.3  # project page against the project JSON
HEALTHZ_TARGET = 2.0  # /healthz against the bare app
STATEMENTS_TARGET = 6
SCALING_TARGET = 1.1  # CPU per request, 2 processes against 1, on PostgreSQL


# --- the server's CPU ---------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces: the fields after it are split.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant (uvicorn's workers, multiprocessing's helpers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def tree_cpu(root: int) -> float:
    """Seconds of CPU used by the server: utime + stime of each live process of its tree, plus
    cutime + cstime (children that exited and were waited for)."""
    total = 0
    for pid in process_tree(root):
        fields = _stat(pid)
        if fields is not None:
            # Fields 14-17 of /proc/PID/stat (utime, stime, cutime, cstime), counted from 1.
            total += sum(int(v) for v in fields[11:15])
    return total / TICKS


# --- serving ------------------------------------------------------------------------------------


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(argv: Sequence[str], env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """Start a server, yield (base URL, pid) once /healthz answers; always stopped after."""
    port = int(argv[argv.index("--port") + 1])
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        # Its own process group, so that stopping it stops its workers too: a supervisor killed
        # alone once left a worker serving (and burning CPU) under the next measurements.
        process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"Le serveur n'a pas démarré :\n{log.read_text()}")
                time.sleep(0.2)
            yield base, process.pid
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's group, SIGKILL it after 20 s; no process of it outlives this."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    # Workers left behind by a supervisor that stopped (or was killed) first.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    cpu: float
    p50_ms: float
    p99_ms: float
    bad: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, headers: dict[str, str], *, pid: int, seconds: int, connections: int) -> Load:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    before = tree_cpu(pid)
    started = time.monotonic()
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - started
    cpu = tree_cpu(pid) - before
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s*50%\s+(\S+)\s*$", out, re.MULTILINE)
    p99 = re.search(r"^\s*99%\s+(\S+)\s*$", out, re.MULTILINE)
    if total is None or p50 is None or p99 is None:
        raise SystemExit(f"Sortie de wrk inattendue :\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    if errors:
        bad += sum(int(g) for g in errors.groups())
    return Load(int(total.group(1)), elapsed, cpu, _ms(p50.group(1)), _ms(p99.group(1)), bad)


@dataclass
class Address:
    key: str
    label: str
    path: str
    html: bool = False
    token: str | None = None
    statements: dict[str, int] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/html" if self.html else "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


@dataclass
class Row:
    database: str
    processes: int
    address: Address
    loads: list[Load] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(load.requests for load in self.loads)

    @property
    def cpu_us(self) -> float:
        return sum(load.cpu for load in self.loads) / max(self.requests, 1) * 1e6

    @property
    def rate(self) -> float:
        return self.requests / sum(load.seconds for load in self.loads)

    @property
    def p50(self) -> float:
        return sorted(load.p50_ms for load in self.loads)[len(self.loads) // 2]

    @property
    def p99(self) -> float:
        return max(load.p99_ms for load in self.loads)

    @property
    def bad(self) -> int:
        return sum(load.bad for load in self.loads)


# --- the database -------------------------------------------------------------------------------


def history(db: Engine, project_id: int) -> tuple[int, int]:
    with transaction(db, write=False) as session:
        events = session.execute(
            select(func.count()).select_from(Event).where(Event.project_id == project_id)  # type: ignore[arg-type]
        ).scalar_one()
        docs = session.execute(
            select(func.count()).select_from(Document).where(Document.project_id == project_id)  # type: ignore[arg-type]
        ).scalar_one()
    return int(events), int(docs)


@dataclass
class Built:
    url: str
    data_dir: Path
    addresses: list[Address]
    projects: int
    events: int
    documents: int
    short: tuple[int, int, int]
    long: tuple[int, int, int]
    seconds: float


def build(url: str, workdir: Path, *, projects: int) -> Built:
    """Migrate, fill by bulk inserts, count each address's statements in-process."""
    from fastapi.testclient import TestClient  # noqa: PLC0415

    started = time.monotonic()
    db = make_engine(url)
    migrate.upgrade(db)
    settings = bench_settings(url, workdir)
    app = create_app(settings, db=db)
    workflows = app.state.workflows
    short_id = generate_bulk(db, workflows, count=1, seed=1, events=(3, 3), docs=(1, 1))[0]
    long_id = generate_bulk(db, workflows, count=1, seed=2, events=(600, 600), docs=(150, 150))[0]
    ids = generate_bulk(db, workflows, count=projects, seed=0, events=(40, 60), docs=(5, 15))
    typical = ids[len(ids) // 2]
    token = staff_token(db)
    with transaction(db, write=False) as session:
        counts = [
            int(session.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (Project, Event, Document)
        ]
    addresses = [
        Address("bare", "bare Starlette app", "/"),
        Address("healthz", "GET /healthz", "/healthz"),
        Address("json", "GET /api/v1/projects/{id}", f"/api/v1/projects/{typical}", token=token),
        Address("page", "GET /projects/{id} (the page)", f"/projects/{typical}", True, token),
    ]
    with TestClient(app) as client:
        for label, pid in (("short", short_id), ("long", long_id)):
            for address in addresses[1:]:
                path = address.path.replace(str(typical), str(pid))
                client.get(path, headers=address.headers)  # warm: compiled SQL, templates
                # Cold: the first request after a fact (every cache emptied); warm: the next.
                for when in ("cold", "warm"):
                    if when == "cold":
                        cache.clear_all()
                    with StatementCounter(db) as counter:
                        response = client.get(path, headers=address.headers)
                    if response.status_code != 200:
                        raise SystemExit(f"{path} : {response.status_code} {response.text[:300]}")
                    address.statements[f"{label} {when}"] = len(counter.statements)
    short, long = (short_id, *history(db, short_id)), (long_id, *history(db, long_id))
    db.dispose()
    elapsed = time.monotonic() - started
    return Built(url, settings.data_dir, addresses, *counts, short, long, elapsed)


def bench_settings(url: str, workdir: Path) -> Settings:
    return Settings(
        data_dir=workdir / "data",
        database_url=url,
        workflows_dir=PROJECT_ROOT / "workflows",
        templates_dir=PROJECT_ROOT / "templates",
        static_dir=PROJECT_ROOT / "static",
        worker=False,
    )


def server_env(built: Built) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELFLOW_")}
    env.update(
        LABELFLOW_DATABASE_URL=built.url,
        LABELFLOW_DATA_DIR=str(built.data_dir),
        LABELFLOW_WORKER="false",  # requests only: no job poller in the measured processes
        PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT / "src"), str(BENCH)]),
    )
    return env


def measure(
    built: Built, database: str, processes: int, args: argparse.Namespace, logs: Path
) -> list[Row]:
    env = server_env(built)
    bare_port, app_port = free_port(), free_port()
    bare_argv = [sys.executable, str(BENCH / "bare.py"), "--port", str(bare_port)]
    app_argv = [LABELFLOW, "serve", "--port", str(app_port)]
    bare_argv += ["--workers", str(processes)]
    app_argv += ["--workers", str(processes)]
    rows = [Row(database, processes, a) for a in built.addresses]
    with (
        running(bare_argv, env, logs / f"bare-{database}-{processes}.log") as (bare, bare_pid),
        running(app_argv, env, logs / f"app-{database}-{processes}.log") as (served, app_pid),
    ):
        for row in rows:  # warm-up: every process compiles its statements and templates
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
    for row in rows:
        print(
            f"{database:10} {processes} proc. {row.address.label:32} {row.rate:8.0f} req/s "
            f"{row.cpu_us:8.0f} µs CPU  p50 {row.p50:6.2f} ms  p99 {row.p99:6.2f} ms"
            + (f"  ÉCHECS {row.bad}" if row.bad else ""),
            file=sys.stderr,
        )
    return rows


# --- a transition write, against a raw sqlite3 loop doing the same writes ----------------------

WRITERS = 4  # server processes
PROJECT_BODY = {
    "kind": "quartier",
    "communes": [{"insee": "59512", "name": "Roubaix"}],
    "region": "Hauts-de-France",
    "initiator": "habitants",
}


def new_projects(base: str, token: str, count: int) -> list[int]:
    """Projects at the first step, created through the API (as a user would)."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        ids = []
        for n in range(count):
            r = http.post("/api/v1/projects", json={**PROJECT_BODY, "name": f"Écriture {n}"})
            if r.status_code != 201:
                raise SystemExit(f"création : {r.status_code} {r.text[:300]}")
            ids.append(int(r.json()["id"]))
    return ids


def fire(base: str, token: str, ids: list[int], clients: int) -> tuple[float, dict[int, int]]:
    """Abandon each project of `ids` (the action needs only a comment), from `clients`
    concurrent clients; the wall time and the count of each status."""
    import queue  # noqa: PLC0415
    import threading  # noqa: PLC0415

    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for pid in ids:
        todo.put(pid)
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            while True:
                try:
                    pid = todo.get_nowait()
                except queue.Empty:
                    return
                r = http.post(
                    f"/api/v1/projects/{pid}/transitions",
                    json={"action": "abandonner", "comment": "Banc d'essai"},
                )
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, statuses


def raw_loop(path: Path, ids: list[int]) -> float:
    """The writes of the same transition, by hand with the standard library's sqlite3 (the
    connection tuned as labelflow's: WAL, synchronous=NORMAL), one transaction each; the wall
    time. The writes are those the app sends (bench: a before_cursor_execute listener): the
    project's state and version, the event, the deadlines closed, the step left and the one
    entered, the figures' version."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    started = time.monotonic()
    for n, pid in enumerate(ids):
        now = dates_now_text()
        con.execute("BEGIN IMMEDIATE")
        version, state = con.execute(
            "SELECT version, state FROM projects WHERE id = ?", (pid,)
        ).fetchone()
        con.execute(
            "UPDATE projects SET state = ?, entered_state_at = ?, version = version + 1, "
            "updated_at = ? WHERE id = ? AND version = ?",
            ("abandonnee", now, now, pid, version),
        )
        # The history's hash chain (labelflow.chain): the project's last digest, then this
        # event's over its content and that digest.
        (previous,) = con.execute(
            "SELECT sha256 FROM events WHERE project_id = ? ORDER BY id DESC LIMIT 1", (pid,)
        ).fetchone() or (None,)
        values = (pid, now, "Banc", 1, "transition", "abandonner", state, "abandonnee", "Banc")
        content = json.dumps([*values, {}, previous], separators=(",", ":"))
        con.execute(
            "INSERT INTO events (project_id, at, actor, actor_id, kind, action, from_state, "
            "to_state, comment, data, previous_sha256, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, "{}", previous, hashlib.sha256(content.encode()).hexdigest()),
        )
        con.execute(
            "UPDATE deadlines SET closed_on = ? WHERE project_id = ? AND closed_on IS NULL",
            (now[:10], pid),
        )
        con.execute(
            "UPDATE step_passes SET left_at = ? WHERE project_id = ? AND left_at IS NULL",
            (now, pid),
        )
        con.execute(
            "INSERT INTO step_passes (project_id, state, entered_at, left_at, paused_seconds, "
            "paused_since, clock_day, paused_day) VALUES (?, ?, ?, NULL, 0, NULL, ?, NULL)",
            (pid, "abandonnee", now, 739952),
        )
        con.execute("UPDATE figures_versions SET token = ? WHERE key = ?", (f"raw{n}", "network"))
        con.execute("COMMIT")
    elapsed = time.monotonic() - started
    con.close()
    return elapsed


def dates_now_text() -> str:
    from labelflow import dates  # noqa: PLC0415

    return dates.now().strftime("%Y-%m-%d %H:%M:%S.%f")


def write_bench(built: Built, args: argparse.Namespace, logs: Path) -> list[str]:
    """Transitions per second served by WRITERS processes on SQLite, against the raw loop."""
    env = server_env(built)
    port = free_port()
    argv = [LABELFLOW, "serve", "--port", str(port), "--workers", str(WRITERS)]
    token = next(a.token for a in built.addresses if a.token)
    log = logs / "writes.log"
    with running(argv, env, log) as (base, pid):
        served_ids = new_projects(base, token, args.writes_count)
        raw_ids = new_projects(base, token, args.writes_count)
        fire(base, token, new_projects(base, token, 20), args.connections)  # warm-up
        before = tree_cpu(pid)
        wall, statuses = fire(base, token, served_ids, args.connections)
        cpu = tree_cpu(pid) - before
    locked = log.read_text(errors="replace").count("database is locked")
    database = make_url(built.url).database or ""
    try:
        raw_wall = raw_loop(Path(database), raw_ids)
    except sqlite3.Error as exc:  # the schema moved on: say so, keep the rest of the report
        return ["## A transition write (SQLite)", "", f"The raw loop failed: {exc}."]
    served_rate = statuses.get(200, 0) / wall
    raw_rate = len(raw_ids) / raw_wall
    ratio = served_rate / raw_rate
    failed = sum(n for status, n in statuses.items() if status != 200)
    print(
        f"Écritures : {served_rate:.0f} transitions/s servies ({WRITERS} processus), "
        f"{raw_rate:.0f}/s en sqlite3 brut ; statuts {statuses}, verrous {locked}",
        file=sys.stderr,
    )
    return [
        "## A transition write (SQLite)",
        "",
        f"{args.writes_count} projects abandoned over HTTP (`POST /api/v1/projects/{{id}}/"
        f"transitions`, one project each, {args.connections} concurrent clients) by "
        f"`labelflow serve --workers {WRITERS}`, against a raw `sqlite3` loop doing the same "
        "writes (state and version, event and its hash-chain link, deadlines, step passes, "
        "figures' version) on as "
        "many other projects, one transaction each.",
        "",
        "| | transitions/s | CPU/transition (ms) |",
        "|---|---|---|",
        f"| served, {WRITERS} processes | {served_rate:.0f} | "
        f"{cpu / max(statuses.get(200, 0), 1) * 1000:.1f} |",
        f"| raw sqlite3 loop | {raw_rate:.0f} | — |",
        "",
        f"- served ÷ raw: **{ratio:.2f}** (goal ≥ 0.3: {'met' if ratio >= 0.3 else '**not met**'})",
        f"- answers: {', '.join(f'{n} × {s}' for s, n in sorted(statuses.items()))}; "
        f"not 200: {failed}; « database is locked » in the server's log: {locked} "
        f"(goal 0: {'met' if failed == 0 and locked == 0 else '**not met**'})",
    ]


# --- report -------------------------------------------------------------------------------------


def _ratio(rows: list[Row], key: str, floor: str) -> float:
    by_key = {r.address.key: r for r in rows}
    return by_key[key].cpu_us / by_key[floor].cpu_us


def _n(value: int) -> str:
    return f"{value:_}".replace("_", " ")


def _met(value: float, target: float) -> str:
    return "met" if value <= target else "**not met**"


def report(
    results: dict[str, list[Row]],
    builts: dict[str, Built],
    args: argparse.Namespace,
) -> str:
    lines = [
        "# Performance: labelflow served",
        "",
        "Written by `bench/served.py` (see bench/README.md); do not edit by hand.",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores shared by the server and `wrk`, load average at the start "
        f"{args.load_at_start}. `wrk` with {args.connections} connections, "
        f"{args.rounds} × {args.duration} s per address, round-robin.",
        "",
    ]
    for name, built in builts.items():
        lines.append(
            f"- **{name}**: {_n(built.projects)} projects, {_n(built.events)} events, "
            f"{_n(built.documents)} documents (built in {built.seconds:.0f} s); statements "
            f"counted on project {built.short[0]} ({built.short[1]} events, {built.short[2]} "
            f"documents, short) and {built.long[0]} ({built.long[1]} events, "
            f"{built.long[2]} documents, long)"
        )
    lines += [
        "",
        "## Served cost per request",
        "",
        "CPU is the server's (all its processes), per request; the ratio is to the bare "
        "Starlette app served by the same uvicorn, with the same processes, in the same run. "
        "The load asks for one project again and again: its CPU is the cost of a view already "
        "cached by the process (`cache.py`). SQL is counted in-process, warm (the view cached) "
        "and cold (the first request after a fact: every cache emptied).",
        "",
        "| database | processes | address | req/s | CPU/req (µs) | × bare | p50 (ms) | p99 (ms) "
        "| SQL warm (short / long) | SQL cold (short / long) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, rows in results.items():
        database, processes = key.split("/")
        floor = next(r for r in rows if r.address.key == "bare").cpu_us
        for row in rows:
            sql = row.address.statements
            statements = " | ".join(
                f"{sql[f'short {when}']} / {sql[f'long {when}']}" if sql else "—"
                for when in ("warm", "cold")
            )
            failed = f" ({row.bad} failed)" if row.bad else ""
            lines.append(
                f"| {database} | {processes} | {row.address.label}{failed} | {row.rate:.0f} "
                f"| {row.cpu_us:.0f} | {row.cpu_us / floor:.1f} | {row.p50:.2f} | "
                f"{row.p99:.2f} | {statements} |"
            )
    lines += ["", "## Goals (issue 12)", ""]
    for key, rows in results.items():
        json_ratio = _ratio(rows, "json", "bare")
        page_ratio = _ratio(rows, "page", "json")
        health_ratio = _ratio(rows, "healthz", "bare")
        lines += [
            f"- {key.replace('/', ', ')} process(es): project JSON {json_ratio:.1f}× bare "
            f"(≤ {JSON_TARGET:g}: {_met(json_ratio, JSON_TARGET)}), page {page_ratio:.2f}× the "
            f"JSON (≤ {PAGE_TARGET:g}: {_met(page_ratio, PAGE_TARGET)}), /healthz "
            f"{health_ratio:.1f}× bare (≤ {HEALTHZ_TARGET:g}: "
            f"{_met(health_ratio, HEALTHZ_TARGET)})",
        ]
    counted = [a for b in builts.values() for a in b.addresses if a.key in ("json", "page")]
    for when in ("warm", "cold"):
        counts = [{k: n for k, n in a.statements.items() if k.endswith(when)} for a in counted]
        most = max(max(c.values()) for c in counts)
        constant = all(len(set(c.values())) == 1 for c in counts)
        lines.append(
            f"- SQL statements, {when}: at most {most} for the JSON and the page, "
            f"{'the same' if constant else '**not the same**'} for a short and a long history "
            f"(≤ {STATEMENTS_TARGET}: {_met(most, STATEMENTS_TARGET)})"
        )
    one, two = results.get("PostgreSQL/1"), results.get("PostgreSQL/2")
    if one and two:
        for key in ("json", "page"):
            r1 = next(r for r in one if r.address.key == key)
            r2 = next(r for r in two if r.address.key == key)
            cpu = r2.cpu_us / r1.cpu_us
            lines.append(
                f"- PostgreSQL, 1 → 2 processes, {r1.address.label}: CPU/req ×{cpu:.2f} "
                f"(≤ {SCALING_TARGET:g}: {_met(cpu, SCALING_TARGET)}), throughput "
                f"×{r2.rate / r1.rate:.2f} ({'grows' if r2.rate > r1.rate else '**falls**'})"
            )
    if args.writes is not None:
        lines += ["", *args.writes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=5, help="secondes par charge")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", default="1,2", help="nombres de processus, ex. 1,2")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="serveur PostgreSQL à utiliser")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--writes-count", type=int, default=300, help="transitions mesurées (0 : aucune)"
    )
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk est introuvable : apt-get install -y wrk (make bench l'installe).")
    warnings.simplefilter("ignore", DeprecationWarning)  # TestClient's httpx warning
    args.load_at_start = f"{os.getloadavg()[0]:.1f}"
    args.writes = None
    processes = [int(n) for n in args.processes.split(",") if n]  # "": the write bench only
    databases: list[tuple[str, str | None]] = []
    if not args.no_sqlite:
        databases.append(("SQLite", None))
    if not args.no_postgres:
        databases.append(("PostgreSQL", args.postgres))
    results: dict[str, list[Row]] = {}
    builts: dict[str, Built] = {}
    with tempfile.TemporaryDirectory(prefix="labelflow-served-") as tmp:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        for name, url in databases:
            workdir = Path(tmp) / name
            workdir.mkdir()
            with throwaway_database(url, workdir) as db_url:
                shown = make_url(db_url).render_as_string(hide_password=True)
                print(f"{name} : construction de la base ({shown})…", file=sys.stderr)
                built = builts[name] = build(db_url, workdir, projects=args.projects)
                print(
                    f"  {built.projects} projets, {built.events} événements, "
                    f"{built.documents} pièces en {built.seconds:.0f} s",
                    file=sys.stderr,
                )
                for n in processes:
                    results[f"{name}/{n}"] = measure(built, name, n, args, logs)
                if url is None and args.writes_count:
                    args.writes = write_bench(built, args, logs)
    text = report(results, builts, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
