"""What the pages show, built from the services' results: timeline, history lines, labels.

Loading goes through the same service functions as the JSON API; this module only arranges
their results for the templates (a fixed number of queries per page, whatever the rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from labelflow import accounts, dates, deadlines, documents, events, projects, records, views
from labelflow.actors import Actor
from labelflow.criteria import OUTCOME_LABELS
from labelflow.errors import Forbidden
from labelflow.models import Event, Project, User
from labelflow.permissions import (
    DOCUMENT_REVIEW,
    DOCUMENT_UPLOAD,
    MEMBERS_MANAGE,
    PIPELINE_READ,
    PROJECT_WRITE,
    RECORD_WRITE,
    USERS_MANAGE,
    allows,
    require_upload,
)
from labelflow.projects import BUREAU_STATE, ProjectFilters, definition_of, load_facts
from labelflow.schemas import DeadlinePublic, ProjectPublic
from labelflow.workflow import COLLEGE_LABELS, KNOWN_FIELDS, Criterion, Engine, WorkflowDefinition

KIND_LABELS = {"quartier": "Régie de Quartier", "territoire": "Régie de Territoire"}
INITIATOR_LABELS = {
    "habitants": "Les habitants",
    "collectivite": "La collectivité",
    "bailleur": "Le bailleur social",
}
FIELD_LABELS = {
    "name": "nom du projet",
    "communes": "communes",
    "region": "région",
    "departement": "département",
    "qpv": "quartiers prioritaires",
    **KNOWN_FIELDS,
}
DECISION_LABELS = {
    "attribution": "Attribution du label",
    "refus": "Refus du label",
    "ajournement": "Ajournement",
}
# The page shows the latest facts; the full history has its own page and JSON twin.
HISTORY_ON_PAGE = 30
STEP_STATUS_LABELS = {
    "done": "Terminée",
    "current": "En cours",
    "future": "À venir",
    "skipped": "Non atteinte",
}


def filesize(size: int) -> str:
    """'12,3 ko' — French decimal comma, 1 ko = 1 024 octets."""
    if size < 1024:
        return f"{size} octet{'s' if size > 1 else ''}"
    for unit in ("ko", "Mo", "Go"):
        size_f = size / 1024
        if size_f < 1024 or unit == "Go":
            return f"{size_f:.1f} {unit}".replace(".", ",")
        size = int(size_f)
    return f"{size} Go"  # pragma: no cover


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


# --- timeline ----------------------------------------------------------------------------------


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


# --- history -----------------------------------------------------------------------------------


def _doc_label(definition: WorkflowDefinition, key: str | None) -> str:
    doc = definition.document_type(key or "")
    return doc.label if doc else (key or "")


def _iso_date(value: Any) -> str:
    try:
        return dates.french_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def event_summary(definition: WorkflowDefinition, event: Event) -> str:
    """A French sentence describing one fact of the history."""
    data = event.data or {}
    college = COLLEGE_LABELS.get(str(data.get("college")), "")
    match event.kind:
        case "creation":
            return f"Projet « {data.get('name', '')} » créé (parcours {data.get('workflow', '')})."
        case "transition":
            action = definition.action(event.action or "")
            label = action.label if action else (event.action or "")
            return (
                f"{label} : de « {state_label(definition, event.from_state)} » "
                f"à « {state_label(definition, event.to_state)} »."
            )
        case "modification":
            names = [FIELD_LABELS.get(k, k) for k in data.get("fields", {})]
            return f"Champs modifiés : {', '.join(names)}."
        case "partie_prenante" | "membre_ca":
            verb = "Ajout" if data.get("op") == "ajout" else "Retrait"
            extra = " (présidence)" if data.get("is_president") else ""
            return f"{verb} de « {data.get('name', '')} », collège {college}{extra}."
        case "attestation":
            att = definition.attestation(str(data.get("code", "")))
            label = att.label if att else data.get("code", "")
            return f"Attestation « {label} » du {_iso_date(data.get('date'))}."
        case "document":
            return (
                f"« {_doc_label(definition, data.get('type'))} » : "
                f"{data.get('filename', '')} ({filesize(int(data.get('size') or 0))})."
            )
        case "revue":
            verdict = documents.REVIEW_LABELS.get(str(data.get("status")), "")
            return (
                f"« {_doc_label(definition, data.get('type'))} » "
                f"({data.get('filename', '')}) : {verdict.lower()}."
            )
        case "echeance":
            which = (
                "Date cible du label"
                if data.get("kind") == "label"
                else f"Étape « {state_label(definition, data.get('state'))} »"
            )
            return (
                f"{which} : échéance déplacée du {_iso_date(data.get('from'))} "
                f"au {_iso_date(data.get('to'))}."
            )
        case "suspension":
            return "Projet suspendu."
        case "reprise":
            days = int(data.get("paused_days") or 0)
            return f"Projet repris après {days} jour{'s' if days > 1 else ''} de suspension."
        case "consultant":
            return f"{data.get('name', '')} ({data.get('email', '')}) désigné·e."
        case "membre":
            if data.get("op") == "ajout":
                return f"Compte de « {data.get('name', '')} » lié au projet."
            return f"Compte de « {data.get('name', '')} » retiré du projet."
        case "decision":
            outcome = DECISION_LABELS.get(str(data.get("outcome")), "")
            return f"{outcome}, réunion du Bureau du {_iso_date(data.get('meeting_on'))}."
    return ""


@dataclass
class HistoryLine:
    at: datetime
    kind_label: str
    actor: str
    summary: str
    comment: str | None


def history_lines(definition: WorkflowDefinition, history: list[Event]) -> list[HistoryLine]:
    return [
        HistoryLine(
            e.at,
            events.KIND_LABELS.get(e.kind, e.kind),
            e.actor,
            event_summary(definition, e),
            e.comment,
        )
        for e in history
    ]


# --- the project page --------------------------------------------------------------------------


def project_page(
    session: Session, engine: Engine, project: Project, actor: Actor
) -> dict[str, Any]:
    """Everything the project page shows to `actor`, loaded through the services; the forms
    shown are those the actor's role may submit (`can`)."""
    assert project.id is not None
    definition = definition_of(engine, project)
    # One load of the project's records serves both the checklist and the sections.
    facts = load_facts(session, engine=engine, project=project)
    public = views.project_public(session, engine, project, facts=facts)
    # One more than shown tells whether older facts exist, without counting them.
    recent = list(events.list_events(session, project_id=project.id, newest=HISTORY_ON_PAGE + 1))
    older_exist = len(recent) > HISTORY_ON_PAGE
    recent = recent[-HISTORY_ON_PAGE:]
    entries = list(events.state_entries(session, project_id=project.id))
    steps = definition.steps()
    everywhere = {s.key for s in steps}
    return {
        "project": public,
        "definition": definition,
        "is_final": definition.is_final(project.state),
        "final_state": definition.state(project.state) if public.step is None else None,
        "current_state": definition.state(project.state),
        "step_count": len(steps),
        "timeline": timeline(definition, public, entries),
        "history": history_lines(definition, recent),
        "history_hidden": older_exist,
        "stakeholders": [views.stakeholder_public(s) for s in facts.stakeholders],
        "board": facts.board,
        "board_summary": records.board_summary(facts.board),
        "attestations": [views.attestation_public(definition, a) for a in facts.attestations],
        "documents": views.documents_public(
            definition, documents.list_documents(session, project=project)
        ),
        "decisions": [views.decision_public(d) for d in facts.decisions],
        "label_deadline": next((d for d in public.deadlines if d.kind == "label"), None),
        "deadline_status_labels": deadlines.STATUS_LABELS,
        "review_labels": documents.REVIEW_LABELS,
        "review_badges": {"accepted": "success", "rejected": "danger", "en_attente": "warning"},
        "decision_labels": DECISION_LABELS,
        "state_label": lambda key: state_label(definition, key),
        # Actions possible from every step (abandon) are shown apart from the step's own.
        "global_actions": {a.key for a in definition.actions if set(a.sources) >= everywhere},
        **_role_context(session, definition, project, actor),
    }


