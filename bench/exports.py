"""The project list's exports with 10,000 projects: time per export, cost per row against the
JSON list's, and SQL statements that do not grow with the data.

    .venv/bin/python bench/exports.py                       # SQLite, 10,000 projects
    .venv/bin/python bench/exports.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Through the real app in this process (TestClient, a staff API token). The floor is the JSON
list (`GET /api/v1/projects?limit=200`, the largest page) measured in the same run: its
process CPU per item listed against the export's per row exported.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bulk import generate_bulk  # bench/bulk.py, next to this script
from openpyxl import load_workbook
from project_page import StatementCounter, staff_token, throwaway_database

from labelflow import migrate, stats
from labelflow.db import make_engine, transaction
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app

CSV = "/api/v1/exports/projects.csv"
XLSX = "/api/v1/exports/projects.xlsx"
LIST = "/api/v1/projects?limit=200"


def timed(client: object, path: str, headers: dict[str, str], runs: int) -> tuple[float, float]:
    """Median process CPU and wall time of `runs` calls (each must answer 200)."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        response = client.get(path, headers=headers)  # type: ignore[attr-defined]
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return statistics.median(cpu), statistics.median(wall)


def statements(client: object, db: object, path: str, headers: dict[str, str]) -> int:
    """The statements of one call, after a first one (which may fill the figures' cache or
    note the token's use: once a minute, not per call)."""
    assert client.get(path, headers=headers).status_code == 200  # type: ignore[attr-defined]
    with StatementCounter(db) as counter:  # type: ignore[arg-type]
        assert client.get(path, headers=headers).status_code == 200  # type: ignore[attr-defined]
    return len(counter.statements)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="PostgreSQL : une base jetable est créée à côté")
    args = parser.parse_args(argv)
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
        headers = {"Authorization": f"Bearer {staff_token(db)}"}
        counts: dict[str, list[int]] = {CSV: [], XLSX: [], LIST: []}
        with TestClient(app) as client:
            for size in (100, args.projects - 100):
                started = time.perf_counter()
                generate_bulk(db, workflows, count=size, seed=args.seed + size)
                with transaction(db) as session:
                    stats.rebuild_passes(session)
                print(
                    f"{size} projets ajoutés en {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                )
                for path in counts:
                    counts[path].append(statements(client, db, path, headers))
            csv_cpu, csv_wall = timed(client, CSV, headers, args.runs)
            xlsx_cpu, xlsx_wall = timed(client, XLSX, headers, args.runs)
            list_cpu, list_wall = timed(client, LIST, headers, args.runs * 4)
            response = client.get(XLSX, headers=headers)
            rows = load_workbook(io.BytesIO(response.content), read_only=True)["Projets"].max_row
            csv_size = len(client.get(CSV, headers=headers).content)
        db.dispose()
    per_list_item = list_cpu / 200
    print(f"Base : {db.dialect.name}, {args.projects} projets, médianes de {args.runs} appels")
    print(
        f"Lignes du classeur : {rows - 1} (+ l'en-tête) ; CSV : {csv_size / 1e6:.1f} Mo ; "
        f"XLSX : {len(response.content) / 1e6:.1f} Mo"
    )
    print("Requêtes SQL par appel (100 projets → tous) :")
    for path, (few, many) in counts.items():
        print(f"  {path:<36} {few:>3} → {many:>3}{'' if few == many else '  ← CROÎT'}")
    print(f"{'adresse':<36} {'CPU s':>7} {'mur s':>7} {'CPU/ligne µs':>13} {'×liste':>7}")
    for path, cpu, wall, n in (
        (CSV, csv_cpu, csv_wall, args.projects),
        (XLSX, xlsx_cpu, xlsx_wall, args.projects),
        (LIST, list_cpu, list_wall, 200),
    ):
        per_row = cpu / n
        print(
            f"{path:<36} {cpu:>7.2f} {wall:>7.2f} {per_row * 1e6:>13.0f} "
            f"{per_row / per_list_item:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
