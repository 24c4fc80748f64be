"""Projects: creation, listing, changes, evaluation of actions and transitions."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from labelflow import dates
from labelflow.actors import Actor
from labelflow.criteria import Facts, Unmet, unmet_criteria
from labelflow.errors import (
    ActionNotPossible,
    CommentRequired,
    CriteriaUnmet,
    Invalid,
    NotFound,
    PreconditionFailed,
    ProjectClosed,
    StaleVersion,
    Suspended,
)
from labelflow.events import record_fact
from labelflow.french import plural
from labelflow.models import (
    Attestation,
    BoardMember,
    Deadline,
    Decision,
    Document,
    ExpertiseReport,
    Project,
    ProjectMember,
    Stakeholder,
    StepPass,
    User,
)
from labelflow.schemas import ProjectCreate, ProjectUpdate
from labelflow.workflow import ActionDef, ActionImpossible, Engine, WorkflowDefinition


def fold(text: str) -> str:
    """Lower-case without accents, so 'epinay' finds 'Épinay-sur-Seine'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# --- visibility: the one rule deciding which projects a user may see --------------------------


def visibility_clause(actor: Actor, engine: Engine) -> Any:
    """SQL condition on Project for the projects `actor` may see (None: all of them).

    National staff see every project, regional staff the projects of their régions; a consultant
    the projects assigned to them; a porteur the projects they are a member of; a Bureau member
    the projects at the Bureau's step.
    """
    return _visibility(
        actor.role,
        user_id=actor.user_id,
        regions=actor.regions or None,
        bureau_states=engine.bureau_states(),
    )


def _visibility(
    role: str, *, user_id: Any, regions: Any, bureau_states: Sequence[tuple[str, int, str]]
) -> Any:
    """`visibility_clause` of a role; `user_id` (None: no account) and `regions` (None:
    national) are values, or bind parameters in a statement built once (`visible_project`)."""
    if role == "staff":
        return None if regions is None else col(Project.region).in_(regions)
    if user_id is None:
        return sa.false()
    match role:
        case "consultant":
            return col(Project.consultant_id) == user_id
        case "porteur":
            return (
                select(ProjectMember.id)
                .where(ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id)
                .exists()
            )
        case "bureau":
            return _at_states(bureau_states)
    return sa.false()


def region_problem(actor: Actor, region: str | None) -> str | None:
    """Regional staff create and move projects within their régions only (else they would lose
    sight of them)."""
    if not actor.regions or region is None or region in actor.regions:
        return None
    names = ", ".join(f"« {r} »" for r in actor.regions)
    if len(actor.regions) == 1:
        return f"Votre compte est limité à la région {names} : le projet doit en être."
    return f"Votre compte est limité aux régions {names} : le projet doit être de l'une d'elles."


def at_bureau_clause(engine: Engine) -> Any:
    """SQL condition: the project is at its definition's Bureau state."""
    return _at_states(engine.bureau_states())


def _at_states(states: Sequence[tuple[str, int, str]]) -> Any:
    """SQL condition: the project is at one of these (key, version, state)."""
    return sa.or_(
        sa.false(),
        *(
            sa.and_(
                col(Project.workflow_key) == key,
                col(Project.workflow_version) == version,
                col(Project.state) == state,
            )
            for key, version, state in states
        ),
    )


def at_bureau(engine: Engine, project: Project) -> bool:
    return project.state == definition_of(engine, project).roles.bureau_state


def visible_project(session: Session, *, engine: Engine, actor: Actor, project_id: int) -> Project:
    """Load a project for `actor`; one they may not see is reported as not existing."""
    project = session.exec(visible_query(engine, actor), params=visible_params(actor, project_id))
    found = project.first()
    if found is None:
        raise NotFound("Ce projet est introuvable.")
    return found


def visible_query(engine: Engine, actor: Actor) -> SelectOfScalar[Project]:
    """`visible_project`'s statement for `actor` (`visible_params`), which a caller may read
    more beside (`project_view.visible_view`)."""
    bureau_states = tuple(engine.bureau_states()) if actor.role == "bureau" else ()
    return _visible_query(actor.role, actor.user_id is not None, bool(actor.regions), bureau_states)


