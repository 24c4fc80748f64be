"""Projects as shown: the API shapes (summary, full project, deadlines), the labels the
templates use, the workflow page's sentences, the timeline, and each role's home page."""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from labelflow import accounts, dates, deadlines, messages, pipeline, stats
from labelflow.actors import Actor
from labelflow.cache import Cache
from labelflow.criteria import OUTCOME_LABELS, Facts
from labelflow.french import typeset
from labelflow.models import Deadline, Event, Project, User
from labelflow.pipeline import ProjectFilters, ProjectRow
from labelflow.project_view import ProjectHead, ViewState
from labelflow.projects import evaluate, load_facts
from labelflow.schemas import (
    ActionEvaluation,
    ConsultantPublic,
    DeadlinePerson,
    DeadlinePublic,
    ForecastPublic,
    ProjectListItem,
    ProjectPublic,
    ProjectSummary,
    StaffOwnerPublic,
    Unmet,
)
from labelflow.web.account.present import HOME_LABELS
from labelflow.web.documents.present import expected_documents_public
from labelflow.web.messages.present import waiting_lists
from labelflow.web.templating import Drawings
from labelflow.workflow import COLLEGE_LABELS, KNOWN_FIELDS, Criterion, Engine, WorkflowDefinition

STEP_STATUS_LABELS = {
    "done": "Terminée",
    "current": "En cours",
    "future": "À venir",
    "skipped": "Non atteinte",
}


def project_summary(engine: Engine, project: Project, *, overdue: bool) -> ProjectSummary:
    definition = engine.definition(project.workflow_key, project.workflow_version)
    step = definition.state(project.state).step
    assert project.id is not None
    return ProjectSummary(
        id=project.id,
        name=project.name,
        kind=project.kind,
        communes=project.communes,
        region=project.region,
        departement=project.departement,
        state=project.state,
        state_label=definition.state(project.state).label,
        step=None if definition.is_final(project.state) else step,
        suspended=project.suspended,
        overdue=overdue,
        version=project.version,
        created_at=project.created_at,
        entered_state_at=project.entered_state_at,
    )


def staff_owner_public(user: User | None) -> StaffOwnerPublic | None:
    return StaffOwnerPublic(id=user.id or 0, name=user.name) if user is not None else None


def list_item(engine: Engine, row: ProjectRow) -> ProjectListItem:
    """A line of the project list, with its chargé·e de suivi and forecast (loaded with it)."""
    summary = project_summary(engine, row.project, overdue=row.overdue)
    return ProjectListItem(
        **summary.model_dump(),
        staff_owner=staff_owner_public(row.staff_owner),
        forecast=forecast_public(row.forecast),
    )


def forecast_public(forecast: stats.Forecast | None) -> ForecastPublic | None:
    if forecast is None:
        return None
    return ForecastPublic(
        label_on=forecast.label_on,
        low=forecast.low,
        high=forecast.high,
        basis=forecast.basis,
        beyond_target=forecast.beyond_target,
    )


def deadline_public(
    project: Project, deadline: Deadline, people: dict[int, User], today: date
) -> DeadlinePublic:
    person = people.get(deadline.user_id) if deadline.user_id is not None else None
    return DeadlinePublic(
        id=deadline.id or 0,
        kind=deadline.kind,
        state=deadline.state,
        due_on=deadline.due_on,
        initial_due_on=deadline.initial_due_on,
        closed_on=deadline.closed_on,
        status=deadlines.deadline_status(deadline, suspended=project.suspended, today=today),
        title=deadline.title,
        user=DeadlinePerson(id=person.id or 0, name=person.name) if person is not None else None,
    )


def deadline_views(
    session: Session,
    project: Project,
    rows: Sequence[Deadline] | None = None,
    people: dict[int, User] | None = None,
) -> list[DeadlinePublic]:
    """Every deadline of the project (steps, label date, milestones), oldest first (`rows`:
    them, and `people`: the persons they concern, already loaded)."""
    assert project.id is not None
    if rows is None:
        rows = deadlines.list_deadlines(session, project=project)
    if people is None:
        people = deadlines.people_of(session, rows)
    today = dates.today()
    return [deadline_public(project, d, people, today) for d in rows]


