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

Handlers are registered in `HANDLERS` by `consequences.install()`, like the subscribers of facts,
and so is the periodic work (`PERIODIC`: the daily digests, the reminder pass): each tick, the
worker holding the scheduler's lease enqueues the periodic jobs whose time slot has come, each with
the slot in its `dedupe_key`, so that a slot runs once even if two schedulers ever overlapped. The
loop itself is `worker.py`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
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
from labelflow.errors import Invalid, JobNotAbandoned, NotFound
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
    """The job may succeed later (SMTP down, 4xx): retried after a growing delay.

    `record`: what to write all the same with the failure (a webhook's delivery log)."""

    def __init__(self, message: str = "", *, record: Finish | None = None) -> None:
        super().__init__(message)
        self.record = record


class PermanentFailure(Exception):
    """The job will never succeed as it is (SMTP 5xx, a recipient refused): abandoned at once."""

    def __init__(self, message: str = "", *, record: Finish | None = None) -> None:
        super().__init__(message)
        self.record = record


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


def has_due(engine: Engine) -> bool:
    """Whether any job is due, read without a write lock (an idle worker takes none on SQLite)."""
    with Session(engine) as session:
        return session.exec(select(Job.id).where(_due()).limit(1)).first() is not None


def claim(engine: Engine, *, worker: str, lease: timedelta, limit: int = 20) -> list[int]:
    """Mark up to `limit` due jobs as this worker's, oldest due first; their ids."""
    if not has_due(engine):
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
            finish = exc.record
        except Exception as exc:  # a handler's bug or a fault: retried like a temporary failure
            error = str(exc) or type(exc).__name__
            if isinstance(exc, TemporaryFailure):
                finish = exc.record
            else:
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
    """Write a job's outcome (and what its handler returned, or its failure carried, to record)
    and commit."""
    job = session.get(Job, job_id)
    if job is None or job.locked_by != worker:
        session.rollback()
        return "perdue"
    if finish is not None:
        finish(session)
    if error is None:
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
    stop: threading.Event | None = None,
) -> int:
    """Claim and run due jobs until none is left (or `limit` were run, or `stop` is set); how
    many ran. Stopped midway, the jobs claimed but not begun are handed back at once."""
    worker = worker or worker_name()
    lease = timedelta(seconds=settings.job_lease_seconds)
    ran = 0
    while (limit is None or ran < limit) and not (stop is not None and stop.is_set()):
        batch = 20 if limit is None else min(20, limit - ran)
        ids = claim(engine, worker=worker, lease=lease, limit=batch)
        if not ids:
            break
        for n, job_id in enumerate(ids):
            if stop is not None and stop.is_set():
                unclaim(engine, ids[n:], worker=worker)
                break
            run_job(engine, job_id, worker=worker, settings=settings, runtime=runtime)
            ran += 1
    return ran


def unclaim(engine: Engine, ids: list[int], *, worker: str) -> None:
    """Hand back jobs this worker claimed and did not begin: due again now, not an attempt."""
    with Session(write_engine(engine)) as session:
        session.execute(
            sa.update(Job)
            .where(col(Job.id).in_(ids), col(Job.status) == RUNNING, col(Job.locked_by) == worker)
            .values(status=PENDING, locked_by=None, locked_until=None, attempts=Job.attempts - 1)
        )
        session.commit()


# --- reading jobs (the admins' « Tâches ») ------------------------------------------------------


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("Cette tâche est introuvable.")
    return job


def list_jobs(
    session: Session, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Job], int]:
    """Jobs newest first (one status, or all), and how many there are in all."""
    if status is not None and status not in STATUSES:
        known = ", ".join(STATUSES)
        raise Invalid(f"Statut de tâche inconnu : choisissez parmi {known}.", field="status")
    where = [] if status is None else [col(Job.status) == status]
    total = session.exec(select(sa.func.count()).select_from(Job).where(*where)).one()
    rows = session.exec(
        select(Job).where(*where).order_by(col(Job.id).desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def count_by_status(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    rows = session.exec(select(Job.status, sa.func.count()).group_by(col(Job.status))).all()
    counts.update({status: int(n) for status, n in rows})
    return counts


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


def release_lease(engine: Engine, *, name: str, holder: str) -> None:
    """Give the lease up (a worker stopping): another may take it at once."""
    with Session(write_engine(engine)) as session:
        session.execute(
            sa.delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == holder)
        )
        session.commit()


# --- periodic work -----------------------------------------------------------------------------

# The time slot a periodic job is due in at `now` (None: not yet today), e.g. "2026-12-02T10".
Schedule = Callable[[datetime], str | None]


def hourly(moment: datetime) -> str:
    """One slot per hour (Paris time)."""
    return moment.astimezone(dates.PARIS).strftime("%Y-%m-%dT%H")


def daily_at(hour: int) -> Schedule:
    """One slot per day, due from `hour` o'clock Paris time (a worker down at that hour runs it
    when it comes back, the same day)."""

    def schedule(moment: datetime) -> str | None:
        local = moment.astimezone(dates.PARIS)
        return local.date().isoformat() if local.hour >= hour else None

    return schedule


@dataclass(frozen=True)
class Periodic:
    """Periodic work: a job of kind `kind` (payload `{"slot": ...}`) once per slot."""

    kind: str
    schedule: Schedule


@dataclass
class PeriodicWork:
    entries: list[Periodic] = field(default_factory=list)

    def register(self, kind: str, schedule: Schedule) -> None:
        self.entries.append(Periodic(kind, schedule))

    def clear(self) -> None:
        self.entries.clear()


PERIODIC = PeriodicWork()
SCHEDULER_LEASE = "planificateur"
# The hourly reminder pass (its handler lives with the reminders: see `consequences.install`).
REMINDERS_JOB = "rappels"


def schedule_periodic(
    engine: Engine,
    *,
    periodic: PeriodicWork = PERIODIC,
    moment: datetime | None = None,
    seen: dict[str, str] | None = None,
) -> int:
    """Enqueue the periodic jobs whose slot has come (a slot already taken, by this scheduler or
    another, is skipped: its `dedupe_key`); how many slots were new to `seen` (the slots this
    scheduler already enqueued, so that it writes once per slot, not once per tick)."""
    moment = moment or dates.now()
    seen = {} if seen is None else seen
    due = []
    for entry in periodic.entries:
        slot = entry.schedule(moment)
        if slot is not None and seen.get(entry.kind) != slot:
            due.append(NewJob(entry.kind, {"slot": slot}, dedupe_key=f"{entry.kind}:{slot}"))
    if due:
        with Session(write_engine(engine)) as session:
            enqueue_many(session, due)
            session.commit()
        seen.update({job.kind: job.payload["slot"] for job in due})
    return len(due)
