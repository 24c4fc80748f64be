"""Deadlines (échéances): one per pass through a step, and the project's target label date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.errors import (
    DeadlineClosed,
    Invalid,
    NotFound,
)
from labelflow.events import Fact, record_fact
from labelflow.models import Deadline, Project
from labelflow.projects import bump, require_open
from labelflow.schemas import DeadlineMove
from labelflow.workflow import Engine, WorkflowDefinition

# Read at every call (never copied at import): `configure` sets it from LABELFLOW_DUE_SOON_DAYS.
DUE_SOON_DAYS = 30
MAX_MOVE_MONTHS = 120
STATUS_LABELS = {
    "a_venir": "À venir",
    "bientot": "Bientôt",
    "en_retard": "En retard",
    "tenue": "Close",
    "suspendue": "Suspendue",
}


def configure(*, due_soon_days: int) -> None:
    """Apply the setting (`create_app` and the CLI, once at start-up)."""
    global DUE_SOON_DAYS  # noqa: PLW0603  (one process, one setting: read by every status)
    DUE_SOON_DAYS = due_soon_days


def deadline_status(deadline: Deadline, *, suspended: bool, today: date) -> str:
    if deadline.closed_on is not None:
        return "tenue"
    if suspended:
        return "suspendue"
    if deadline.due_on < today:
        return "en_retard"
    if deadline.due_on <= today + timedelta(days=DUE_SOON_DAYS):
        return "bientot"
    return "a_venir"


def overdue_clause(today: date) -> Any:
    """SQL condition: a project has an open deadline past due and is not suspended."""
    late = (
        select(Deadline.id)
        .where(
            Deadline.project_id == Project.id,
            col(Deadline.closed_on).is_(None),
            col(Deadline.due_on) < today,
        )
        .exists()
    )
    return sa.and_(late, sa.not_(col(Project.suspended)))


def list_deadlines(session: Session, *, project: Project) -> Sequence[Deadline]:
    return session.exec(
        select(Deadline)
        .where(Deadline.project_id == project.id)
        .order_by(col(Deadline.created_at), col(Deadline.id))
    ).all()


def _open_step(
    session: Session, project: Project, definition: WorkflowDefinition, state: str, start: date
) -> None:
    months = definition.state(state).target_months
    if months is None or project.id is None:
        return
    due = dates.add_months(start, months)
    session.add(
        Deadline(
            project_id=project.id,
            kind="etape",
            state=state,
            due_on=due,
            initial_due_on=due,
            created_at=dates.now(),
        )
    )


# --- consequences of facts (subscribed in labelflow.consequences) ----------------------------


def on_project_created(fact: Fact) -> None:
    """A new project: its target label date and the due date of its first step."""
    session, (project, definition) = fact.session, fact.subject
    assert project.id is not None
    start = dates.paris_date(project.created_at)
    label_due = dates.add_months(start, definition.total_target_months)
    session.add(
        Deadline(
            project_id=project.id,
            kind="label",
            state=None,
            due_on=label_due,
            initial_due_on=label_due,
            created_at=dates.now(),
        )
    )
    _open_step(session, project, definition, project.state, start)


def on_transition(fact: Fact) -> None:
    """Close the step just left; open the next step's, or close everything at a final state."""
    session, (project, definition) = fact.session, fact.subject
    target = fact.event.to_state
    assert target is not None
    on = dates.paris_date(fact.event.at)
    final = definition.is_final(target)
    stmt = sa.update(Deadline).where(
        col(Deadline.project_id) == project.id, col(Deadline.closed_on).is_(None)
    )
    if not final:
        stmt = stmt.where(col(Deadline.kind) == "etape")
    session.exec(stmt.values(closed_on=on))
    if not final:
        _open_step(session, project, definition, target, on)


def on_resumed(fact: Fact) -> None:
    """After a suspension: open deadlines move by the paused time."""
    session, days = fact.session, int(fact.event.data.get("paused_days", 0))
    project_id = fact.event.project_id
    if days <= 0:
        return
    for deadline in session.exec(
        select(Deadline).where(Deadline.project_id == project_id, col(Deadline.closed_on).is_(None))
    ):
        deadline.due_on = deadline.due_on + timedelta(days=days)
        session.add(deadline)


def move_deadline(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    deadline_id: int,
    data: DeadlineMove,
    actor: Actor,
    if_match: int | None,
) -> Deadline:
    """Staff move an open due date, with a reason kept in the history."""
    require_open(engine, project)
    bump(session, project, if_match=if_match)
    due_on, reason = data.due_on, data.reason
    deadline = session.get(Deadline, deadline_id)
    if deadline is None or deadline.project_id != project.id:
        raise NotFound("Échéance introuvable.")
    if deadline.closed_on is not None:
        raise DeadlineClosed("Cette échéance est close : elle ne peut plus être déplacée.")
    if due_on < dates.paris_date(project.created_at):
        raise Invalid(
            "La nouvelle échéance ne peut pas précéder la création du projet.", field="due_on"
        )
    # Bounded so that later shifts (suspensions) stay within the calendar.
    latest = dates.add_months(dates.today(), MAX_MOVE_MONTHS)
    if due_on > latest:
        raise Invalid(
            f"La nouvelle échéance ne peut pas dépasser le {dates.french_date(latest)}.",
            field="due_on",
        )
    previous = deadline.due_on
    deadline.due_on = due_on
    session.add(deadline)
    assert project.id is not None
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="echeance",
        comment=reason,
        data={
            "deadline_id": deadline.id,
            "state": deadline.state,
            "kind": deadline.kind,
            "from": previous.isoformat(),
            "to": due_on.isoformat(),
        },
    )
    return deadline


def _open_deadline(*conditions: Any) -> Any:
    """SQL: the project row being filtered has an open deadline meeting `conditions`."""
    return (
        select(Deadline.id)
        .where(Deadline.project_id == Project.id, col(Deadline.closed_on).is_(None), *conditions)
        .correlate(Project)
        .exists()
    )


def due_soon_clause(today: date) -> Any:
    """SQL condition: an open deadline within DUE_SOON_DAYS, none overdue, not suspended.

    The project-level twin of `deadline_status(...) == "bientot"`: overdue wins over due soon.
    """
    horizon = today + timedelta(days=DUE_SOON_DAYS)
    return sa.and_(
        _open_deadline(col(Deadline.due_on) >= today, col(Deadline.due_on) <= horizon),
        sa.not_(_open_deadline(col(Deadline.due_on) < today)),
        sa.not_(col(Project.suspended)),
    )
