"""A/B of two versions of labelflow's code, served alternately on one database.

bench/served.py measures one version; a change's effect (a few per cent) is smaller than this
machine's drift between runs (±20 %). This serves version A (the `src/` of another checkout,
e.g. `git worktree add /tmp/a HEAD~1`) and version B (this checkout's) one after the other, the
bare app beside them, in --rounds rounds on the same database, and prints each one's server CPU
per request against the bare app measured in the same round.

Usage: .venv/bin/python bench/ab.py --a /tmp/a/src [--b src] [--path json|page]
       [--postgres URL] [--processes 1] [--projects 2000] [--rounds 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from functools import partial
from pathlib import Path

from project_page import throwaway_database
from served import (
    BENCH,
    LABELFLOW,
    PROJECT_ROOT,
    build,
    free_port,
    running,
    server_env,
    wrk,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--a", type=Path, required=True, help="src/ de la version A")
    parser.add_argument("--b", type=Path, default=PROJECT_ROOT / "src", help="src/ de la version B")
    parser.add_argument("--path", choices=("json", "page", "healthz"), default="json")
    parser.add_argument("--postgres", default=None, help="URL PostgreSQL (sinon SQLite)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    ratios: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="labelflow-ab-") as tmp:
        workdir = Path(tmp)
        with throwaway_database(args.postgres, workdir) as url:
            built = build(url, workdir, projects=args.projects)
            address = next(a for a in built.addresses if a.key == args.path)
            n = ["--workers", str(args.processes)]
            for r in range(args.rounds):
                for name, src in (("A", args.a), ("B", args.b)):
                    env = server_env(built)
                    env["PYTHONPATH"] = f"{src.resolve()}:{BENCH}"
                    bare_port, port = free_port(), free_port()
                    bare_argv = [sys.executable, str(BENCH / "bare.py"), "--port", str(bare_port)]
                    app_argv = [LABELFLOW, "serve", "--port", str(port)]
                    with (
                        running([*bare_argv, *n], env, workdir / "bare.log") as (bare, bare_pid),
                        running([*app_argv, *n], env, workdir / f"{name}.log") as (base, pid),
                    ):
                        url_app = base + address.path
                        load_of = partial(wrk, connections=args.connections)
                        load_of(url_app, address.headers, pid=pid, seconds=2)  # warm-up
                        floor = load_of(bare + "/", {}, pid=bare_pid, seconds=args.duration)
                        load = load_of(url_app, address.headers, pid=pid, seconds=args.duration)
                    floor_us = floor.cpu / floor.requests * 1e6
                    app_us = load.cpu / load.requests * 1e6
                    ratios[name].append(app_us / floor_us)
                    print(
                        f"round {r + 1} {name}: {app_us:7.0f} µs/req, bare {floor_us:5.0f} µs, "
                        f"{app_us / floor_us:5.1f}x, {load.requests / load.seconds:6.0f} req/s, "
                        f"p99 {load.p99_ms:6.1f} ms, bad {load.bad}",
                        file=sys.stderr,
                    )
    for name, values in ratios.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f}x  ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
