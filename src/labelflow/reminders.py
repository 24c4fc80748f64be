"""Deadline reminders (DESIGN §9): *bientôt*, on the due date, then overdue by 7 days and every
30 days after (7, 37, 67...).

`remind` is one pass over the open deadlines of the projects that are not suspended. Each
reminder is identified by (deadline, kind, due date) and recorded in `reminders_sent` under a
unique key, inserted with ON CONFLICT DO NOTHING in the same transaction as its notifications
(and their e-mail jobs): a reminder whose row is there was sent, one whose row is not was not.
So two passes that overlap (two `labelflow remind`, two workers) send each reminder once — the
second insert waits for the first transaction (PostgreSQL) or for the write lock (SQLite) and
then finds the key taken — and moving a due date starts a new series (the date is in the key).

Catch-up: a pass sends, for each deadline, only the stage it is at on `today` (the latest one
due), never a burst of stages it missed: a pass that did not run on the *bientôt* day sends
*bientôt* on any later day before the due date, a missed due-date reminder is sent during the
first week after it, and an overdue reminder until the next one is due. The titles say the real
number of days.

Each project is reminded inside its own savepoint: a failure for one project (a subscriber, a
fault) undoes only that project's reminders, the pass goes on, and the next pass sends them. The
caller commits (the CLI's transaction, the worker's job).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from labelflow import dates, deadlines, jobs, notifications
from labelflow.french import plural
from labelflow.models import Deadline, Project, ReminderSent
from labelflow.runtime import runtime_of
from labelflow.workflow import Engine, WorkflowDefinition

log = logging.getLogger("labelflow.reminders")

SOON = "bientot"
DUE = "echeance"
FIRST_OVERDUE_DAYS = 7
OVERDUE_EVERY_DAYS = 30
KIND = "rappel"  # the notification kind (preferences on « Mon compte »)


def stage(due_on: date, *, today: date, soon_days: int) -> str | None:
    """The reminder a deadline due on `due_on` is at on `today` (None: none yet)."""
    days_left = (due_on - today).days
    if days_left > soon_days:
        return None
    if days_left > 0:
        return SOON
    late = -days_left
    if late < FIRST_OVERDUE_DAYS:
        return DUE
    periods = (late - FIRST_OVERDUE_DAYS) // OVERDUE_EVERY_DAYS
    return f"retard_{FIRST_OVERDUE_DAYS + periods * OVERDUE_EVERY_DAYS}"


def title_of(kind: str, *, what: str, due_on: date, today: date) -> str:
    """« Échéance dans 30 jours : … », « Échéance aujourd'hui : … », « Échéance dépassée de
    7 jours : … » (the real number of days when a pass catches up)."""
    days = (due_on - today).days
    if kind == SOON:
        return f"Échéance dans {plural(days, 'jour')} : {what}"
    if days == 0:
        return f"Échéance aujourd'hui : {what}"
    return f"Échéance dépassée de {plural(-days, 'jour')} : {what}"


def _definition(engine: Engine | None, project: Project) -> WorkflowDefinition | None:
    if engine is None:
        return None
    return engine.definition(project.workflow_key, project.workflow_version)


def _what(deadline: Deadline, definition: WorkflowDefinition | None) -> str:
    """What is due, as the project page names it."""
    if deadline.kind == "label":
        return "date cible du label"
    if deadline.kind == "etape" and deadline.state:
        label = definition.state(deadline.state).label if definition else deadline.state
        return f"étape « {label} »"
    # A milestone (jalon): its own title.
    title = getattr(deadline, "title", None)
    return str(title) if title else "jalon"


def recipients(
    session: Session,
    *,
    project: Project,
    deadline: Deadline,
    definition: WorkflowDefinition | None,
) -> set[int]:
    """Who is reminded of `deadline` (DESIGN §9, §13)."""
    people = notifications.staff_in_charge(session, project)
    concerned = getattr(deadline, "user_id", None)
    if deadline.kind == "jalon" or concerned is not None:
        # A milestone: the person concerned and the staff in charge.
        if concerned is not None:
            people.add(int(concerned))
        return people
    people |= notifications.porteurs_of(session, project)
    report_state = definition.roles.report_state if definition else None
    if (
        deadline.kind == "etape"
        and report_state is not None
        and deadline.state == report_state
        and project.consultant_id is not None
    ):
        people.add(project.consultant_id)  # the report's deadline: the assigned consultant
    return people


def _record(session: Session, *, deadline: Deadline, kind: str) -> bool:
    """Claim the reminder's identity; False when it was already sent (or is being sent)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ReminderSent)
        .values(deadline_id=deadline.id, kind=kind, due_on=deadline.due_on, created_at=dates.now())
        .on_conflict_do_nothing(index_elements=["deadline_id", "kind", "due_on"])
        # A row back when inserted (rowcount is not reliable here on PostgreSQL's driver).
        .returning(col(ReminderSent.id))
    )
    return session.execute(statement).first() is not None


