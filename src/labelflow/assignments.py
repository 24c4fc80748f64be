"""Consultant assignments and their independence check.

Staff assign a consultant account to a project (`en_attente`). Before the assignment takes
effect the consultant declares, for every stakeholder of the project, whether they have a link
with it: any link refuses the assignment (`refusee`), none makes it `active`. Staff end it
(`terminee`). `Project.consultant_id` points to the consultant exactly while an assignment is
active: the visibility rule and the `consultant_assigned` criterion both read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, func, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.errors import (
    AlreadyDeclared,
    AssignmentEnded,
    AssignmentInProgress,
    Forbidden,
    IncompleteDeclaration,
    Invalid,
    InvalidDeclaration,
    NotFound,
    WrongStep,
)
from labelflow.events import Fact, record_fact
from labelflow.models import (
    ConflictDeclaration,
    ConsultantAssignment,
    Event,
    Project,
    Stakeholder,
    User,
    id_of,
)
from labelflow.permissions import RECORD_WRITE, require
from labelflow.projects import bump, definition_of, require_open
from labelflow.schemas import DeclarationIn
from labelflow.workflow import Engine

CURRENT = ("en_attente", "active")  # at most one such assignment per project
STATUS_LABELS = {
    "en_attente": "En attente de la déclaration d'indépendance",
    "active": "Active",
    "refusee": "Refusée : lien déclaré",
    "terminee": "Terminée",
}


@dataclass
class AssignmentView:
    """An assignment with what the API and the pages show of it."""

    assignment: ConsultantAssignment
    consultant: User
    declarations: list[ConflictDeclaration] = field(default_factory=list)
    end_reason: str | None = None
    project: Project | None = None
    # For a pending assignment shown to its consultant: what the declaration must cover.
    stakeholders: list[Stakeholder] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.assignment.status, self.assignment.status)

    @property
    def linked_names(self) -> list[str]:
        return [d.stakeholder_name for d in self.declarations if d.has_link]

    @property
    def explanation(self) -> str | None:
        if self.assignment.status != "refusee":
            return None
        return refusal_message(self.linked_names)


def _quoted(names: Sequence[str]) -> str:
    """« A », « B » et « C »."""
    quoted = [f"« {n} »" for n in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " et " + quoted[-1]


def refusal_message(names: Sequence[str]) -> str:
    return (
        f"L'affectation ne peut pas prendre effet : vous avez déclaré un lien avec "
        f"{_quoted(names)}. Un·e autre consultant·e doit être désigné·e."
    )


# --- reading ----------------------------------------------------------------------------------


def get_assignment(session: Session, assignment_id: int) -> ConsultantAssignment:
    assignment = session.get(ConsultantAssignment, assignment_id)
    if assignment is None:
        raise NotFound("Cette affectation est introuvable.")
    return assignment


def get_own_assignment(
    session: Session, *, assignment_id: int, actor: Actor
) -> ConsultantAssignment:
    """One of `actor`'s own assignments; someone else's is reported as not existing."""
    assignment = session.get(ConsultantAssignment, assignment_id)
    if assignment is None or actor.user_id is None or assignment.consultant_id != actor.user_id:
        raise NotFound("Cette affectation est introuvable.")
    return assignment


def get_current_assignment(session: Session, *, project: Project) -> ConsultantAssignment | None:
    """The project's pending or active assignment, if any."""
    return session.exec(
        select(ConsultantAssignment)
        .where(
            ConsultantAssignment.project_id == project.id,
            col(ConsultantAssignment.status).in_(CURRENT),
        )
        .order_by(col(ConsultantAssignment.id).desc())
    ).first()


def _views(
    session: Session, rows: Sequence[tuple[ConsultantAssignment, User]]
) -> list[AssignmentView]:
    """Views of `rows` with their declarations and end reasons: two queries, whatever the rows."""
    ids = [a.id for a, _ in rows]
    if not ids:
        return []
    declarations = session.exec(declarations_query(col(ConflictDeclaration.assignment_id).in_(ids)))
    ended = {a.project_id for a, _ in rows if a.status == "terminee"}
    end_facts = session.exec(end_facts_query(col(Event.project_id).in_(ended))) if ended else []
    return views_of(rows, list(declarations), list(end_facts))


