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

from labelflow import (
    accounts,
    assignments,
    bureau,
    dates,
    deadlines,
    documents,
    events,
    projects,
    records,
    report_document,
    views,
)
from labelflow.actors import Actor
from labelflow.criteria import OUTCOME_LABELS
from labelflow.errors import Forbidden
from labelflow.models import Decision, Event, Project, User
from labelflow.permissions import (
    ASSIGNMENT_DECLARE,
    BUREAU_MANAGE,
    BUREAU_READ,
    DOCUMENT_REVIEW,
    DOCUMENT_UPLOAD,
    MEMBERS_MANAGE,
    PIPELINE_READ,
    PROJECT_WRITE,
    RECORD_WRITE,
    RECUSAL_DECLARE,
    USERS_MANAGE,
    allows,
    require_upload,
)
from labelflow.projects import BUREAU_STATE, ProjectFilters, definition_of, load_facts
from labelflow.schemas import DeadlinePublic, DocumentPublic, ProjectPublic
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
    return doc.label if doc else documents.GENERATED_TYPE_LABELS.get(key or "", key or "")


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
            return _consultant_summary(data)
        case "membre":
            if data.get("op") == "ajout":
                return f"Compte de « {data.get('name', '')} » lié au projet."
            return f"Compte de « {data.get('name', '')} » retiré du projet."
        case "rapport":
            revision = data.get("revision")
            return {
                "brouillon": "Rédaction du rapport commencée.",
                "soumission": f"Rapport soumis (version {revision}).",
                "reouverture": f"Rapport rouvert par l'équipe nationale (version {revision}).",
            }.get(str(data.get("op")), "")
        case "decision":
            outcome = DECISION_LABELS.get(str(data.get("outcome")), "")
            text = f"{outcome}, réunion du Bureau du {_iso_date(data.get('meeting_on'))}"
            if "votes_for" in data:
                text += (
                    f" ({data.get('votes_for')} pour, {data.get('votes_against')} contre, "
                    f"{data.get('votes_abstain')} abstention(s))"
                )
            return text + "."
        case "deport":
            return f"{data.get('name', '')} se déporte : ne participe pas à la délibération."
    return ""


def _consultant_summary(data: dict[str, Any]) -> str:
    name = data.get("name", "")
    match data.get("op"):
        case "assign":
            return (
                f"{name} ({data.get('email', '')}) sollicité·e pour l'expertise : "
                "en attente de sa déclaration d'indépendance."
            )
        case "declare":
            count = int(data.get("stakeholders") or 0)
            return (
                f"{name} a déclaré ses liens avec les parties prenantes "
                f"({count} partie{'s' if count > 1 else ''} prenante{'s' if count > 1 else ''})."
            )
        case "refuse":
            linked = [f"« {n} »" for n in data.get("linked") or []]
            return (
                f"Affectation de {name} refusée : lien déclaré avec {', '.join(linked)}. "
                "Un·e autre consultant·e doit être désigné·e."
            )
        case "activate":
            email = data.get("email", "")
            return f"{name} ({email}) en charge de l'expertise : affectation active."
        case "end":
            return f"Fin de l'affectation de {name} : son accès au projet a cessé."
    # Before assignments existed, designating the consultant was one fact.
    return f"{name} ({data.get('email', '')}) désigné·e."


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
    documents_shown = views.documents_public(
        definition, documents.list_documents(session, project=project)
    )
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
        "report_card": report_document.report_card(session, engine, project, actor),
        "attestations": [views.attestation_public(definition, a) for a in facts.attestations],
        "documents": documents_shown,
        **bureau_section(session, project, actor, facts.decisions, documents_shown),
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
        "bureau": allows(actor, BUREAU_READ),
        "bureau_manage": allows(actor, BUREAU_MANAGE),
        "recusal": allows(actor, RECUSAL_DECLARE),
        "assignments": allows(actor, ASSIGNMENT_DECLARE),
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
    if can["assignments"]:
        items.append(NavItem("assignments", "/assignments", "Mes missions"))
    if can["write"]:
        items.append(NavItem("new", "/projects/new", "Nouveau projet"))
    items.append(NavItem("workflows", "/workflows", "Parcours"))
    if can["pipeline"] and can["bureau"]:
        items.append(NavItem("bureau", "/bureau", "Bureau"))
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
        "assignments": [],
        "current_assignment": None,
        "assignable": project.state in assignments.ASSIGNABLE_STATES,
    }
    if can["members"]:
        members = accounts.list_members(session, project=project)
        context["members"] = members
        context["member_choices"] = _choices(
            accounts.list_users(session, role="porteur"), exclude={m.id or 0 for m in members}
        )
    if can["records"]:
        context["consultant_choices"] = _choices(accounts.list_users(session, role="consultant"))
        context["assignments"] = assignments.list_for_project(session, project=project)
        context["current_assignment"] = next(
            (v for v in context["assignments"] if v.assignment.status in assignments.CURRENT),
            None,
        )
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