def visible_params(actor: Actor, project_id: int) -> dict[str, Any]:
    return {"project_id": project_id, "user_id": actor.user_id, "regions": actor.regions}


@functools.lru_cache(maxsize=32)
def _visible_query(
    role: str, signed: bool, regional: bool, bureau_states: tuple[tuple[str, int, str], ...]
) -> SelectOfScalar[Project]:
    """`visible_project`'s statement, built once per shape of the visibility rule (its
    compilation is cached with it); parameters `project_id`, `user_id` and `regions`."""
    query = select(Project).where(col(Project.id) == sa.bindparam("project_id", type_=sa.Integer))
    visible = _visibility(
        role,
        user_id=sa.bindparam("user_id", type_=sa.Integer) if signed else None,
        regions=sa.bindparam("regions", expanding=True) if regional else None,
        bureau_states=bureau_states,
    )
    return query if visible is None else query.where(visible)


def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("Ce projet est introuvable.")
    return project


def definition_of(engine: Engine, project: Project) -> WorkflowDefinition:
    return engine.definition(project.workflow_key, project.workflow_version)


def check_if_match(project: Project, if_match: int | None) -> None:
    """Refuse early, before any work, a client that read an older version (`bump` checks too)."""
    if if_match is not None and if_match != project.version:
        raise PreconditionFailed(
            f"Le projet a changé depuis votre lecture (version {if_match}, "
            f"version actuelle {project.version}) : rechargez-le et réessayez.",
            current_version=project.version,
        )


def bump(
    session: Session,
    project: Project,
    *,
    if_match: int | None,
    relies_on_read: bool = False,
    **values: Any,
) -> None:
    """The optimistic lock: apply `values` to the project row and increment its version (the
    ETag), moving the row only from the version the writer relied on.

    That is the client's `if_match` when given (412 when it is not the current version, or
    when another writer moves the row first) and, for a change decided on what this request
    read of the project (a transition, a suspension, an assignment: `relies_on_read`), the
    version read (409 when someone else moved it first). Other changes (a stakeholder added, a
    document given) only increment it, so that colleagues adding records at once all succeed.
    """
    assert project.id is not None
    check_if_match(project, if_match)
    stmt = sa.update(Project).where(col(Project.id) == project.id)
    if if_match is not None or relies_on_read:
        stmt = stmt.where(col(Project.version) == project.version)
    # RETURNING the row refreshes `project` in the same statement (no SELECT after it).
    moved = session.execute(
        stmt.values(version=Project.version + 1, updated_at=dates.now(), **values)
        .returning(Project)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    if len(moved) != 1:
        if if_match is not None:
            raise PreconditionFailed(
                "Le projet a changé depuis votre lecture : rechargez-le et réessayez."
            )
        raise StaleVersion(
            "Le projet vient d'être modifié par quelqu'un d'autre : rechargez-le et réessayez.",
            current_version=None,
        )


def create_project(
    session: Session, *, engine: Engine, data: ProjectCreate, actor: Actor
) -> Project:
    problem = region_problem(actor, data.region)
    if problem:
        raise Invalid(problem, field="region")
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
        # Filled by the `creation` fact's subscriber (`pipeline.on_search_fact`).
        search_text="",
        # Its creator follows it until staff hand it to someone else.
        staff_owner_id=actor.user_id if actor.is_staff else None,
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
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="creation",
        to_state=project.state,
        at=now,
        data={
            "name": project.name,
            "kind": project.kind,
            "workflow": f"{definition.key} v{definition.version}",
        },
        definition=definition,
    )
    return project


def load_facts(session: Session, *, engine: Engine, project: Project) -> Facts:
    """What the criteria and the project's view read of `project`: its child rows and the
    accounts it names come in one statement (one part per collection, see `_children`)."""
    return load_facts_with(session, engine=engine, project=project)[0]