# --- what each role sees and may use -----------------------------------------------------------

HOME_LABELS = {"porteur": "Mon projet", "consultant": "Mes projets", "bureau": "Dossiers du Bureau"}
HOME_LIMIT = 50


@dataclass(frozen=True)
class NavItem:
    key: str
    href: str
    label: str


def abilities(actor: Actor) -> dict[str, bool]:
    """What the signed-in user may use, by name, for the templates (from `permissions`)."""
    return {
        "pipeline": allows(actor, PIPELINE_READ),
        "write": allows(actor, PROJECT_WRITE),
        "records": allows(actor, RECORD_WRITE),
        "upload": allows(actor, DOCUMENT_UPLOAD),
        "review": allows(actor, DOCUMENT_REVIEW),
        "members": allows(actor, MEMBERS_MANAGE),
        "users": allows(actor, USERS_MANAGE),
    }


def nav_items(actor: Actor) -> list[NavItem]:
    """The main navigation: only what the role may use."""
    can = abilities(actor)
    items = []
    if can["pipeline"]:
        items += [
            NavItem("dashboard", "/", "Tableau de bord"),
            NavItem("projects", "/projects", "Projets"),
        ]
    else:
        items.append(NavItem("home", "/", HOME_LABELS.get(actor.role, "Accueil")))
    if can["write"]:
        items.append(NavItem("new", "/projects/new", "Nouveau projet"))
    items.append(NavItem("workflows", "/workflows", "Parcours"))
    if can["users"]:
        items.append(NavItem("users", "/users", "Comptes"))
    if can["pipeline"]:
        items.append(NavItem("api", "/docs", "API"))
    items.append(NavItem("account", "/account", "Mon compte"))
    return items