def assignments_page(session: Session, actor: Actor) -> dict[str, Any]:
    """The consultant's missions: pending ones to declare about, active ones, the others."""
    views_ = assignments.list_for_consultant(session, actor=actor)
    return {
        "pending": [v for v in views_ if v.assignment.status == "en_attente"],
        "active": [v for v in views_ if v.assignment.status == "active"],
        "past": [v for v in views_ if v.assignment.status in ("refusee", "terminee")],
        "nav": "assignments",
        "json_url": "/api/v1/me/assignments",
    }


# --- the Bureau --------------------------------------------------------------------------------

VOTE_CHOICES = [("pour", "Pour"), ("contre", "Contre"), ("abstention", "Abstention")]


@dataclass
class Voter:
    """A Bureau member in the decision form: a vote select, or why they do not vote."""

    user: User
    recused: bool
    reason: str = ""


def bureau_section(
    session: Session,
    project: Project,
    actor: Actor,
    decisions: Sequence[Decision],
    documents_shown: Sequence[DocumentPublic],
) -> dict[str, Any]:
    """The project page's « Décision du Bureau » section: decisions with their votes, recusals,
    letters, and for staff the meetings and members of the decision form."""
    votes = bureau.votes_of(session, decisions)
    at_bureau = project.state == BUREAU_STATE
    context: dict[str, Any] = {
        "decisions": [views.decision_public(d, votes[d.id or 0]) for d in decisions],
        "vote_labels": dict(VOTE_CHOICES),
        "letters": [d for d in documents_shown if d.type == bureau.LETTER_TYPE],
        # What the porteur reads: the decisions of the passes the Bureau has closed.
        "published_decisions": [
            views.decision_public(d, votes[d.id or 0])
            for d in decisions
            if not (at_bureau and d.pass_started_at == project.entered_state_at)
            and d
            is bureau.current_decision(
                [x for x in decisions if x.pass_started_at == d.pass_started_at],
                pass_started_at=d.pass_started_at,
            )
        ],
        "recusals": [],
        "bureau_meetings": [],
        "voters": [],
        "recusal_choices": [],
        "my_recusal": None,
    }
    if not (allows(actor, BUREAU_READ) and at_bureau):
        return context
    recusals = [r for r in bureau.list_recusals(session, project=project) if r.current]
    recused = {r.recusal.user_id: r for r in recusals}
    context["recusals"] = recusals
    context["my_recusal"] = recused.get(actor.user_id or 0)
    if allows(actor, RECORD_WRITE):
        members = bureau.members(session)
        context["bureau_meetings"] = [
            (
                str(m.id),
                f"{dates.french_date(m.meeting.held_on)} — {len(m.attendees)} présent(s) sur "
                f"{m.meeting.bureau_size} : {', '.join(u.name for u in m.attendees)}",
            )
            for m in bureau.meetings_for(session, project=project)
        ]
        context["voters"] = [
            Voter(u, (u.id or 0) in recused, recused[u.id or 0].recusal.reason)
            if (u.id or 0) in recused
            else Voter(u, False)
            for u in members
        ]
        context["recusal_choices"] = [
            (str(u.id), u.name) for u in members if (u.id or 0) not in recused
        ]
    return context
