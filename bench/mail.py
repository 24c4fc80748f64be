"""Benchmark: how many e-mails per second one worker delivers to a local SMTP server.

Builds a throwaway database (SQLite by default, PostgreSQL with --database-url), writes
--emails notifications to be e-mailed at once (each a `courriel_notification` job of the outbox,
as a fact's subscriber writes them), starts a real SMTP server on loopback (aiosmtpd, the test
suite's server), then times one worker (`labelflow.worker.Worker`, what `labelflow worker` runs)
draining the queue: each job in its own transaction, its own SMTP connection, the French message
rendered from `templates/email/`. Prints the rate; the floor of the issue is 50 e-mails/s.

Usage: .venv/bin/python bench/mail.py [--emails 500]
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from project_page import throwaway_database  # bench/project_page.py, next to this script
from sqlmodel import Session, select

from labelflow import consequences, jobs, migrate, notifications
from labelflow.accounts import create_user
from labelflow.actors import SYSTEM
from labelflow.db import make_engine, transaction
from labelflow.models import Job
from labelflow.schemas import UserCreate
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.worker import Worker, build_runtime

FLOOR = 50.0  # e-mails per second (issue 9)


# The SMTP server runs in a process of its own, as a real one would: in this process it would
# fight the worker for the GIL. It counts what it accepts and prints the count when its standard
# input closes.
SERVER = """
import sys
from aiosmtpd.controller import Controller

class Counter:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Counter.count += 1
        return "250 Message accepted for delivery"

controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("pret", flush=True)
sys.stdin.read()
controller.stop()
print(Counter.count, flush=True)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(port: int) -> Iterator[subprocess.Popen[str]]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "pret":
            raise SystemExit("le serveur SMTP local n'a pas démarré")
        yield server
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delivered_by(server: subprocess.Popen[str]) -> int:
    out, _ = server.communicate(timeout=30)
    return int(out.strip() or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--database-url", help="PostgreSQL : une base jetable est créée à côté")
    args = parser.parse_args(argv)

    port = free_port()
    with smtp_server(port) as server:
        with (
            tempfile.TemporaryDirectory(prefix="labelflow-bench-mail-") as tmp,
            throwaway_database(args.database_url, Path(tmp)) as url,
        ):
            settings = Settings(
                environment="test",
                data_dir=Path(tmp),
                database_url=url,
                workflows_dir=PROJECT_ROOT / "workflows",
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_security="none",
            )
            engine = make_engine(url)
            try:
                migrate.upgrade(engine)
                consequences.install()
                runtime = build_runtime(settings, engine)
                with transaction(engine) as session:
                    people = [
                        create_user(
                            session,
                            data=UserCreate(
                                email=f"porteur{i}@example.org",
                                name=f"Porteur {i}",
                                role="porteur",
                                password=None,
                            ),
                            actor=SYSTEM,
                        ).id
                        for i in range(10)
                    ]
                with transaction(engine) as session:
                    for i in range(args.emails):
                        notifications.notify(
                            session,
                            kind="transition",
                            user_ids=[people[i % len(people)]],
                            title=f"Le projet n° {i} passe à l'étape suivante",
                            url=f"/projects/{i}",
                        )
                # The e-mails alone: no periodic work in the count.
                worker = Worker(
                    engine,
                    settings=settings,
                    runtime=runtime,
                    name="bench",
                    periodic=jobs.PeriodicWork(),
                )
                load = os.getloadavg()[0]
                server_cpu = cpu_seconds(server.pid)
                started = time.perf_counter()
                cpu = time.process_time()
                ran = worker.tick()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
                server_cpu = cpu_seconds(server.pid) - server_cpu
                with Session(engine) as session:
                    statuses = [
                        s
                        for s in session.exec(
                            select(Job.status).where(Job.kind == "courriel_notification")
                        )
                    ]
            finally:
                engine.dispose()
        delivered = delivered_by(server)
    done = statuses.count(jobs.DONE)
    rate = delivered / elapsed if elapsed else 0.0
    database = "PostgreSQL" if args.database_url else "SQLite"
    per_mail = 1000 * cpu / max(delivered, 1)
    per_mail_server = 1000 * server_cpu / max(delivered, 1)
    print(f"Base : {database} ; tâches exécutées : {ran} ; faites : {done}/{args.emails}")
    print(f"Courriels reçus par le serveur SMTP local : {delivered} en {elapsed:.2f} s")
    print(f"Débit : {rate:.0f} courriels/s")
    print(
        f"CPU par courriel : worker {per_mail:.2f} ms, serveur SMTP {per_mail_server:.2f} ms "
        f"(charge de la machine au départ : {load:.1f} pour {os.cpu_count()} cœurs)"
    )
    met = delivered == args.emails and done == args.emails and rate >= FLOOR
    verdict = "atteint" if met else "NON ATTEINT"
    print(f"Objectif : au moins {FLOOR:.0f} courriels/s, chacun une fois — {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