def home_link(actor: Actor) -> tuple[str, str, str]:
    """(nav key, href, label) of the list a project page belongs to, for its breadcrumb."""
    if allows(actor, PIPELINE_READ):
        return "projects", "/projects", "Projets"
    return "home", "/", HOME_LABELS.get(actor.role, "Accueil")


def upload_types(definition: WorkflowDefinition, actor: Actor) -> list[tuple[str, str]]:
    """The document types `actor` may add (the rule itself lives in `permissions`)."""
    allowed = []
    for doc_type in definition.document_types:
        try:
            require_upload(actor, doc_type.key)
        except Forbidden:
            continue
        allowed.append((doc_type.key, doc_type.label))
    return allowed


def _choices(users: Sequence[User], *, exclude: set[int] | None = None) -> list[tuple[str, str]]:
    exclude = exclude or set()
    return [(str(u.id), f"{u.name} ({u.email})") for u in users if u.active and u.id not in exclude]


def _role_context(
    session: Session, definition: WorkflowDefinition, project: Project, actor: Actor
) -> dict[str, Any]:
    can = abilities(actor)
    nav, crumb_href, crumb_label = home_link(actor)
    context: dict[str, Any] = {
        "can": can,
        "nav": nav,
        "crumb_href": crumb_href,
        "crumb_label": crumb_label,
        "upload_types": upload_types(definition, actor) if can["upload"] else [],
        "members": [],
        "member_choices": [],
        "consultant_choices": [],
    }
    if can["members"]:
        members = accounts.list_members(session, project=project)
        context["members"] = members
        context["member_choices"] = _choices(
            accounts.list_users(session, role="porteur"), exclude={m.id or 0 for m in members}
        )
    if can["records"]:
        context["consultant_choices"] = _choices(accounts.list_users(session, role="consultant"))
    return context


def project_template(actor: Actor) -> str:
    """A porteur's project page is « Mon projet »: where it stands, what is missing, when."""
    return "my_project.html" if actor.role == "porteur" else "project.html"


def home_projects(session: Session, actor: Actor) -> tuple[list[tuple[Project, bool]], int]:
    """The projects on the home page of a role without the pipeline (the Bureau: those at its
    step; the visibility rule does the rest)."""
    filters = ProjectFilters(state=BUREAU_STATE if actor.role == "bureau" else None)
    return projects.list_projects(session, actor=actor, filters=filters, limit=HOME_LIMIT, offset=0)


def single_project_home(actor: Actor, total: int) -> bool:
    """A porteur with one project sees it at once as their home page."""
    return actor.role == "porteur" and total == 1


def role_home(
    engine: Engine, actor: Actor, rows: list[tuple[Project, bool]], total: int
) -> dict[str, Any]:
    """The list home page of a role without the pipeline."""
    title = HOME_LABELS.get(actor.role, "Accueil")
    if actor.role == "porteur" and total > 1:
        title = "Mes projets"
    query = f"?state={BUREAU_STATE}" if actor.role == "bureau" else ""
    return {
        "role": actor.role,
        "title": title,
        "items": [views.project_summary(engine, p, overdue=o) for p, o in rows],
        "total": total,
        "nav": "home",
        "json_url": "/api/v1/projects" + query,
    }


def users_page(session: Session, *, role: str | None, active: bool | None) -> list[User]:
    """The accounts shown by the users page, filtered by role and state."""
    users = accounts.list_users(session, role=role)
    return [u for u in users if active is None or u.active is active]


def history_page(session: Session, engine: Engine, project: Project) -> dict[str, Any]:
    """The whole history of a project, oldest first."""
    assert project.id is not None
    definition = definition_of(engine, project)
    summary = views.project_summary(engine, project, overdue=False)
    history = list(events.list_events(session, project_id=project.id))
    return {"project": summary, "history": history_lines(definition, history)}