def milestone_views(session: Session, project: Project) -> list[DeadlinePublic]:
    """The project's milestones (jalons), by date."""
    rows = deadlines.list_milestones(session, project=project)
    people = deadlines.people_of(session, rows)
    today = dates.today()
    return [deadline_public(project, d, people, today) for d in rows]


def project_public(
    session: Session,
    engine: Engine,
    project: Project,
    facts: Facts | None = None,
    *,
    viewer: Actor,
    thread: tuple[int, messages.AwaitingFrom | None] | None = None,
    figures_token: str | None = None,
) -> ProjectPublic:
    """The project as `viewer` reads it (their unread messages among it; `thread`: that count
    and who the thread waits for, and `figures_token`, the figures' token, already read)."""
    facts = facts or load_facts(session, engine=engine, project=project)
    deadline_list = deadline_views(session, project, facts.deadlines, facts.people)
    overdue = any(d.status == "en_retard" for d in deadline_list)
    summary = project_summary(engine, project, overdue=overdue)
    consultant = (
        ConsultantPublic(
            user_id=facts.consultant.id or 0,
            name=facts.consultant.name,
            email=facts.consultant.email,
        )
        if facts.consultant is not None
        else None
    )
    unread, awaiting = thread or messages.thread_summary(session, project=project, actor=viewer)
    return ProjectPublic(
        **summary.model_dump(),
        staff_owner=staff_owner_public(facts.staff_owner),
        qpv=project.qpv,
        initiator=project.initiator,
        workflow_key=project.workflow_key,
        workflow_version=project.workflow_version,
        updated_at=project.updated_at,
        association_name=project.association_name,
        rna_number=project.rna_number,
        association_created_on=project.association_created_on,
        charge_mission_recruited_on=project.charge_mission_recruited_on,
        consultant=consultant,
        label_number=project.label_number,
        label_date=project.label_date,
        network_member_since=project.network_member_since,
        deadlines=deadline_list,
        forecast=forecast_public(
            stats.forecast(
                session,
                engine=engine,
                project=project,
                open_pass=facts.open_pass,
                target=next(
                    (d.due_on for d in reversed(facts.deadlines) if d.kind == "label"), None
                ),
                token=figures_token,
            )
        ),
        expected_documents=expected_documents_public(
            facts.definition, project.state, facts.documents
        ),
        actions=[
            ActionEvaluation(
                action=a.action,
                label=a.label,
                target=a.target,
                comment_required=a.comment_required,
                allowed=a.allowed,
                # Typeset as the 409 of the same criteria is (`web.errors`): the same sentence.
                unmet=[Unmet(code=u.code, message=typeset(u.message), by=u.by) for u in a.unmet],
            )
            for a in evaluate(facts)
        ],
        unread_messages=unread,
        awaiting_reply_from=awaiting,
    )


# The project JSON but its viewer's part, per project (the same for everyone who sees it).
_project_json = Cache("projet-json", size=1024)
VIEWER_FIELDS = {"unread_messages", "awaiting_reply_from"}


def project_json(
    session: Session, engine: Engine, project: Project, *, viewer: Actor, state: ViewState
) -> bytes:
    """`project_public` as JSON, its shared part cached under the project's tokens
    (`project_view`, `state`); the viewer's unread count and who the thread waits for, read
    each time (in `state`)."""
    assert project.id is not None

    def shared() -> bytes:
        public = project_public(
            session,
            engine,
            project,
            viewer=viewer,
            thread=(0, None),
            figures_token=state.tokens.figures,
        )
        return public.model_dump_json(exclude=VIEWER_FIELDS).encode()

    return _with_viewer(_project_json.get(project.id, state.tokens.of_project, shared), state)


def cached_project_json(project: ProjectHead, state: ViewState) -> bytes | None:
    """`project_json` when its shared part is cached (no statement: the event loop may call
    it), else None."""
    body: bytes | None = _project_json.hit(project.id, state.tokens.of_project)
    return None if body is None else _with_viewer(body, state)


def _with_viewer(body: bytes, state: ViewState) -> bytes:
    own = json.dumps({"unread_messages": state.unread, "awaiting_reply_from": state.awaiting})
    return body[:-1] + b"," + own[1:].encode()


def state_label(definition: WorkflowDefinition, key: str | None) -> str:
    if key is None:
        return ""
    try:
        return definition.state(key).label
    except KeyError:
        return key


