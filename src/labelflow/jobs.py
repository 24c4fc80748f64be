"""Jobs: the transactional outbox, and the worker that runs it (DESIGN §9).

Whatever must happen after a commit (an e-mail, a digest, a reminder pass) is a row of `jobs`
written in the transaction of the fact that causes it (`enqueue`): a rolled-back request leaves
no job, a committed one cannot lose it. A worker claims due jobs (`claim`: PostgreSQL's
`FOR UPDATE SKIP LOCKED` lets several workers share them; SQLite's `BEGIN IMMEDIATE` lets one
writer claim at a time), runs each in its own transaction (`run_job`) and records the result.

A claimed job is its worker's until `locked_until`; a worker killed midway leaves it `en_cours`,
and it is claimed again once that lease has passed. So a job runs at least once: its effects in
the database commit with its status, exactly once; an e-mail sent just before the worker died is
sent again (the window is the SMTP exchange, a fraction of a second).

Handlers are registered in `HANDLERS` by `consequences.install()`, like the subscribers of facts.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.db import write_engine
from labelflow.errors import JobNotAbandoned
from labelflow.models import Job, Lease
from labelflow.runtime import Runtime, attach
from labelflow.settings import Settings

log = logging.getLogger("labelflow.jobs")

PENDING = "en_attente"
RUNNING = "en_cours"
DONE = "faite"
ABANDONED = "abandonnee"
STATUSES = (PENDING, RUNNING, DONE, ABANDONED)
STATUS_LABELS = {
    PENDING: "en attente",
    RUNNING: "en cours",
    DONE: "faite",
    ABANDONED: "abandonnée",
}

# After the n-th failed attempt, the next one waits RETRY_DELAYS[n - 1]; after the last, abandoned.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=24),
)


class TemporaryFailure(Exception):
    """The job may succeed later (SMTP down, 4xx): retried after a growing delay."""


class PermanentFailure(Exception):
    """The job will never succeed as it is (SMTP 5xx, a recipient refused): abandoned at once."""


@dataclass
class JobContext:
    """What a handler receives: the job's own session (its writes commit with its status)."""

    session: Session
    job: Job
    settings: Settings
    runtime: Runtime | None

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload


# A handler may return what to record once its outside effect succeeded (see `run_job`).
Finish = Callable[[Session], None]
Handler = Callable[[JobContext], Finish | None]


@dataclass(frozen=True)
class Registered:
    handler: Handler
    # True: the handler talks to the outside world (SMTP, HTTP) and must not hold the database's
    # write lock meanwhile; it reads in a read-only transaction and returns a `Finish`.
    outside: bool


@dataclass
class Handlers:
    by_kind: dict[str, Registered] = field(default_factory=dict)

    def register(self, kind: str, handler: Handler, *, outside: bool = False) -> None:
        self.by_kind[kind] = Registered(handler, outside)

    def clear(self) -> None:
        self.by_kind.clear()

    def __getitem__(self, kind: str) -> Registered:
        return self.by_kind[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self.by_kind


HANDLERS = Handlers()


# --- writing jobs (in the caller's transaction) -------------------------------------------------


@dataclass(frozen=True)
class NewJob:
    kind: str
    payload: dict[str, Any]
    dedupe_key: str | None = None
    run_at: datetime | None = None


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
) -> None:
    """Add one job to the caller's transaction (nothing when `dedupe_key` is already taken)."""
    enqueue_many(session, [NewJob(kind, payload, dedupe_key, run_at)])


