"""Deadlines (échéances): one per pass through a step, the project's target label date, and the
dated milestones (jalons) staff add, each concerning one person. All share the same statuses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from labelflow import dates
from labelflow.accounts import actor_of
from labelflow.actors import Actor
from labelflow.errors import (
    DeadlineClosed,
    Invalid,
    NotFound,
)
from labelflow.events import Fact, record_fact
from labelflow.models import Deadline, Event, Project, ProjectMember, User
from labelflow.projects import bump, require_open, visibility_clause
from labelflow.schemas import DeadlineMove, MilestoneCreate, MilestoneUpdate
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
# A milestone is held (« tenu ») rather than closed.
MILESTONE_STATUS_LABELS = {**STATUS_LABELS, "tenue": "Tenu"}


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
    """After a suspension: open deadlines move by the paused time (the Paris calendar days
    between suspension and resumption, `paused_days` of the fact). A due date a person chose
    during the suspension (a milestone added or moved, a deadline moved) already accounts for
    it and stays."""
    session, days = fact.session, int(fact.event.data.get("paused_days", 0))
    project_id = fact.event.project_id
    if days <= 0:
        return
    suspended_at = session.exec(
        select(Event.at)
        .where(
            Event.project_id == project_id,
            Event.kind == "suspension",
            col(Event.at) <= fact.event.at,
        )
        .order_by(col(Event.at).desc(), col(Event.id).desc())
        .limit(1)
    ).first()
    for deadline in session.exec(
        select(Deadline).where(Deadline.project_id == project_id, col(Deadline.closed_on).is_(None))
    ):
        set_at = deadline.set_at
        if set_at is not None and suspended_at is not None and set_at >= suspended_at:
            continue  # chosen during the suspension
        deadline.due_on = deadline.due_on + timedelta(days=days)
        deadline.sequence += 1
        session.add(deadline)


@dataclass(frozen=True)
class DeadlineChange:
    """What a migration to another definition version does to one deadline."""

    deadline_id: int
    kind: str
    state_before: str | None
    state_after: str | None
    due_before: date
    due_after: date
    initial_after: date

    def data(self) -> dict[str, Any]:
        return {
            "deadline_id": self.deadline_id,
            "kind": self.kind,
            "state_before": self.state_before,
            "state_after": self.state_after,
            "due_before": self.due_before.isoformat(),
            "due_after": self.due_after.isoformat(),
            "initial_after": self.initial_after.isoformat(),
        }


def migration_changes(
    session: Session,
    *,
    project: Project,
    before: WorkflowDefinition,
    after: WorkflowDefinition,
    state_of: Callable[[str], str],
) -> list[DeadlineChange]:
    """The deadlines a move of `project` from `before` to `after` changes: every step deadline
    follows its state's new key; the open step's due date and the target label date follow the
    new target durations, keeping the shifts of suspensions, unless a person chose the date."""
    changes = []
    for deadline in list_deadlines(session, project=project):
        if deadline.kind not in ("etape", "label") or deadline.id is None:
            continue
        state = state_of(deadline.state) if deadline.state is not None else None
        due, initial = deadline.due_on, deadline.initial_due_on
        if deadline.closed_on is None and deadline.set_at is None:
            if deadline.kind == "label":
                start, months = project.created_at, after.total_target_months
                old_months: int | None = before.total_target_months
            else:
                start = project.entered_state_at
                months_after = after.state(state).target_months if state else None
                old_months = before.state(deadline.state).target_months if deadline.state else None
                months = months_after or 0
            if months and months != old_months:
                initial = dates.add_months(dates.paris_date(start), months)
                due = initial + (deadline.due_on - deadline.initial_due_on)
        if (state, due, initial) != (deadline.state, deadline.due_on, deadline.initial_due_on):
            changes.append(
                DeadlineChange(
                    deadline.id, deadline.kind, deadline.state, state, deadline.due_on, due, initial
                )
            )
    return changes


def on_migrated(fact: Fact) -> None:
    """A project moved to another definition version: its deadlines as the plan said."""
    for change in fact.event.data.get("deadlines") or []:
        fact.session.exec(
            sa.update(Deadline)
            .where(
                col(Deadline.id) == change["deadline_id"],
                col(Deadline.project_id) == fact.event.project_id,
            )
            .values(
                state=change["state_after"],
                due_on=date.fromisoformat(change["due_after"]),
                initial_due_on=date.fromisoformat(change["initial_after"]),
            )
        )


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
    problem = due_on_problem(project, due_on, what="La nouvelle échéance")
    if problem:
        raise Invalid(problem, field="due_on")
    previous = deadline.due_on
    deadline.due_on = due_on
    deadline.sequence += 1
    deadline.set_at = dates.now()
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
            "title": deadline.title,
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


def due_on_problem(project: Project, due_on: date, *, what: str) -> str:
    """Why `due_on` cannot be a due date of `project` ("": it can); `what` names it."""
    created = dates.paris_date(project.created_at)
    if due_on < created:
        return (
            f"{what} ne peut pas précéder la création du projet, le {dates.french_date(created)}."
        )
    # Bounded so that later shifts (suspensions) stay within the calendar.
    latest = dates.add_months(dates.today(), MAX_MOVE_MONTHS)
    if due_on > latest:
        return f"{what} ne peut pas dépasser le {dates.french_date(latest)}."
    return ""


# --- milestones (jalons) ------------------------------------------------------------------------

MILESTONE = "jalon"
PERSON_UNKNOWN = "Ce compte est introuvable."
PERSON_CANNOT_SEE = (
    "La personne concernée doit être un compte actif qui voit le projet : un membre de "
    "l'équipe nationale, un porteur du projet ou sa ou son consultant·e en charge."
)


def list_milestones(session: Session, *, project: Project) -> Sequence[Deadline]:
    return milestones_of(list_deadlines(session, project=project))


def milestones_of(deadlines: Sequence[Deadline]) -> list[Deadline]:
    """`list_milestones` among the project's deadlines already loaded."""
    milestones = [d for d in deadlines if d.kind == MILESTONE]
    return sorted(milestones, key=lambda d: (d.due_on, d.id or 0))


