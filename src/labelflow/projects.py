"""Projects: creation, listing, changes, evaluation of actions and transitions."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from labelflow import dates, deadlines, reports
from labelflow.actors import Actor
from labelflow.criteria import Facts, Unmet, unmet_criteria
from labelflow.errors import (
    ActionNotPossible,
    CommentRequired,
    CriteriaUnmet,
    Invalid,
    NotFound,
    PreconditionFailed,
    StaleVersion,
    Suspended,
)
from labelflow.events import record_event
from labelflow.models import (
    Attestation,
    BoardMember,
    Deadline,
    Decision,
    Document,
    Project,
    ProjectMember,
    Stakeholder,
    User,
)
from labelflow.schemas import ProjectCreate, ProjectUpdate
from labelflow.workflow import ActionImpossible, Engine, WorkflowDefinition

if TYPE_CHECKING:
    from labelflow.bureau import Letters


def fold(text: str) -> str:
    """Lower-case without accents, so 'epinay' finds 'Épinay-sur-Seine'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _search_text(name: str, communes: list[dict[str, str]]) -> str:
    return fold(" ".join([name, *(c["name"] for c in communes), *(c["insee"] for c in communes)]))


# --- visibility: the one rule deciding which projects a user may see --------------------------

BUREAU_STATE = "decision_bureau"


def visibility_clause(actor: Actor) -> Any:
    """SQL condition on Project for the projects `actor` may see (None: all of them)."""
    match actor.role:
        case "staff":
            return None
        case "consultant":
            return col(Project.consultant_id) == actor.user_id
        case "porteur":
            return (
                select(ProjectMember.id)
                .where(
                    ProjectMember.project_id == Project.id, ProjectMember.user_id == actor.user_id
                )
                .exists()
            )
        case "bureau":
            return col(Project.state) == BUREAU_STATE
    return sa.false()


def can_see(session: Session, actor: Actor, project: Project) -> bool:
    match actor.role:
        case "staff":
            return True
        case "consultant":
            return actor.user_id is not None and project.consultant_id == actor.user_id
        case "porteur":
            return (
                actor.user_id is not None
                and session.exec(
                    select(ProjectMember.id).where(
                        ProjectMember.project_id == project.id,
                        ProjectMember.user_id == actor.user_id,
                    )
                ).first()
                is not None
            )
        case "bureau":
            return project.state == BUREAU_STATE
    return False


def visible_project(session: Session, *, actor: Actor, project_id: int) -> Project:
    """Load a project for `actor`; one they may not see is reported as not existing."""
    project = session.get(Project, project_id)
    if project is None or not can_see(session, actor, project):
        raise NotFound("Ce projet est introuvable.")
    return project


def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("Ce projet est introuvable.")
    return project


def definition_of(engine: Engine, project: Project) -> WorkflowDefinition:
    return engine.definition(project.workflow_key, project.workflow_version)


def bump(
    session: Session, project: Project, *, expected_version: int | None, **values: Any
) -> None:
    """Apply `values` to the project row and increment its version, atomically.

    With `expected_version` the update only happens if nobody changed the row since that
    version was read (the optimistic lock); a lost race raises instead of overwriting.
    """
    assert project.id is not None
    stmt = sa.update(Project).where(col(Project.id) == project.id)
    if expected_version is not None:
        stmt = stmt.where(col(Project.version) == expected_version)
    stmt = stmt.values(version=Project.version + 1, updated_at=dates.now(), **values)
    result = session.exec(stmt)
    if result.rowcount != 1:
        raise StaleVersion(
            "Le projet vient d'être modifié par quelqu'un d'autre : rechargez-le et réessayez.",
            current_version=None,
        )
    session.refresh(project)


def bump_if_match(
    session: Session, project: Project, *, if_match: int | None, **values: Any
) -> None:
    """`bump` under the caller's If-Match: losing a race to another writer makes it stale."""
    try:
        bump(session, project, expected_version=if_match, **values)
    except StaleVersion:
        raise PreconditionFailed(
            "Le projet a changé depuis votre lecture : rechargez-le et réessayez."
        ) from None