def due_deadlines(session: Session, *, today: date) -> Sequence[tuple[Deadline, Project]]:
    """Open deadlines within the *bientôt* horizon of projects not suspended, in a fixed order
    (two passes at once then take the keys in the same order: they wait, never deadlock)."""
    horizon = today + timedelta(days=deadlines.DUE_SOON_DAYS)
    return session.exec(
        select(Deadline, Project)
        .join(Project, col(Project.id) == col(Deadline.project_id))
        .where(
            col(Deadline.closed_on).is_(None),
            col(Deadline.due_on) <= horizon,
            col(Project.suspended).is_(False),
        )
        .order_by(col(Project.id), col(Deadline.id))
    ).all()


def _remind_project(
    session: Session,
    *,
    project: Project,
    items: list[Deadline],
    engine: Engine | None,
    today: date,
) -> int:
    definition = _definition(engine, project)
    if definition is not None and definition.is_final(project.state):
        return 0  # closed deadlines are the rule there; an open one left over is not reminded
    sent = 0
    for deadline in items:
        kind = stage(deadline.due_on, today=today, soon_days=deadlines.DUE_SOON_DAYS)
        if kind is None or not _record(session, deadline=deadline, kind=kind):
            continue
        what = _what(deadline, definition)
        notifications.notify(
            session,
            kind=KIND,
            user_ids=recipients(session, project=project, deadline=deadline, definition=definition),
            title=title_of(kind, what=what, due_on=deadline.due_on, today=today),
            body=f"Échéance prévue le {dates.french_date(deadline.due_on)}.",
            url=f"/projects/{project.id}#echeances",
            project=project,
        )
        sent += 1
    return sent


def remind(
    session: Session,
    *,
    today: date,
    engine: Engine | None = None,
    failures: list[int] | None = None,
) -> int:
    """One reminder pass; how many reminders were written (one per deadline and stage).

    `engine` (else the session's runtime) names the steps and finds the report's deadline for
    the assigned consultant; without either, steps are named by their keys and the consultant
    is not reminded. The ids of the projects whose reminders failed (left for the next pass)
    are appended to `failures`.
    """
    if engine is None:
        runtime = runtime_of(session)
        engine = runtime.workflows if runtime is not None else None
    by_project: dict[int, tuple[Project, list[Deadline]]] = {}
    for deadline, project in due_deadlines(session, today=today):
        by_project.setdefault(project.id or 0, (project, []))[1].append(deadline)
    sent = 0
    for project, items in by_project.values():
        try:
            with session.begin_nested():
                sent += _remind_project(
                    session, project=project, items=items, engine=engine, today=today
                )
        except Exception:
            # Undone for this project only; the next pass sends its reminders.
            log.exception("reminders of project %s failed", project.id)
            if failures is not None:
                failures.append(project.id or 0)
    return sent


def run_pass(ctx: jobs.JobContext) -> None:
    """Job `rappels` (hourly, scheduled by the worker): one pass, in the job's transaction."""
    remind(ctx.session, today=dates.today())