def people_of(session: Session, deadlines: Sequence[Deadline]) -> dict[int, User]:
    """The persons concerned by these milestones, by id (one query)."""
    ids = {d.user_id for d in deadlines if d.user_id is not None}
    if not ids:
        return {}
    return {u.id or 0: u for u in session.exec(select(User).where(col(User.id).in_(ids)))}


def person_problem(session: Session, *, engine: Engine, project: Project, user_id: int) -> str:
    """Why account `user_id` cannot be the person a milestone of `project` concerns ("": it
    can): an active account that sees the project under the visibility rule (staff, a porteur
    of the project, its consultant in charge). A Bureau member sees a project only while it is
    at the Bureau's step: not someone a milestone waits for."""
    user = session.get(User, user_id)
    if user is None:
        return PERSON_UNKNOWN
    if not user.active or user.role not in ("staff", "porteur", "consultant"):
        return PERSON_CANNOT_SEE
    visible = visibility_clause(actor_of(user), engine)
    query = select(Project.id).where(col(Project.id) == project.id)
    if visible is not None:
        query = query.where(visible)
    if session.exec(query).first() is None:
        return PERSON_CANNOT_SEE
    return ""


def people_concerned(session: Session, *, project: Project) -> Sequence[User]:
    """Who a milestone of `project` may concern (`person_problem` accepts each): its porteurs
    and consultant in charge first, then the national team, by name."""
    return session.exec(people_concerned_query(project.id, project.consultant_id)).all()


def people_concerned_query(project_id: Any, consultant_id: Any) -> SelectOfScalar[User]:
    """The select of `people_concerned` for the project `project_id`, whose consultant in
    charge is `consultant_id` (values or parameters)."""
    members = select(ProjectMember.user_id).where(ProjectMember.project_id == project_id)
    of_project = sa.or_(
        sa.and_(col(User.role) == "porteur", col(User.id).in_(members)),
        sa.and_(col(User.role) == "consultant", col(User.id) == consultant_id),
    )
    return (
        select(User)
        .where(col(User.active).is_(True), sa.or_(of_project, col(User.role) == "staff"))
        .order_by(sa.case((col(User.role) == "staff", 1), else_=0), col(User.name), col(User.id))
    )


def _milestone_problems(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    due_on: date | None,
    user_id: int | None,
) -> list[dict[str, str]]:
    problems = []
    if due_on is not None:
        problem = due_on_problem(project, due_on, what="La date du jalon")
        if problem:
            problems.append({"field": "due_on", "message": problem})
    if user_id is not None:
        problem = person_problem(session, engine=engine, project=project, user_id=user_id)
        if problem:
            problems.append({"field": "user_id", "message": problem})
    return problems