def check_if_match(project: Project, if_match: int | None) -> None:
    if if_match is not None and if_match != project.version:
        raise PreconditionFailed(
            f"Le projet a changé depuis votre lecture (version {if_match}, "
            f"version actuelle {project.version}) : rechargez-le et réessayez.",
            current_version=project.version,
        )


def create_project(
    session: Session, *, engine: Engine, data: ProjectCreate, actor: Actor
) -> Project:
    definition = engine.for_kind(data.kind)
    now = dates.now()
    communes = [c.model_dump() for c in data.communes]
    project = Project(
        name=data.name,
        kind=data.kind,
        communes=communes,
        region=data.region,
        departement=data.departement,
        qpv=list(data.qpv),
        initiator=data.initiator,
        search_text=_search_text(data.name, communes),
        workflow_key=definition.key,
        workflow_version=definition.version,
        state=definition.initial_state,
        entered_state_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    session.flush()
    assert project.id is not None
    deadlines.on_create(session, project=project, definition=definition)
    record_event(
        session,
        project_id=project.id,
        actor=actor,
        kind="creation",
        to_state=project.state,
        at=now,
        data={
            "name": project.name,
            "kind": project.kind,
            "workflow": f"{definition.key} v{definition.version}",
        },
    )
    return project


@dataclass
class ProjectFilters:
    state: str | None = None
    kind: str | None = None
    region: str | None = None
    overdue: bool | None = None
    q: str | None = None
    due_soon: bool | None = None
    suspended: bool | None = None


def list_projects(
    session: Session, *, actor: Actor, filters: ProjectFilters, limit: int, offset: int
) -> tuple[list[tuple[Project, bool]], int]:
    """One page of the projects `actor` may see (newest first), overdue flag, total count."""
    today = dates.today()
    overdue = deadlines.overdue_clause(today)
    conditions: list[Any] = []
    visible = visibility_clause(actor)
    if visible is not None:
        conditions.append(visible)
    # PostgreSQL refuses NUL characters in text parameters (a 500): no stored value has one.
    state, kind, region, q = (
        (v or "").replace("\x00", "")
        for v in (filters.state, filters.kind, filters.region, filters.q)
    )
    if state:
        conditions.append(col(Project.state) == state)
    if kind:
        conditions.append(col(Project.kind) == kind)
    if region.strip():
        # Compared folded in Python: SQLite's lower() ignores accents ("Île-de-France").
        wanted = fold(region.strip())
        regions = [r for r in session.exec(select(Project.region).distinct()) if fold(r) == wanted]
        conditions.append(col(Project.region).in_(regions))
    if filters.overdue is not None:
        conditions.append(overdue if filters.overdue else sa.not_(overdue))
    if filters.due_soon is not None:
        soon = deadlines.due_soon_clause(today)
        conditions.append(soon if filters.due_soon else sa.not_(soon))
    if filters.suspended is not None:
        conditions.append(col(Project.suspended).is_(filters.suspended))
    if q.strip():
        escaped = fold(q.strip()).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(col(Project.search_text).like(f"%{escaped}%", escape="\\"))
    total = session.exec(select(func.count()).select_from(Project).where(*conditions)).one()
    rows = session.exec(
        select(Project, overdue.label("overdue"))
        .where(*conditions)
        .order_by(col(Project.created_at).desc(), col(Project.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(p, bool(o)) for p, o in rows], int(total)


def load_facts(session: Session, *, engine: Engine, project: Project) -> Facts:
    pid = project.id
    return Facts(
        project=project,
        definition=definition_of(engine, project),
        today=dates.today(),
        stakeholders=list(
            session.exec(
                select(Stakeholder)
                .where(Stakeholder.project_id == pid)
                .order_by(col(Stakeholder.id))
            )
        ),
        board=list(
            session.exec(
                select(BoardMember)
                .where(BoardMember.project_id == pid)
                .order_by(col(BoardMember.id))
            )
        ),
        attestations=list(
            session.exec(
                select(Attestation)
                .where(Attestation.project_id == pid)
                .order_by(col(Attestation.id))
            )
        ),
        documents=list(
            session.exec(
                select(Document)
                .where(Document.project_id == pid, col(Document.superseded_by_id).is_(None))
                .order_by(col(Document.uploaded_at), col(Document.id))
            )
        ),
        decisions=list(
            session.exec(
                select(Decision).where(Decision.project_id == pid).order_by(col(Decision.id))
            )
        ),
        consultant=session.get(User, project.consultant_id) if project.consultant_id else None,
        report=reports.latest_report(session, project_id=pid) if pid is not None else None,
    )


@dataclass
class ActionEvaluation:
    action: str
    label: str
    target: str
    comment_required: bool
    unmet: list[Unmet]

    @property
    def allowed(self) -> bool:
        return not self.unmet


SUSPENDED_UNMET = Unmet("projet_suspendu", "Le projet est suspendu : reprenez-le pour agir.")


def evaluate(facts: Facts) -> list[ActionEvaluation]:
    """Every action possible from the project's state, with what is missing for each."""
    project, definition = facts.project, facts.definition
    result = []
    for action in definition.actions_from(project.state):
        unmet = [SUSPENDED_UNMET] if project.suspended else []
        unmet += unmet_criteria(action.criteria, facts)
        result.append(
            ActionEvaluation(
                action.key, action.label, action.target, action.comment_required, unmet
            )
        )
    return result


def update_project(
    session: Session,
    *,
    project: Project,
    data: ProjectUpdate,
    actor: Actor,
    if_match: int | None,
    engine: Engine,
) -> Project:
    """Change project fields; a closed project (final state) is refused."""
    require_open(engine, project)
    check_if_match(project, if_match)
    changes = data.model_dump(exclude_unset=True)
    if "qpv" in changes and changes["qpv"] is None:
        changes["qpv"] = []
    for required in ("name", "communes", "region"):
        if required in changes and changes[required] is None:
            raise Invalid("Ce champ ne peut pas être vidé.", field=required)
    recruited_on = changes.get("charge_mission_recruited_on")
    if recruited_on and recruited_on > dates.today():
        raise Invalid(
            "La date de recrutement ne peut pas être dans le futur.",
            field="charge_mission_recruited_on",
        )
    created_on = changes.get("association_created_on")
    if created_on and created_on > dates.today():
        raise Invalid(
            "La date de création ne peut pas être dans le futur.", field="association_created_on"
        )
    before = {k: getattr(project, k) for k in changes}
    changed = {k: v for k, v in changes.items() if v != before[k]}
    if not changed:
        return project
    values = dict(changed)
    if "name" in changed or "communes" in changed:
        values["search_text"] = _search_text(
            changed.get("name", project.name), changed.get("communes", project.communes)
        )
    bump_if_match(session, project, if_match=if_match, **values)
    assert project.id is not None
    record_event(
        session,
        project_id=project.id,
        actor=actor,
        kind="modification",
        data={"fields": {k: _jsonable(v) for k, v in changed.items()}},
    )
    return project


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def transition(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    action: str,
    comment: str | None,
    actor: Actor,
    if_match: int | None,
    letters: Letters | None = None,
) -> Project:
    """Fire one action: state, deadlines and event are written in the caller's transaction.

    Leaving the Bureau step also applies the decision (`bureau.on_decision_transition`): label
    number and date, network membership, and the decision letter when `letters` is given.
    """
    check_if_match(project, if_match)
    definition = definition_of(engine, project)
    action_def = definition.action(action)
    if action_def is None:
        known = ", ".join(a.key for a in definition.actions)
        raise Invalid(f"Action inconnue « {action} » (actions connues : {known}).", field="action")
    if project.suspended:
        raise Suspended("Le projet est suspendu : aucune action n'est possible avant sa reprise.")
    comment = (comment or "").strip() or None
    try:
        target = engine.fire(definition.key, definition.version, project.state, action)
    except ActionImpossible:
        state_label = definition.state(project.state).label
        raise ActionNotPossible(
            f"L'action « {action_def.label} » n'est pas possible depuis l'état « {state_label} »."
        ) from None
    if action_def.comment_required and not comment:
        raise CommentRequired(
            f"Un commentaire est requis pour l'action « {action_def.label} ».", field="comment"
        )
    facts = load_facts(session, engine=engine, project=project)
    unmet = unmet_criteria(action_def.criteria, facts)
    if unmet:
        raise CriteriaUnmet(
            f"L'action « {action_def.label} » n'est pas encore possible : "
            f"{len(unmet)} critère(s) non rempli(s).",
            unmet=[{"code": u.code, "message": u.message} for u in unmet],
        )
    now = dates.now()
    source = project.state
    pass_started_at = project.entered_state_at
    values: dict[str, Any] = {"state": target, "entered_state_at": now}
    closing = definition.is_final(target)
    if closing:
        # A closed project needs no consultant: their access ends with the project.
        values["consultant_id"] = None
    # Conditional on the version read above: of two concurrent requests, only one moves it.
    try:
        bump(session, project, expected_version=project.version, **values)
    except StaleVersion:
        if if_match is not None:
            raise PreconditionFailed(
                "Le projet a changé depuis votre lecture : rechargez-le et réessayez."
            ) from None
        raise
    deadlines.on_transition(
        session, project=project, definition=definition, target=target, on=dates.paris_date(now)
    )
    if reports.transmits(definition, action):
        reports.mark_transmitted(session, project=project, at=now)
    assert project.id is not None
    record_event(
        session,
        project_id=project.id,
        actor=actor,
        kind="transition",
        action=action,
        from_state=source,
        to_state=target,
        comment=comment,
        at=now,
    )
    if closing:
        from labelflow import assignments  # noqa: PLC0415 (it imports this module)

        assignments.close_with_project(session, project=project, actor=actor, at=now)
    if letters is not None and reports.transmits(definition, action):
        # After the transition's event, so the history reads in order.
        from labelflow import report_document  # noqa: PLC0415 (it imports this module)

        report_document.store_transmitted_report(
            session, engine=engine, project=project, letters=letters, actor=actor
        )
    if source == BUREAU_STATE:
        from labelflow import bureau  # noqa: PLC0415 (bureau imports this module)

        bureau.on_decision_transition(
            session,
            engine=engine,
            project=project,
            action=action,
            pass_started_at=pass_started_at,
            on=dates.paris_date(now),
            actor=actor,
            letters=letters,
        )
    return project


def set_suspended(
    session: Session,
    *,
    project: Project,
    suspend: bool,
    comment: str | None,
    actor: Actor,
    engine: Engine,
    if_match: int | None,
) -> Project:
    check_if_match(project, if_match)
    definition = definition_of(engine, project)
    if definition.is_final(project.state):
        raise ActionNotPossible("Ce projet est clos : il ne peut être ni suspendu ni repris.")
    if project.suspended == suspend:
        raise ActionNotPossible(
            "Le projet est déjà suspendu." if suspend else "Le projet n'est pas suspendu."
        )
    comment = (comment or "").strip() or None
    if suspend and not comment:
        raise CommentRequired("Indiquez la raison de la suspension.", field="comment")
    now = dates.now()
    paused_days = 0
    if not suspend and project.suspended_at is not None:
        paused_days = (dates.paris_date(now) - dates.paris_date(project.suspended_at)).days
    if if_match is not None:
        bump_if_match(
            session,
            project,
            if_match=if_match,
            suspended=suspend,
            suspended_at=now if suspend else None,
        )
    else:
        bump(
            session,
            project,
            expected_version=project.version,
            suspended=suspend,
            suspended_at=now if suspend else None,
        )
    assert project.id is not None
    if not suspend:
        deadlines.shift_open(session, project_id=project.id, days=paused_days)
    record_event(
        session,
        project_id=project.id,
        actor=actor,
        kind="suspension" if suspend else "reprise",
        comment=comment,
        at=now,
        data={"paused_days": paused_days} if not suspend else {},
    )
    return project


def touch(session: Session, project: Project, *, if_match: int | None) -> None:
    """A record of the project changed: bump its version (the ETag) too."""
    check_if_match(project, if_match)
    bump_if_match(session, project, if_match=if_match)


def require_open(engine: Engine, project: Project) -> None:
    if definition_of(engine, project).is_final(project.state):
        raise ActionNotPossible(
            "Ce projet est clos : il ne peut plus être modifié.", code="projet_clos"
        )


# --- the pipeline dashboard ------------------------------------------------------------------

PIPELINE_LIST_SIZE = 10


@dataclass
class StateCount:
    """Projects at one step (or in one final state), both kinds and per kind."""

    state: str
    label: str
    step: int | None
    quartier: int = 0
    territoire: int = 0

    @property
    def total(self) -> int:
        return self.quartier + self.territoire


@dataclass
class DueProject:
    id: int
    name: str
    kind: str
    state: str
    state_label: str
    step: int | None
    due_on: date


@dataclass
class Pipeline:
    today: date
    steps: list[StateCount]
    finals: list[StateCount]
    suspended: int
    overdue: int
    due_soon: int
    overdue_projects: list[DueProject]
    due_soon_projects: list[DueProject]
    due_soon_days: int = deadlines.DUE_SOON_DAYS

    @property
    def running(self) -> int:
        return sum(s.total for s in self.steps)

    @property
    def total(self) -> int:
        return self.running + sum(s.total for s in self.finals)


def _pipeline_buckets(engine: Engine) -> tuple[dict[int, StateCount], dict[str, StateCount]]:
    """Empty counters: the steps and final states of the latest definitions, in their order."""
    steps: dict[int, StateCount] = {}
    finals: dict[str, StateCount] = {}
    for definition in engine.latest():
        for state in definition.states:
            if state.final:
                finals.setdefault(state.key, StateCount(state.key, state.label, None))
            elif state.step is not None:
                steps.setdefault(state.step, StateCount(state.key, state.label, state.step))
    return dict(sorted(steps.items())), finals


def _due_projects(session: Session, engine: Engine, clause: Any, *, limit: int) -> list[DueProject]:
    """The first `limit` projects matching `clause`, by their earliest open due date."""
    # Aliased: `clause` has its own subqueries on deadlines, correlated to projects only.
    deadline = aliased(Deadline)
    due = func.min(deadline.due_on).label("due_on")
    rows = session.exec(
        select(Project, due)
        .join(deadline, col(deadline.project_id) == col(Project.id))
        .where(col(deadline.closed_on).is_(None), clause)
        # The other columns depend on the primary key (accepted by SQLite and PostgreSQL).
        .group_by(col(Project.id))
        .order_by(due, col(Project.id))
        .limit(limit)
    ).all()
    result = []
    for project, due_on in rows:
        assert project.id is not None
        state = definition_of(engine, project).state(project.state)
        result.append(
            DueProject(
                project.id,
                project.name,
                project.kind,
                project.state,
                state.label,
                state.step,
                due_on,
            )
        )
    return result


def pipeline(session: Session, *, engine: Engine, today: date) -> Pipeline:
    """Projects per step, per final state, suspended, overdue and due soon: three queries.

    Overdue and due soon use the same SQL conditions as the list filters, so each number
    equals the length of the list it links to.
    """
    overdue = deadlines.overdue_clause(today)
    soon = deadlines.due_soon_clause(today)

    def flagged(condition: Any) -> Any:
        return func.sum(sa.case((condition, 1), else_=0))

    # Grouped by definition version too: a state is placed by the definition its projects follow.
    group = (
        col(Project.kind),
        col(Project.workflow_key),
        col(Project.workflow_version),
        col(Project.state),
    )
    # sqlmodel's exec() is typed for at most four columns; this query has eight.
    rows = session.exec(  # type: ignore[call-overload]
        select(*group)
        .add_columns(func.count(), flagged(col(Project.suspended)), flagged(overdue), flagged(soon))
        .group_by(*group)
    ).all()
    steps, finals = _pipeline_buckets(engine)
    suspended = late = due_soon = 0
    for kind, key, version, state, count, n_suspended, n_late, n_soon in rows:
        state_def = engine.definition(key, version).state(state)
        if state_def.final:
            bucket = finals.setdefault(state, StateCount(state, state_def.label, None))
        else:
            number = state_def.step or 0
            bucket = steps.setdefault(number, StateCount(state, state_def.label, number))
        if kind == "territoire":
            bucket.territoire += int(count)
        else:
            bucket.quartier += int(count)
        suspended += int(n_suspended or 0)
        late += int(n_late or 0)
        due_soon += int(n_soon or 0)
    return Pipeline(
        today=today,
        steps=list(steps.values()),
        finals=list(finals.values()),
        suspended=suspended,
        overdue=late,
        due_soon=due_soon,
        overdue_projects=_due_projects(session, engine, overdue, limit=PIPELINE_LIST_SIZE),
        due_soon_projects=_due_projects(session, engine, soon, limit=PIPELINE_LIST_SIZE),
    )