@dataclass(frozen=True)
class MoreRows:
    """More parts read in `load_facts`' statement (the project page's): `build(key)` gives
    each part's name and select of one or more entities (bound parameters: `project_id`,
    `staff_owner_id`, `consultant_id`), read in the select's order (its LIMIT kept). The
    statement is built once per `key` (the selects' shape)."""

    key: Hashable
    build: Callable[[Any], Sequence[tuple[str, Any]]]


def load_facts_with(
    session: Session, *, engine: Engine, project: Project, more: MoreRows | None = None
) -> tuple[Facts, dict[str, list[Any]]]:
    """`load_facts` and the rows of `more`'s parts (an entity per row, or a tuple of them for
    a select of several), in the same statement."""
    children = _children(session, project, more)
    facts = Facts(
        project=project,
        definition=definition_of(engine, project),
        today=dates.today(),
        stakeholders=children.pop("stakeholders"),
        board=children.pop("board"),
        attestations=children.pop("attestations"),
        documents=children.pop("documents"),
        decisions=children.pop("decisions"),
        consultant=next(iter(children.pop("consultant")), None),
        report=next(iter(children.pop("report")), None),
        deadlines=children.pop("deadlines"),
        open_pass=next(iter(children.pop("open_pass")), None),
        staff_owner=next(iter(children.pop("staff_owner")), None),
        people={u.id or 0: u for u in children.pop("people")},
    )
    return facts, children


# The parts of `_children`'s statement, in order: stakeholders, board members, attestations,
# current documents, decisions (each in its own order), the latest report, deadlines (oldest
# first), the open pass through a step (`stats`), the chargé·e de suivi, the consultant, the
# persons the milestones concern.
PARTS = (
    "stakeholders",
    "board",
    "attestations",
    "documents",
    "decisions",
    "report",
    "deadlines",
    "open_pass",
    "staff_owner",
    "consultant",
    "people",
)


# A statement of `_children`: the query, each part's name and the columns of its entities in
# the row (start, stop).
Children = tuple[Any, tuple[str, ...], tuple[tuple[int, int], ...]]


def _children(
    session: Session, project: Project, more: MoreRows | None = None
) -> dict[str, list[Any]]:
    """Each part's rows (`PARTS`, then `more`'s), in one statement (`_children_query`)."""
    query, names, columns = _children_query() if more is None else _more_query(more.key, more.build)
    found: dict[str, list[Any]] = {name: [] for name in names}
    params = {
        "project_id": project.id,
        "staff_owner_id": project.staff_owner_id,
        "consultant_id": project.consultant_id,
    }
    for row in session.execute(query, params):
        start, stop = columns[row[0]]
        entities = row[start:stop]
        if entities[0] is not None:
            found[names[row[0]]].append(entities[0] if stop - start == 1 else tuple(entities))
    return found


@functools.lru_cache(maxsize=64)
def _more_query(key: Hashable, build: Callable[[Any], Sequence[tuple[str, Any]]]) -> Children:
    """`_children_query` with `build(key)`'s parts after its own: each select a derived table
    joined to its part's row, numbered in the select's order (`row_number`) for the outer
    ORDER BY."""
    parts = build(key)
    query, names, own = _children_query(len(parts))
    columns = list(own)
    part = query.selected_columns[0]
    orders = []
    for n, (name, rows) in enumerate(parts, start=len(PARTS)):
        entities = [d["entity"] for d in rows.column_descriptions]
        rank = sa.func.row_number().over(order_by=list(rows._order_by_clauses)).label("rank")
        derived = rows.add_columns(rank).subquery(f"more_{name}")
        start = len(query.column_descriptions)
        query = query.add_columns(*(aliased(e, derived) for e in entities)).outerjoin(
            derived, part == n
        )
        columns.append((start, start + len(entities)))
        orders.append(derived.c.rank)
    return query.order_by(*orders), names + tuple(name for name, _ in parts), tuple(columns)