def _milestone_data(deadline: Deadline, person: User | None) -> dict[str, Any]:
    return {
        "milestone_id": deadline.id,
        "title": deadline.title,
        "due_on": deadline.due_on.isoformat(),
        "user_id": deadline.user_id,
        "user_name": person.name if person is not None else None,
    }


def _get_milestone(session: Session, *, project: Project, milestone_id: int) -> Deadline:
    deadline = session.get(Deadline, milestone_id)
    if deadline is None or deadline.project_id != project.id or deadline.kind != MILESTONE:
        raise NotFound("Ce jalon est introuvable.")
    return deadline


def create_milestone(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    data: MilestoneCreate,
    actor: Actor,
    if_match: int | None,
) -> Deadline:
    """Staff add a dated milestone concerning one person; the history says so."""
    require_open(engine, project)
    refused = Invalid.collected(
        _milestone_problems(
            session, engine=engine, project=project, due_on=data.due_on, user_id=data.user_id
        )
    )
    if refused is not None:
        raise refused
    bump(session, project, if_match=if_match)
    now = dates.now()
    deadline = Deadline(
        project_id=project.id or 0,
        kind=MILESTONE,
        state=None,
        title=data.title,
        user_id=data.user_id,
        due_on=data.due_on,
        initial_due_on=data.due_on,
        created_at=now,
        set_at=now,
    )
    session.add(deadline)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="jalon",
        action="ajout",
        at=now,
        data=_milestone_data(deadline, session.get(User, data.user_id)),
    )
    return deadline


def update_milestone(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    milestone_id: int,
    data: MilestoneUpdate,
    actor: Actor,
    if_match: int | None,
) -> Deadline:
    """Move, rename, hand to someone else, mark held (`done`) or open again; one fact."""
    require_open(engine, project)
    # The project row first: concurrent changes of its milestones queue behind it, so this one
    # reads the milestone as the one before left it (moved, or removed: 404).
    bump(session, project, if_match=if_match)
    deadline = _get_milestone(session, project=project, milestone_id=milestone_id)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    due_on, user_id = changes.get("due_on"), changes.get("user_id")
    refused = Invalid.collected(
        _milestone_problems(
            session,
            engine=engine,
            project=project,
            due_on=due_on if due_on != deadline.due_on else None,
            user_id=user_id if user_id != deadline.user_id else None,
        )
    )
    if refused is not None:
        raise refused
    done = changes.get("done")
    closing = done is True and deadline.closed_on is None
    reopening = done is False and deadline.closed_on is not None
    moving = due_on is not None and due_on != deadline.due_on
    if moving and deadline.closed_on is not None and not reopening:
        raise DeadlineClosed(
            "Ce jalon est tenu : rouvrez-le avant de le déplacer.",
        )
    previous = deadline.due_on
    fields = []
    if "title" in changes and changes["title"] != deadline.title:
        deadline.title = changes["title"]
        fields.append("title")
    if user_id is not None and user_id != deadline.user_id:
        deadline.user_id = user_id
        fields.append("user_id")
    now = dates.now()
    if moving:
        assert due_on is not None
        deadline.due_on = due_on
        deadline.sequence += 1
        deadline.set_at = now
        fields.append("due_on")
    if closing:
        deadline.closed_on = dates.paris_date(now)
        fields.append("done")
    if reopening:
        deadline.closed_on = None
        fields.append("done")
    if not fields:
        return deadline  # nothing changed: no fact (the version still moved: it was asked)
    session.add(deadline)
    if moving:
        action = "deplacement"
    elif closing:
        action = "tenu"
    elif reopening:
        action = "reouverture"
    else:
        action = "modification"
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="jalon",
        action=action,
        at=now,
        data={
            **_milestone_data(deadline, session.get(User, deadline.user_id or 0)),
            "fields": fields,
            "from": previous.isoformat(),
            "to": deadline.due_on.isoformat(),
        },
    )
    return deadline


def delete_milestone(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    milestone_id: int,
    actor: Actor,
    if_match: int | None,
) -> None:
    """Staff remove a milestone; the history keeps what it was."""
    require_open(engine, project)
    bump(session, project, if_match=if_match)
    deadline = _get_milestone(session, project=project, milestone_id=milestone_id)
    data = _milestone_data(deadline, session.get(User, deadline.user_id or 0))
    session.delete(deadline)
    record_fact(
        session, project=project, actor=actor, kind="jalon", action="suppression", data=data
    )
