"""The worker: the loop that runs the jobs of the outbox and schedules the periodic work.

`labelflow worker` runs `run` in the foreground; `labelflow serve` runs it in one thread of the
web process (unless `LABELFLOW_WORKER=false`). Each tick:

1. the worker takes or renews the scheduler's lease (`jobs.SCHEDULER_LEASE`, about three ticks
   long): the one holding it enqueues the periodic jobs whose slot has come (`jobs.PERIODIC`);
   when it dies, another takes the lease over within those three ticks;
2. it runs every job that is due, in batches; told to stop, it finishes the job in hand and
   hands back the ones it claimed and did not begin (due again at once, for another worker).

A fault (the database gone for a moment) is logged and the loop goes on at the next tick. What
a job's handler needs beyond its session is the same `Runtime` as the web app's (`build_runtime`).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from jinja2 import Environment
from sqlalchemy import Engine

from labelflow import jobs, mail
from labelflow.pdf import make_environment
from labelflow.runtime import Runtime
from labelflow.settings import Settings
from labelflow.storage import from_settings as storage_from_settings
from labelflow.workflow_store import sync_definitions

log = logging.getLogger("labelflow.worker")

# Jobs claimed at once: between two batches the worker renews its lease and checks `stop`.
BATCH = 20


def build_runtime(
    settings: Settings, db: Engine, *, templates: Environment | None = None
) -> Runtime:
    """What subscribers and job handlers need, built once per process: the workflow engine
    (definitions validated and stored), the templates (the pages' environment in the web app,
    the plain one elsewhere) and the document store. Raises `WorkflowError`."""
    workflows = sync_definitions(db, settings.workflows_dir)
    return Runtime(
        workflows=workflows,
        templates=templates or make_environment(settings.templates_dir),
        store=storage_from_settings(settings),
    )


class Worker:
    """One worker: its name (in `jobs.locked_by` and the lease) and what it has scheduled."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings,
        runtime: Runtime | None,
        poll_seconds: float = 1.0,
        name: str | None = None,
        periodic: jobs.PeriodicWork = jobs.PERIODIC,
    ) -> None:
        self.engine = engine
        self.periodic = periodic
        self.settings = settings
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self.name = name or jobs.worker_name()
        self.lease_ttl = timedelta(seconds=max(3 * poll_seconds, 1.0))
        self.scheduled: dict[str, str] = {}  # periodic kind -> last slot this worker enqueued

    def schedule(self) -> bool:
        """Enqueue the periodic work if this worker holds the scheduler's lease."""
        holds = jobs.acquire_lease(
            self.engine, name=jobs.SCHEDULER_LEASE, holder=self.name, ttl=self.lease_ttl
        )
        if holds:
            jobs.schedule_periodic(self.engine, periodic=self.periodic, seen=self.scheduled)
        else:
            # Another scheduler enqueues: should this one take over later, it checks every slot.
            self.scheduled.clear()
        return holds

    def tick(self, stop: threading.Event | None = None) -> int:
        """One pass: schedule (with the lease), then run what is due; how many jobs ran.

        The pass's e-mails share one SMTP connection, closed at its end."""
        self.schedule()
        ran = 0
        try:
            while stop is None or not stop.is_set():
                done = jobs.run_due(
                    self.engine,
                    settings=self.settings,
                    runtime=self.runtime,
                    worker=self.name,
                    limit=BATCH,
                    stop=stop,
                )
                ran += done
                if done < BATCH:
                    break
                self.schedule()  # a long backlog: keep the lease while draining it
        finally:
            mail.close_connections()
        return ran

    def release(self) -> None:
        """Give the scheduler's lease up (if held), so that another worker takes it at once."""
        jobs.release_lease(self.engine, name=jobs.SCHEDULER_LEASE, holder=self.name)

    def run(self, stop: threading.Event) -> None:
        """Tick every `poll_seconds` until `stop` is set; the lease is given up on the way out."""
        log.info("worker %s started", self.name)
        try:
            while not stop.is_set():
                try:
                    self.tick(stop)
                except Exception:  # the database gone for a moment: try again at the next tick
                    log.exception("worker %s: tick failed", self.name)
                stop.wait(self.poll_seconds)
        finally:
            try:
                self.release()
            except Exception:
                log.exception("worker %s: could not release the scheduler's lease", self.name)
            log.info("worker %s stopped", self.name)


def run(
    engine: Engine,
    *,
    settings: Settings,
    runtime: Runtime | None,
    stop: threading.Event,
    poll_seconds: float = 1.0,
) -> None:
    """Run a worker until `stop` is set."""
    Worker(engine, settings=settings, runtime=runtime, poll_seconds=poll_seconds).run(stop)


def start_thread(
    engine: Engine,
    *,
    settings: Settings,
    runtime: Runtime | None,
    stop: threading.Event,
    poll_seconds: float = 1.0,
) -> threading.Thread:
    """A worker in a daemon thread of this process (`labelflow serve`), until `stop` is set."""
    thread = threading.Thread(
        target=run,
        kwargs={
            "engine": engine,
            "settings": settings,
            "runtime": runtime,
            "stop": stop,
            "poll_seconds": poll_seconds,
        },
        name="labelflow-worker",
        daemon=True,
    )
    thread.start()
    return thread