def assignments_query(project_id: Any) -> Any:
    """The select of `list_assignments` for `project_id` (a value or a parameter)."""
    return (
        select(ConsultantAssignment, User)
        .join(User, col(User.id) == ConsultantAssignment.consultant_id)
        .where(ConsultantAssignment.project_id == project_id)
        .order_by(col(ConsultantAssignment.id).desc())
    )


def declarations_query(which: Any) -> Any:
    """The conflict declarations of the assignments `which` selects, in their order."""
    return select(ConflictDeclaration).where(which).order_by(col(ConflictDeclaration.id))


def end_facts_query(which: Any) -> Any:
    """The `consultant` facts of the projects `which` selects: an end's reason is its comment."""
    return select(Event).where(which, Event.kind == "consultant").order_by(col(Event.id))


def views_of(
    rows: Sequence[tuple[ConsultantAssignment, User]],
    declarations: Sequence[ConflictDeclaration],
    end_facts: Sequence[Event],
) -> list[AssignmentView]:
    """`rows` with their declarations and the reasons of those ended (`end_facts_query`)."""
    declared: dict[int, list[ConflictDeclaration]] = {}
    for d in declarations:
        declared.setdefault(d.assignment_id, []).append(d)
    reasons: dict[int, str | None] = {}
    for event in end_facts:
        data = event.data or {}
        if data.get("op") == "end" and isinstance(data.get("assignment_id"), int):
            reasons[data["assignment_id"]] = event.comment
    return [
        AssignmentView(a, user, declared.get(a.id or 0, []), reasons.get(a.id or 0))
        for a, user in rows
    ]


def list_assignments(session: Session, *, project: Project) -> list[AssignmentView]:
    """Every assignment of the project, newest first."""
    return _views(session, session.exec(assignments_query(project.id)).all())


def assignment_view(session: Session, assignment: ConsultantAssignment) -> AssignmentView:
    consultant = session.get(User, assignment.consultant_id)
    assert consultant is not None  # the foreign key cascades
    return _views(session, [(assignment, consultant)])[0]


def list_consultant_assignments(session: Session, *, actor: Actor) -> list[AssignmentView]:
    """The consultant's own assignments, newest first, with their project and, for pending
    ones, the stakeholders to declare about (a fixed number of queries)."""
    rows = session.exec(
        select(ConsultantAssignment, User)
        .join(User, col(User.id) == ConsultantAssignment.consultant_id)
        .where(ConsultantAssignment.consultant_id == actor.user_id)
        .order_by(col(ConsultantAssignment.id).desc())
    ).all()
    views = _views(session, rows)
    project_ids = {v.assignment.project_id for v in views}
    if not project_ids:
        return views
    projects = {
        p.id: p for p in session.exec(select(Project).where(col(Project.id).in_(project_ids)))
    }
    pending = {v.assignment.project_id for v in views if v.assignment.status == "en_attente"}
    stakeholders: dict[int, list[Stakeholder]] = {}
    if pending:
        for s in session.exec(
            select(Stakeholder)
            .where(col(Stakeholder.project_id).in_(pending))
            .order_by(col(Stakeholder.id))
        ):
            stakeholders.setdefault(s.project_id, []).append(s)
    for view in views:
        view.project = projects.get(view.assignment.project_id)
        if view.assignment.status == "en_attente":
            view.stakeholders = stakeholders.get(view.assignment.project_id, [])
    return views


def count_pending_assignments(session: Session, *, actor: Actor) -> int:
    return session.exec(
        select(func.count()).where(
            ConsultantAssignment.consultant_id == actor.user_id,
            ConsultantAssignment.status == "en_attente",
        )
    ).one()


# --- the facts ----------------------------------------------------------------------------------