def enqueue_many(session: Session, jobs: Iterable[NewJob]) -> None:
    """Add jobs in one statement; a `dedupe_key` already taken is skipped, never an error."""
    now = dates.now()
    rows = [
        {
            "kind": job.kind,
            "payload": job.payload,
            "dedupe_key": job.dedupe_key or f"{job.kind}:{uuid.uuid4().hex}",
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": job.run_at or now,
            "created_at": now,
        }
        for job in jobs
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The table, not the entity: a plain multi-row INSERT, without the ORM's bulk machinery.
    table: Any = Job.__table__  # type: ignore[attr-defined]
    statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    session.execute(statement, rows)


# --- running jobs (the worker) ------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _due() -> Any:
    now = dates.now()
    return sa.or_(
        sa.and_(col(Job.status) == PENDING, col(Job.next_attempt_at) <= now),
        # A job whose worker died (or overran its lease): taken again.
        sa.and_(col(Job.status) == RUNNING, col(Job.locked_until) < now),
    )


def claim(engine: Engine, *, worker: str, lease: timedelta, limit: int = 20) -> list[int]:
    """Mark up to `limit` due jobs as this worker's, oldest due first; their ids."""
    with Session(engine) as session:
        # A cheap read first: an idle worker polling never takes SQLite's write lock.
        if session.exec(select(Job.id).where(_due()).limit(1)).first() is None:
            return []
    with Session(write_engine(engine)) as session:
        query = select(Job.id).where(_due()).order_by(col(Job.next_attempt_at)).limit(limit)
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = [int(i) for i in session.exec(query).all() if i is not None]
        if ids:
            now = dates.now()
            session.execute(
                sa.update(Job)
                .where(col(Job.id).in_(ids))
                .values(
                    status=RUNNING,
                    locked_by=worker,
                    locked_until=now + lease,
                    attempts=Job.attempts + 1,
                )
            )
        session.commit()
    return ids


def run_job(
    engine: Engine,
    job_id: int,
    *,
    worker: str,
    settings: Settings,
    runtime: Runtime | None = None,
) -> str:
    """Run one claimed job; its new status.

    A job that only writes to the database runs in one write transaction with its new status.
    A job that talks to the outside world (`outside`: an e-mail) reads in a read-only
    transaction, does its exchange with no transaction open (on SQLite, a slow SMTP server must
    not hold the write lock every request waits for), then records what it returned together
    with its status in a short write transaction.
    """
    with Session(engine, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
        if job is None or job.status != RUNNING or job.locked_by != worker:
            return "perdue"  # taken again by another worker after our lease passed
        registered = HANDLERS.by_kind.get(job.kind)
        outside = registered is not None and registered.outside
    error: str | None = None
    permanent = False
    with Session(engine if outside else write_engine(engine), expire_on_commit=False) as session:
        if runtime is not None:
            attach(session, runtime)
        finish: Finish | None = None
        try:
            if registered is None:
                raise PermanentFailure(f"type de tâche inconnu : {job.kind}")
            finish = registered.handler(JobContext(session, job, settings, runtime))
            if outside:
                session.rollback()  # it only read
            else:
                session.flush()
        except PermanentFailure as exc:
            error, permanent = str(exc) or type(exc).__name__, True
        except Exception as exc:  # a handler's bug or a fault: retried like a temporary failure
            error = str(exc) or type(exc).__name__
            if not isinstance(exc, TemporaryFailure):
                log.exception("job %s (%s) failed", job_id, job.kind)
        if error is not None or outside:
            # What the handler wrote is undone; what it did outside is recorded below.
            session.rollback()
        else:
            return _record(session, job_id, worker, None, False, None)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        return _record(session, job_id, worker, error, permanent, finish)


def _record(
    session: Session,
    job_id: int,
    worker: str,
    error: str | None,
    permanent: bool,
    finish: Finish | None,
) -> str:
    """Write a job's outcome (and what its handler returned to record) and commit."""
    job = session.get(Job, job_id)
    if job is None or job.locked_by != worker:
        session.rollback()
        return "perdue"
    if error is None:
        if finish is not None:
            finish(session)
        job.status, job.done_at, job.last_error = DONE, dates.now(), None
    else:
        job.last_error = error[:2000]
        if permanent or job.attempts > len(RETRY_DELAYS):
            job.status, job.done_at = ABANDONED, dates.now()
        else:
            job.status = PENDING
            job.next_attempt_at = dates.now() + RETRY_DELAYS[job.attempts - 1]
    job.locked_by, job.locked_until = None, None
    session.add(job)
    session.commit()
    return job.status


def run_due(
    engine: Engine,
    *,
    settings: Settings,
    runtime: Runtime | None = None,
    worker: str | None = None,
    limit: int | None = None,
) -> int:
    """Claim and run due jobs until none is left (or `limit` were run); how many ran."""
    worker = worker or worker_name()
    lease = timedelta(seconds=settings.job_lease_seconds)
    ran = 0
    while limit is None or ran < limit:
        batch = 20 if limit is None else min(20, limit - ran)
        ids = claim(engine, worker=worker, lease=lease, limit=batch)
        if not ids:
            break
        for job_id in ids:
            run_job(engine, job_id, worker=worker, settings=settings, runtime=runtime)
            ran += 1
    return ran


def retry(session: Session, *, job: Job) -> Job:
    """Put an abandoned job back in the queue, due now."""
    if job.status != ABANDONED:
        raise JobNotAbandoned(
            "Seule une tâche abandonnée peut être relancée ; celle-ci est "
            f"« {STATUS_LABELS[job.status]} »."
        )
    job.status, job.next_attempt_at, job.done_at = PENDING, dates.now(), None
    job.attempts = 0
    session.add(job)
    session.flush()
    return job


# --- leases: one holder at a time -----------------------------------------------------------------


def acquire_lease(engine: Engine, *, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease `name` for `holder`; False when another holder has it."""
    with Session(write_engine(engine)) as session:
        now = dates.now()
        lease = session.exec(select(Lease).where(Lease.name == name).with_for_update()).first()
        if lease is None:
            dialect = engine.dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            session.execute(
                insert(Lease)
                .values(name=name, holder=holder, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            session.commit()
            got = session.get(Lease, name)
            return got is not None and got.holder == holder
        if lease.holder != holder and lease.expires_at > now:
            session.commit()
            return False
        lease.holder, lease.expires_at = holder, now + ttl
        session.add(lease)
        session.commit()
        return True