@functools.lru_cache(maxsize=2)
def _children_query(more: int = 0) -> Children:
    """A part number per collection, left-joined to the rows of that collection only (a part
    with no row gives a row of NULLs); built once, parameters `project_id`, `staff_owner_id`,
    `consultant_id`. `more`: that many more part numbers (`_more_query`'s). With each part's
    columns in the row: (start, stop)."""
    project_id = sa.bindparam("project_id", type_=sa.Integer)
    parts = sa.union_all(
        *(sa.select(sa.literal_column(str(n)).label("part")) for n in range(len(PARTS) + more))
    ).subquery("parts")
    part = parts.c.part
    latest_report = (
        sa.select(sa.func.max(col(ExpertiseReport.id)))
        .where(col(ExpertiseReport.project_id) == project_id)
        .scalar_subquery()
    )
    owner, consultant, person = aliased(User), aliased(User), aliased(User)
    concerned = sa.select(col(Deadline.user_id)).where(
        col(Deadline.project_id) == project_id, col(Deadline.user_id).is_not(None)
    )
    query = (
        sa.select(
            part,
            Stakeholder,
            BoardMember,
            Attestation,
            Document,
            Decision,
            ExpertiseReport,
            Deadline,
            StepPass,
            owner,
            consultant,
            person,
        )
        .select_from(parts)
        .outerjoin(Stakeholder, sa.and_(part == 0, col(Stakeholder.project_id) == project_id))
        .outerjoin(BoardMember, sa.and_(part == 1, col(BoardMember.project_id) == project_id))
        .outerjoin(Attestation, sa.and_(part == 2, col(Attestation.project_id) == project_id))
        .outerjoin(
            Document,
            sa.and_(
                part == 3,
                col(Document.project_id) == project_id,
                col(Document.superseded_by_id).is_(None),
            ),
        )
        .outerjoin(Decision, sa.and_(part == 4, col(Decision.project_id) == project_id))
        .outerjoin(ExpertiseReport, sa.and_(part == 5, col(ExpertiseReport.id) == latest_report))
        .outerjoin(Deadline, sa.and_(part == 6, col(Deadline.project_id) == project_id))
        .outerjoin(
            StepPass,
            sa.and_(
                part == 7, col(StepPass.project_id) == project_id, col(StepPass.left_at).is_(None)
            ),
        )
        .outerjoin(
            owner,
            sa.and_(part == 8, col(owner.id) == sa.bindparam("staff_owner_id", type_=sa.Integer)),
        )
        .outerjoin(
            consultant,
            sa.and_(
                part == 9, col(consultant.id) == sa.bindparam("consultant_id", type_=sa.Integer)
            ),
        )
        .outerjoin(person, sa.and_(part == 10, col(person.id).in_(concerned)))
        .order_by(
            part,
            col(Stakeholder.id),
            col(BoardMember.id),
            col(Attestation.id),
            col(Document.uploaded_at),
            col(Document.id),
            col(Decision.id),
            col(Deadline.created_at),
            col(Deadline.id),
            col(StepPass.id),
            col(person.id),
        )
    )
    return query, PARTS, tuple((n + 1, n + 2) for n in range(len(PARTS)))


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


# The labels of the `schemas.Kind` and `schemas.Initiator` values, as users read them.
KIND_LABELS = {"quartier": "Régie de Quartier", "territoire": "Régie de Territoire"}
INITIATOR_LABELS = {
    "habitants": "Les habitants",
    "collectivite": "La collectivité",
    "bailleur": "Le bailleur social",
}

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
    problems = update_problems(changes)
    problem = region_problem(actor, changes.get("region"))
    if problem:
        problems.append({"field": "region", "message": problem})
    owner = None
    if changes.get("staff_owner_id") is not None:
        owner = session.get(User, changes["staff_owner_id"])
        region = changes.get("region") or project.region
        if (
            owner is None
            or owner.role != "staff"
            or not owner.active
            or (owner.regions and region not in owner.regions)
        ):
            problems.append({"field": "staff_owner_id", "message": STAFF_OWNER_REFUSED})
    refused = Invalid.collected(problems)
    if refused is not None:
        raise refused
    before = {k: getattr(project, k) for k in changes}
    changed = {k: v for k, v in changes.items() if v != before[k]}
    if not changed:
        return project
    bump(session, project, if_match=if_match, **changed)
    assert project.id is not None
    fact: dict[str, Any] = {"fields": {k: _jsonable(v) for k, v in changed.items()}}
    if owner is not None and "staff_owner_id" in changed:
        # The name as it was, for the history (the account may be renamed later).
        fact["staff_owner"] = {"id": owner.id, "name": owner.name}
    record_fact(session, project=project, actor=actor, kind="modification", data=fact)
    return project