def assign_consultant(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    consultant_id: int,
    actor: Actor,
    if_match: int | None,
) -> ConsultantAssignment:
    """Ask a consultant to carry out the expertise; it takes effect once they declare no link."""
    require_open(engine, project)
    consultant = session.get(User, consultant_id)
    if consultant is None or consultant.role != "consultant" or not consultant.active:
        raise Invalid("Choisissez un compte de consultant·e actif.", field="user_id")
    definition = definition_of(engine, project)
    assignable = definition.roles.assignable_states
    if project.state not in assignable:
        steps = " et ".join(f"« {definition.state(s).label} »" for s in assignable)
        raise WrongStep(
            f"Un·e consultant·e ne peut être désigné·e qu'aux étapes {steps} ; le projet est à "
            f"l'étape « {definition.state(project.state).label} ».",
        )
    current = get_current_assignment(session, project=project)
    if current is not None:
        holder = session.get(User, current.consultant_id)
        name = holder.name if holder else "un·e consultant·e"
        where = (
            "en attente de sa déclaration d'indépendance"
            if current.status == "en_attente"
            else "affectation active"
        )
        raise AssignmentInProgress(
            f"Une affectation est déjà en cours pour ce projet ({name}, {where}) : "
            "mettez-y fin avant de désigner un·e autre consultant·e.",
            assignment_id=current.id,
        )
    bump(session, project, if_match=if_match, relies_on_read=True)
    now = dates.now()
    assignment = ConsultantAssignment(
        project_id=id_of(project),
        consultant_id=consultant_id,
        status="en_attente",
        assigned_by=actor.name,
        created_at=now,
    )
    session.add(assignment)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="consultant",
        at=now,
        data={
            "op": "assign",
            "assignment_id": assignment.id,
            "user_id": consultant.id,
            "name": consultant.name,
            "email": consultant.email,
        },
    )
    return assignment


def _check_coverage(
    stakeholders: Sequence[Stakeholder], declarations: Sequence[DeclarationIn]
) -> None:
    """Every current stakeholder of the project exactly once, and only those."""
    known = {s.id: s for s in stakeholders}
    seen: set[int] = set()
    for d in declarations:
        if d.stakeholder_id not in known:
            raise InvalidDeclaration(
                f"La partie prenante n° {d.stakeholder_id} n'est pas une partie prenante de ce "
                "projet : rechargez la liste et recommencez.",
                field="declarations",
            )
        if d.stakeholder_id in seen:
            name = known[d.stakeholder_id].name
            raise InvalidDeclaration(
                f"La partie prenante « {name} » figure plusieurs fois dans la déclaration.",
                field="declarations",
            )
        seen.add(d.stakeholder_id)
    missing = [s for s in stakeholders if s.id not in seen]
    if missing:
        raise IncompleteDeclaration(
            "Votre déclaration doit couvrir chaque partie prenante du projet. Il manque : "
            f"{_quoted([s.name for s in missing])}.",
            field="declarations",
            missing=[{"stakeholder_id": s.id, "name": s.name} for s in missing],
        )
    for d in declarations:
        if d.has_link and not (d.details or "").strip():
            name = known[d.stakeholder_id].name
            raise InvalidDeclaration(
                f"Précisez la nature de votre lien avec « {name} ».",
                field="declarations",
                stakeholder_id=d.stakeholder_id,
            )