def criterion_label(definition: WorkflowDefinition, criterion: Criterion) -> str:
    """One French sentence per criterion of a definition, for the workflow page."""
    match criterion.kind:
        case "stakeholders":
            names = ", ".join(COLLEGE_LABELS[c] for c in criterion.colleges)
            return f"Parties prenantes engagées des collèges : {names}"
        case "document":
            doc = definition.document_type(criterion.type or "")
            return f"Pièce « {doc.label if doc else criterion.type} » déposée et non refusée"
        case "attestation":
            att = definition.attestation(criterion.code or "")
            return f"Attestation « {att.label if att else criterion.code} »"
        case "field":
            return (
                f"Champ « {KNOWN_FIELDS.get(criterion.field or '', criterion.field)} » "
                "renseigné et valide"
            )
        case "governance":
            return "Conseil d'administration à majorité d'habitants, présidé par un·e habitant·e"
        case "consultant_assigned":
            return "Consultant·e désigné·e pour l'expertise"
        case "expertise_report":
            return "Rapport d'expertise déposé pendant l'étape d'expertise"
        case "bureau_decision":
            outcome = OUTCOME_LABELS.get(criterion.outcome or "", criterion.outcome)
            return f"Décision du Bureau enregistrée : {outcome}"
    return criterion.kind  # pragma: no cover


@dataclass
class TimelineStep:
    number: int
    key: str
    label: str
    status: str  # done, current, future, skipped
    target_months: int | None = None
    entered: list[datetime] = field(default_factory=list)
    deadline: DeadlinePublic | None = None

    @property
    def status_label(self) -> str:
        return STEP_STATUS_LABELS[self.status]


def timeline(
    definition: WorkflowDefinition, project: ProjectPublic, history: list[Event]
) -> list[TimelineStep]:
    """`history` needs only the facts that entered a state (see `events.state_entries`)."""
    """The six steps with their entry dates (each pass) and latest due date."""
    entries: dict[str, list[datetime]] = {}
    for event in history:
        if event.to_state:
            entries.setdefault(event.to_state, []).append(event.at)
    latest: dict[str, DeadlinePublic] = {}
    for deadline in project.deadlines:  # oldest first: the last one is the current pass
        if deadline.kind == "etape" and deadline.state:
            latest[deadline.state] = deadline
    final = project.step is None
    steps = []
    for state in definition.steps():
        number = state.step or 0
        if final:
            status = "done" if state.key in entries else "skipped"
        elif number < (project.step or 0):
            status = "done"
        elif number == project.step:
            status = "current"
        else:
            status = "future"
        steps.append(
            TimelineStep(
                number,
                state.key,
                state.label,
                status,
                state.target_months,
                entries.get(state.key, []),
                latest.get(state.key),
            )
        )
    return steps


def state_choices(engine: Engine) -> list[tuple[str, str]]:
    """The states of every definition, for the project list's filter."""
    seen: dict[str, str] = {}
    for definition in engine.latest():
        for state in sorted(definition.states, key=lambda s: (s.final, s.step or 0)):
            seen.setdefault(state.key, state.label)
    return list(seen.items())


# The list's « Mes projets suivis »: the signed-in staff member's own.
MINE = "moi"


def figure_filter_labels(engine: Engine, params: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, value, what it means) of the « État du réseau » filters in `params`: shown above
    the list, and kept as hidden fields when the form is submitted again."""
    labels = {
        "started": "Commencés en {}",
        "labelled_in": "Labellisés en {}",
        "labelled_by": "Labellisés au 31 décembre {}",
        "open_at": "En cours au 31 décembre {}",
    }
    result = []
    names = {s.key: s.label for d in engine.all() for s in d.states}
    for name, text in (("reached", "Entrés dans « {} »"), ("left", "Sortis de « {} »")):
        if params.get(name):
            result.append((name, params[name], text.format(names.get(params[name], params[name]))))
    for name, text in labels.items():
        if params.get(name):
            result.append((name, params[name], text.format(params[name])))
    return result


def staff_owner_filter(actor: Actor, value: str) -> int | None:
    """The account the list's `staff_owner` filter names: « moi » or an account id."""
    if value == MINE:
        return actor.user_id
    return int(value) if value.isdecimal() and 0 < int(value) < 2**31 else None


