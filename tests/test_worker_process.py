"""The worker as it runs: real `labelflow worker` and `labelflow serve` processes on the test
database, delivering to a real SMTP server (aiosmtpd on loopback).

A worker killed with SIGKILL in the middle of an e-mail leaves its job to another once the job's
lease has passed; several workers on PostgreSQL run each job exactly once; two workers schedule
the periodic work through one lease; `serve` runs a worker unless `LABELFLOW_WORKER=false`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import dates, jobs, notifications
from labelflow.db import transaction
from labelflow.models import Job, Lease, NotificationPreference, User
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.serving import LABELFLOW, free_port, running
from tests.smtp import SmtpServer, _Handler, text_of

POLL = "0.2"
WAIT = 90.0  # every wait is bounded: a stuck worker fails the test, never hangs it


@pytest.fixture
def worker_env(database_url: str, settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "LABELFLOW_DATABASE_URL": database_url,
        "LABELFLOW_DATA_DIR": str(settings.data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER_POLL_SECONDS": POLL,
        "PYTHONUNBUFFERED": "1",
    }


def with_smtp(env: dict[str, str], server: SmtpServer, **extra: str) -> dict[str, str]:
    return {
        **env,
        "LABELFLOW_SMTP_HOST": "127.0.0.1",
        "LABELFLOW_SMTP_PORT": str(server.port),
        "LABELFLOW_SMTP_SECURITY": "none",
        **extra,
    }


@contextmanager
def workers(n: int, env: dict[str, str], log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`n` `labelflow worker` processes; stopped with SIGTERM afterwards (they must exit 0)."""
    processes = []
    logs = []
    try:
        for i in range(n):
            log = (log_dir / f"worker-{i}-{time.monotonic_ns()}.log").open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [LABELFLOW, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        yield processes
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            assert process.wait(timeout=30) in (0, -signal.SIGKILL)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def worker_once(env: dict[str, str]) -> str:
    result = subprocess.run(
        [LABELFLOW, "worker", "--once"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_for(condition: Callable[[], bool], *, timeout: float = WAIT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s: {what}")
        time.sleep(0.05)


def notify(db: Engine, user: User, title: str) -> None:
    with transaction(db) as session:
        notifications.notify(session, kind="transition", user_ids=[user.id], title=title, url="/")


def email_jobs(db: Engine) -> list[Job]:
    with Session(db) as session:
        return list(session.exec(select(Job).where(Job.kind == notifications.EMAIL_JOB)).all())


class HeldHandler(_Handler):
    """An SMTP server that, while `hold` is set, keeps every message at DATA without answering."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = True
        self.arrived = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.hold:
            self.arrived += 1
            while self.hold:
                await asyncio.sleep(0.05)
            return "451 Reessayez plus tard"  # to a client long gone
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def held_smtp() -> Iterator[tuple[SmtpServer, HeldHandler]]:
    server = SmtpServer()
    handler = HeldHandler()
    server.handler = handler
    server.start()
    yield server, handler
    handler.hold = False
    server.stop()


def test_a_worker_killed_mid_job_leaves_it_to_another_after_the_lease(
    db: Engine,
    settings: Settings,
    staff_user: User,
    worker_env: dict[str, str],
    held_smtp: tuple[SmtpServer, HeldHandler],
) -> None:
    server, handler = held_smtp
    # Long enough for the second worker's process to start and poll within it on a loaded
    # machine (at 5 s, a start slower than the lease let it take the job: a flaky test).
    env = with_smtp(worker_env, server, LABELFLOW_JOB_LEASE_SECONDS="20")
    notify(db, staff_user, "Le dossier est complet")
    with workers(1, env, settings.data_dir) as [process]:
        # The worker is inside the SMTP exchange, the message sent, no answer yet: kill it.
        wait_for(lambda: handler.arrived == 1, what="the message at the SMTP server")
        process.kill()
        process.wait(timeout=30)
    [job] = email_jobs(db)
    assert job.status == jobs.RUNNING and job.attempts == 1
    assert job.locked_by is not None and job.locked_by.split(":")[1] == str(process.pid)
    assert job.locked_until is not None and job.locked_until > dates.now()
    handler.hold = False  # the server answers again
    # Another worker, while the dead one's lease runs: it leaves the job alone.
    assert "Tâches exécutées" in worker_once(env)
    [job] = email_jobs(db)
    assert job.status == jobs.RUNNING and server.messages == []
    locked_until = job.locked_until
    assert locked_until is not None
    wait_for(lambda: dates.now() > locked_until, timeout=30, what="the lease")
    worker_once(env)
    [job] = email_jobs(db)
    assert job.status == jobs.DONE and job.attempts == 2 and job.locked_by is None
    [message] = server.messages
    assert message["Subject"] == "Le dossier est complet"
    assert server.envelopes[0][1] == [staff_user.email]
    # Done is done: a further run sends nothing.
    worker_once(env)
    assert len(server.messages) == 1


def test_three_workers_on_postgresql_run_each_job_exactly_once(
    db: Engine,
    settings: Settings,
    staff_user: User,
    worker_env: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("several workers share jobs on PostgreSQL (LABELFLOW_TEST_DATABASE_URL)")
    people = [make_user(db, role="porteur", name=f"Porteur {i}") for i in range(4)]
    with transaction(db) as session:
        for i in range(200):
            notifications.notify(
                session,
                kind="transition",
                user_ids=[people[i % 4].id],
                title=f"Notification n° {i}",
                url="/",
            )
    assert len(email_jobs(db)) == 200

    def all_done() -> bool:
        return all(j.status == jobs.DONE for j in email_jobs(db))

    with workers(3, with_smtp(worker_env, smtp_server), settings.data_dir) as processes:
        wait_for(all_done, what="200 jobs done")
        assert all(p.poll() is None for p in processes)
    subjects = [str(m["Subject"]) for m in smtp_server.messages]
    assert len(subjects) == 200
    assert sorted(subjects) == sorted(f"Notification n° {i}" for i in range(200))
    assert all(j.attempts == 1 for j in email_jobs(db))


def test_two_workers_one_scheduler_and_one_digest_per_person(
    db: Engine,
    settings: Settings,
    staff_user: User,
    worker_env: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    if dates.now().astimezone(dates.PARIS).hour < notifications.DIGEST_HOUR:
        pytest.skip("the day's digests are scheduled from 8:00, Paris time")
    people = [make_user(db, role="porteur", name=f"Porteur {i}") for i in range(3)]
    with transaction(db) as session:
        for person in people:
            session.add(
                NotificationPreference(user_id=person.id, kind="transition", mode="quotidien")
            )
    for person in people:
        notify(db, person, "Étape franchie")
        notify(db, person, "Échéance proche")

    def holder() -> str | None:
        with Session(db) as session:
            lease = session.get(Lease, jobs.SCHEDULER_LEASE)
            return lease.holder if lease is not None else None

    with workers(2, with_smtp(worker_env, smtp_server), settings.data_dir) as processes:
        wait_for(lambda: len(smtp_server.messages) >= 3, what="three digests")
        pids = {str(p.pid): p for p in processes}
        first = holder()
        assert first is not None and first.split(":")[1] in pids
        # Several ticks later: still the same scheduler, still one digest each.
        time.sleep(1.5)
        assert holder() == first
        # The scheduler stops (SIGTERM: it gives the lease up); the other one takes over.
        leaving = pids[first.split(":")[1]]
        leaving.send_signal(signal.SIGTERM)
        assert leaving.wait(timeout=30) == 0
        wait_for(lambda: (holder() or "::").split(":")[1] in pids, what="a new scheduler")
        wait_for(lambda: holder() not in (None, first), timeout=10, what="the other worker")
        time.sleep(1.0)
    digests = smtp_server.messages
    assert len(digests) == 3
    assert sorted(e[1][0] for e in smtp_server.envelopes) == sorted(p.email for p in people)
    body = text_of(digests[0])
    assert "Étape franchie" in body and "Échéance proche" in body
    with Session(db) as session:
        planned = session.exec(select(Job).where(Job.kind == notifications.DIGESTS_JOB)).all()
        assert [j.dedupe_key for j in planned] == [f"resumes:{dates.today().isoformat()}"]


# --- labelflow serve --------------------------------------------------------------------------


def serve(env: dict[str, str], log_dir: Path) -> Any:
    port = free_port()
    argv = [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = log_dir / f"serve-{port}.log"
    return running(argv, port=port, env=env, log_path=log_path), log_path


def test_serve_runs_a_worker_that_mails_notifications(
    db: Engine,
    settings: Settings,
    staff_user: User,
    worker_env: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    server, log_path = serve(with_smtp(worker_env, smtp_server), settings.data_dir)
    with server:
        notify(db, staff_user, "Séance du Bureau convoquée")
        wait_for(lambda: len(smtp_server.messages) == 1, timeout=30, what="the e-mail")
        with Session(db) as session:
            lease = session.get(Lease, jobs.SCHEDULER_LEASE)
            assert lease is not None  # the served worker schedules the periodic work
    assert "un worker tourne dans ce processus" in log_path.read_text()
    [message] = smtp_server.messages
    assert message["Subject"] == "Séance du Bureau convoquée"
    assert "Bonjour Camille Roussel" in text_of(message)
    [job] = email_jobs(db)
    assert job.status == jobs.DONE
    # Stopped with the server, the worker gave its lease up.
    with Session(db) as session:
        assert session.get(Lease, jobs.SCHEDULER_LEASE) is None


def test_serve_with_the_worker_off_runs_no_job(
    db: Engine,
    settings: Settings,
    staff_user: User,
    worker_env: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    env = with_smtp(worker_env, smtp_server, LABELFLOW_WORKER="false")
    server, log_path = serve(env, settings.data_dir)
    with server:
        notify(db, staff_user, "Personne ne l'envoie")
        time.sleep(2.0)  # ten ticks of a worker, were there one
        [job] = email_jobs(db)
        assert job.status == jobs.PENDING and job.attempts == 0
        with Session(db) as session:
            assert session.get(Lease, jobs.SCHEDULER_LEASE) is None
    assert smtp_server.messages == []
    assert "worker" not in log_path.read_text()


# --- the command ----------------------------------------------------------------------------


def test_worker_once_on_a_fresh_database_and_a_broken_workflow(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LABELFLOW_DATA_DIR": str(tmp_path / "data"),
        "LABELFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "LABELFLOW_ENVIRONMENT": "test",
    }
    # Migrates the empty database, finds nothing due (the periodic work aside), exits 0.
    first = subprocess.run(
        [LABELFLOW, "worker", "--once"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Tâches exécutées : ")
    help_text = subprocess.run(
        [LABELFLOW, "worker", "--help"], env=env, capture_output=True, text=True, timeout=WAIT
    ).stdout
    assert "--once" in help_text and "afficher combien de tâches ont tourné" in help_text
    broken = tmp_path / "workflows"
    broken.mkdir()
    (broken / "regie-de-quartier.yaml").write_text("key: [pas une définition", encoding="utf-8")
    refused = subprocess.run(
        [LABELFLOW, "worker", "--once"],
        env={**env, "LABELFLOW_WORKFLOWS_DIR": str(broken)},
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert refused.returncode == 2
    assert "Définition de parcours invalide" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad_setting = subprocess.run(
        [LABELFLOW, "worker", "--once"],
        env={**env, "LABELFLOW_WORKER_POLL_SECONDS": "0"},
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert bad_setting.returncode == 2
    assert "LABELFLOW_WORKER_POLL_SECONDS" in bad_setting.stderr