def declare_independence(
    session: Session,
    *,
    engine: Engine,
    assignment: ConsultantAssignment,
    actor: Actor,
    declarations: Sequence[DeclarationIn],
) -> ConsultantAssignment:
    """The consultant's declaration of independence: stored with its date; a declared link
    refuses the assignment, none makes it active (the consultant then sees the project)."""
    if actor.user_id is None or actor.user_id != assignment.consultant_id:
        if actor.role == "consultant":
            raise NotFound("Cette affectation est introuvable.")
        raise Forbidden(
            "Seul·e le ou la consultant·e désigné·e déclare ses liens avec les parties prenantes."
        )
    if assignment.status != "en_attente":
        raise AlreadyDeclared(
            "Votre déclaration a déjà été enregistrée pour cette affectation."
            if assignment.status in ("active", "refusee")
            else "Cette affectation est terminée : aucune déclaration n'est plus attendue.",
        )
    project = session.get(Project, assignment.project_id)
    assert project is not None  # the foreign key cascades
    if not may_assign(engine, project):
        raise WrongStep(
            "Le projet n'est plus à une étape où l'expertise peut commencer : "
            "contactez l'équipe nationale.",
        )
    stakeholders = session.exec(
        select(Stakeholder)
        .where(Stakeholder.project_id == project.id)
        .order_by(col(Stakeholder.id))
    ).all()
    _check_coverage(stakeholders, declarations)
    names = {s.id: s.name for s in stakeholders}
    now = dates.now()
    by_id = {d.stakeholder_id: d for d in declarations}
    for s in stakeholders:
        d = by_id[s.id or 0]
        session.add(
            ConflictDeclaration(
                assignment_id=assignment.id or 0,
                stakeholder_id=s.id,
                stakeholder_name=s.name,
                has_link=d.has_link,
                details=(d.details or "").strip() or None,
                declared_at=now,
            )
        )
    linked = [names[d.stakeholder_id] for d in declarations if d.has_link]
    base = {"assignment_id": assignment.id, "user_id": actor.user_id, "name": actor.name}
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="consultant",
        at=now,
        data={**base, "op": "declare", "stakeholders": len(stakeholders), "links": len(linked)},
    )
    assignment.decided_at = now
    if linked:
        assignment.status = "refusee"
        session.add(assignment)
        record_fact(
            session,
            project=project,
            actor=actor,
            kind="consultant",
            at=now,
            data={**base, "op": "refuse", "linked": linked},
        )
    else:
        assignment.status = "active"
        session.add(assignment)
        bump(
            session,
            project,
            if_match=None,
            relies_on_read=True,
            consultant_id=assignment.consultant_id,
        )
        record_fact(
            session,
            project=project,
            actor=actor,
            kind="consultant",
            at=now,
            data={**base, "op": "activate", "email": actor.email},
        )
    session.flush()
    return assignment


def end_assignment(
    session: Session,
    *,
    project: Project,
    assignment: ConsultantAssignment,
    actor: Actor,
    reason: str | None,
    if_match: int | None = None,
) -> ConsultantAssignment:
    """Staff end a pending or active assignment: the consultant loses access at once."""
    require(actor, RECORD_WRITE)
    if assignment.project_id != project.id:
        raise NotFound("Cette affectation est introuvable.")
    if assignment.status not in CURRENT:
        raise AssignmentEnded(
            "Cette affectation est déjà terminée."
            if assignment.status == "terminee"
            else "Cette affectation n'a pas pris effet (lien déclaré) : il n'y a rien à terminer.",
        )
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Indiquez pourquoi l'affectation prend fin.", field="reason")
    values: dict[str, Any] = {}
    if project.consultant_id == assignment.consultant_id and assignment.status == "active":
        values["consultant_id"] = None
    bump(session, project, if_match=if_match, relies_on_read=True, **values)
    now = dates.now()
    consultant = session.get(User, assignment.consultant_id)
    previous = assignment.status
    assignment.status = "terminee"
    assignment.ended_at = now
    assignment.ended_by = actor.name
    session.add(assignment)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="consultant",
        at=now,
        comment=reason,
        data={
            "op": "end",
            "assignment_id": assignment.id,
            "user_id": assignment.consultant_id,
            "name": consultant.name if consultant else "",
            "previous_status": previous,
        },
    )
    session.flush()
    return assignment


def may_assign(engine: Engine, project: Project) -> bool:
    """Whether the project is at a step where a consultant may be assigned (or declare)."""
    return project.state in definition_of(engine, project).roles.assignable_states


# --- consequences of facts (subscribed in labelflow.consequences) ----------------------------


def on_transition(fact: Fact) -> None:
    """A project reached a final state: its pending or active assignment ends with it (the
    transition already cleared `consultant_id` and bumped the version)."""
    session, actor, (project, definition) = fact.session, fact.actor, fact.subject
    if not definition.is_final(project.state):
        return
    assignment = get_current_assignment(session, project=project)
    if assignment is None:
        return
    at = fact.event.at
    assignment.status = "terminee"
    assignment.ended_at = at
    assignment.ended_by = actor.name
    session.add(assignment)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="consultant",
        at=at,
        comment="Projet clos : l'expertise prend fin.",
        data={"op": "end", "assignment_id": assignment.id, "user_id": assignment.consultant_id},
    )