def staff_choices(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """The chargé·e de suivi filter: « Mes projets suivis » for staff, then every active staff
    account (one query)."""
    if not actor.is_staff:
        return []  # the others' lists are short: their own, assigned or at the Bureau
    mine = [(MINE, "Mes projets suivis")] if actor.user_id else []
    return mine + staff_owner_choices(session)


def staff_owner_choices(session: Session) -> list[tuple[str, str]]:
    """Who may be a project's chargé·e de suivi: the active staff accounts."""
    return owner_choices(accounts.list_users(session, role="staff", active=True))


def owner_choices(staff: Sequence[User], region: str | None = None) -> list[tuple[str, str]]:
    """Among the active `staff` accounts, who may be the chargé·e de suivi (of a project of
    `region`: those who see it, national or of that région)."""
    return [
        (str(u.id), u.name) for u in staff if region is None or not u.regions or region in u.regions
    ]


# Who does each missing item, as the porteur reads it and as the others read it.
DONE_BY_FOR_PORTEUR = {
    "porteur": "à déposer par vous",
    "equipe": "enregistré par l'équipe nationale",
    "consultant": "rédigé par le ou la consultant·e",
    "bureau": "décidé par le Bureau",
}
DONE_BY_FOR_OTHERS = {**DONE_BY_FOR_PORTEUR, "porteur": "à déposer par le porteur de projet"}


def done_by_labels(actor: Actor) -> dict[str, str]:
    return DONE_BY_FOR_PORTEUR if actor.role == "porteur" else DONE_BY_FOR_OTHERS


@dataclass(frozen=True)
class DashboardFigures:
    """What the staff home page shows, as cached, and its content as drawn (per viewer's
    rights: the JSON link)."""

    pipeline: pipeline.Pipeline
    awaiting_porteurs: list[messages.WaitingProject]
    awaiting_staff: list[messages.WaitingProject]
    drawings: Drawings = field(default_factory=Drawings, repr=False)


def dashboard(
    session: Session, engine: Engine, actor: Actor
) -> tuple[Hashable, pipeline.Page[DashboardFigures]]:
    """The staff home page's figures: the pipeline, and the projects waiting for an answer
    (`messages`), among the projects `actor` sees; with their cache key."""

    def compute() -> DashboardFigures:
        return DashboardFigures(
            pipeline.dashboard(session, engine=engine, today=dates.today(), actor=actor),
            **waiting_lists(session, engine, actor),
        )

    # Until a fact or the day changes them (one statement when cached, the shell's counts too).
    key = ("tableau-page", *stats.scope_key(actor, engine))
    return key, pipeline.cached_page(session, key, compute, actor=actor)


def dashboard_context(figures: DashboardFigures, actor: Actor) -> dict[str, Any]:
    """The staff home page's context: each number linking to its filtered list."""
    return {
        "figures": figures,
        "pipeline": figures.pipeline,
        "awaiting_porteurs": figures.awaiting_porteurs,
        "awaiting_staff": figures.awaiting_staff,
        "regions": actor.regions,
        "json_url": "/api/v1/pipeline",
    }


# --- the home page of a role without the pipeline ----------------------------------------------

HOME_LIMIT = 50


def project_template(actor: Actor) -> str:
    """A porteur's project page is « Mon projet »: where it stands, what is missing, when."""
    return "my_project.html" if actor.role == "porteur" else "project.html"


def home_projects(session: Session, engine: Engine, actor: Actor) -> tuple[list[ProjectRow], int]:
    """The projects on the home page of a role without the pipeline (the visibility rule: a
    porteur's own, a consultant's assigned, the Bureau's at its step)."""
    return pipeline.list_projects(
        session, engine=engine, actor=actor, filters=ProjectFilters(), limit=HOME_LIMIT, offset=0
    )


def single_project_home(actor: Actor, total: int) -> bool:
    """A porteur with one project sees it at once as their home page."""
    return actor.role == "porteur" and total == 1


def role_home(engine: Engine, actor: Actor, rows: list[ProjectRow], total: int) -> dict[str, Any]:
    """The list home page of a role without the pipeline."""
    title = HOME_LABELS.get(actor.role, "Accueil")
    if actor.role == "porteur" and total > 1:
        title = "Mes projets"
    return {
        "role": actor.role,
        "title": title,
        "items": [list_item(engine, row) for row in rows],
        "total": total,
        "nav": "home",
        "json_url": "/api/v1/projects",
    }