STAFF_OWNER_REFUSED = "Le ou la chargé·e de suivi doit être un compte actif de l'équipe nationale."


def update_problems(changes: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every `{field, message}` the service refuses among `changes` (the fields given, already
    valid by themselves), without looking anything up: what a form checks with its own."""
    problems = [
        {"field": name, "message": "Ce champ ne peut pas être vidé."}
        for name in ("name", "communes", "region", "staff_owner_id")
        if name in changes and changes[name] is None
    ]
    today = dates.today()
    for name, message in (
        ("association_created_on", "La date de création ne peut pas être dans le futur."),
        ("charge_mission_recruited_on", "La date de recrutement ne peut pas être dans le futur."),
    ):
        day = changes.get(name)
        if day and day > today:
            problems.append({"field": name, "message": message})
    return problems


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
) -> Project:
    """Fire one action: the project's new state and its `transition` fact, in the caller's
    transaction; what follows from it (deadlines, the consultant's assignment, the report, the
    Bureau's decision) is done by the subscribers of that fact."""
    check_if_match(project, if_match)
    definition = definition_of(engine, project)
    action_def = _known_action(definition, action)
    if project.suspended:
        raise Suspended("Le projet est suspendu : aucune action n'est possible avant sa reprise.")
    target = _target_of(engine, definition, project, action_def)
    comment = (comment or "").strip() or None
    if action_def.comment_required and not comment:
        raise CommentRequired(
            f"Un commentaire est requis pour l'action « {action_def.label} ».", field="comment"
        )
    _require_criteria(session, engine, project, action_def)
    now = dates.now()
    source = project.state
    values: dict[str, Any] = {"state": target, "entered_state_at": now}
    if definition.is_final(target):
        # A closed project needs no consultant: their access ends with the project.
        values["consultant_id"] = None
    # Conditional on the version read above: of two concurrent requests, only one moves it.
    bump(session, project, if_match=if_match, relies_on_read=True, **values)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="transition",
        action=action,
        from_state=source,
        to_state=target,
        comment=comment,
        at=now,
        definition=definition,
    )
    return project


def _known_action(definition: WorkflowDefinition, action: str) -> ActionDef:
    action_def = definition.action(action)
    if action_def is None:
        known = ", ".join(a.key for a in definition.actions)
        raise Invalid(f"Action inconnue « {action} » (actions connues : {known}).", field="action")
    return action_def


def _target_of(
    engine: Engine, definition: WorkflowDefinition, project: Project, action_def: ActionDef
) -> str:
    try:
        return engine.fire(definition.key, definition.version, project.state, action_def.key)
    except ActionImpossible:
        state_label = definition.state(project.state).label
        raise ActionNotPossible(
            f"L'action « {action_def.label} » n'est pas possible depuis l'état « {state_label} »."
        ) from None


def _require_criteria(
    session: Session, engine: Engine, project: Project, action_def: ActionDef
) -> None:
    unmet = unmet_criteria(action_def.criteria, load_facts(session, engine=engine, project=project))
    if unmet:
        raise CriteriaUnmet(
            f"L'action « {action_def.label} » n'est pas encore possible : "
            f"{plural(len(unmet), 'critère non rempli', 'critères non remplis')}.",
            unmet=[{"code": u.code, "message": u.message, "by": u.by} for u in unmet],
        )


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
    bump(
        session,
        project,
        if_match=if_match,
        relies_on_read=True,
        suspended=suspend,
        suspended_at=now if suspend else None,
    )
    assert project.id is not None
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="suspension" if suspend else "reprise",
        comment=comment,
        at=now,
        data={"paused_days": paused_days} if not suspend else {},
        definition=definition,
    )
    return project


def require_open(engine: Engine, project: Project) -> None:
    if definition_of(engine, project).is_final(project.state):
        raise ProjectClosed("Ce projet est clos : il ne peut plus être modifié.")
