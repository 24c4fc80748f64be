"""The Bureau as shown: decisions and their votes, meetings, recusals, the agenda of decision
files (JSON and page), and the project page's « Décision du Bureau » section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from labelflow import bureau, dates, decisions, governance, label
from labelflow.actors import Actor
from labelflow.french import plural
from labelflow.models import Decision, Document, Project, User
from labelflow.permissions import BUREAU_MANAGE, BUREAU_READ, RECORD_WRITE, allows
from labelflow.projects import at_bureau, definition_of
from labelflow.schemas import (
    AgendaDocument,
    AgendaEntryPublic,
    AgendaItem,
    DecisionPublic,
    DocumentPublic,
    MeetingDecisionPublic,
    MeetingPublic,
    PersonPublic,
    RecusalPublic,
    VotePublic,
)
from labelflow.settings import Settings
from labelflow.web.documents.present import document_public, documents_public
from labelflow.web.forms import Forms
from labelflow.web.projects.present import project_summary
from labelflow.workflow import Engine

DECISION_LABELS = {
    "attribution": "Attribution du label",
    "refus": "Refus du label",
    "ajournement": "Ajournement",
}
VOTE_CHOICES = [("pour", "Pour"), ("contre", "Contre"), ("abstention", "Abstention")]


def decision_public(d: Decision, votes: Sequence[tuple[int, str, str]] = ()) -> DecisionPublic:
    """`votes`: (user id, name, vote) of each member who voted (see `decisions.votes_of`)."""
    return DecisionPublic(
        id=d.id or 0,
        meeting_id=d.meeting_id,
        meeting_on=d.meeting_on,
        outcome=d.outcome,
        motivation=d.motivation,
        votes_for=d.votes_for,
        votes_against=d.votes_against,
        votes_abstain=d.votes_abstain,
        votes=[VotePublic(user_id=uid, name=name, vote=vote) for uid, name, vote in votes],
        recorded_by=d.recorded_by,
        recorded_at=d.recorded_at,
    )


def _person(user_id: int | None, name: str) -> PersonPublic:
    return PersonPublic(user_id=user_id or 0, name=name)


def meeting_public(view: bureau.MeetingView) -> MeetingPublic:
    m = view.meeting
    return MeetingPublic(
        id=view.id,
        held_on=m.held_on,
        status=m.status,
        agenda=[
            AgendaEntryPublic(
                project_id=p.id or 0, project_name=p.name, url=bureau.decision_file_url(p)
            )
            for p in view.agenda
        ],
        cancel_reason=m.cancel_reason,
        chair=_person(view.chair.id, view.chair.name) if view.chair else None,
        bureau_size=m.bureau_size,
        attendees=[_person(u.id, u.name) for u in view.attendees],
        notes=m.notes,
        created_by=m.created_by,
        created_at=m.created_at,
        decisions=[
            MeetingDecisionPublic(
                decision_id=d.id or 0,
                project_id=p.id or 0,
                project_name=p.name,
                outcome=d.outcome,
            )
            for d, p in view.decisions
        ],
    )


def recusal_public(view: bureau.RecusalView) -> RecusalPublic:
    r = view.recusal
    return RecusalPublic(
        id=r.id or 0,
        project_id=r.project_id,
        user_id=r.user_id,
        name=view.user.name,
        reason=r.reason,
        pass_started_at=r.pass_started_at,
        current=view.current,
        declared_by=r.declared_by,
        declared_at=r.declared_at,
    )


def _agenda_item(
    engine: Engine, file: bureau.DecisionFile, votes: dict[int, list[tuple[int, str, str]]]
) -> AgendaItem:
    project: Project = file.project
    definition = definition_of(engine, project)

    def document(d: Document) -> AgendaDocument:
        public = document_public(definition, d)
        return AgendaDocument(
            id=public.id,
            type=public.type,
            type_label=public.type_label,
            filename=public.filename,
            download_url=public.download_url,
        )

    report = file.report
    return AgendaItem(
        project=project_summary(engine, project, overdue=False),
        association_name=project.association_name,
        rna_number=project.rna_number,
        board_summary=governance.board_summary(file.board),
        board=[
            {"name": m.name, "college": m.college, "is_president": m.is_president}
            for m in file.board
        ],
        report=document(report) if report else None,
        report_url=f"/api/v1/projects/{project.id}/report.pdf" if file.expertise else None,
        documents=[document(d) for d in file.documents],
        recusals=[recusal_public(r) for r in file.recusals],
        decisions=[decision_public(d, votes[d.id or 0]) for d in file.decisions],
    )


def agenda_public(session: Session, engine: Engine, actor: Actor) -> list[AgendaItem]:
    """The agenda in the JSON API: the decision files of the projects at the Bureau step."""
    files = bureau.list_decision_files(session, engine=engine, actor=actor)
    votes = decisions.list_votes(session, [d for f in files for d in f.decisions])
    return [_agenda_item(engine, f, votes) for f in files]


def agenda_page(
    session: Session, engine: Engine, actor: Actor, forms: Forms | None = None
) -> dict[str, Any]:
    """The agenda page (a Bureau member's home page), refused forms shown again (`forms`)."""
    files = bureau.list_decision_files(session, engine=engine, actor=actor)
    votes = decisions.list_votes(session, [d for f in files for d in f.decisions])
    items = []
    for file in files:
        definition = definition_of(engine, file.project)
        items.append(
            {
                "file": file,
                "summary": project_summary(engine, file.project, overdue=False),
                "board_summary": governance.board_summary(file.board),
                "documents": documents_public(definition, file.documents),
                "report": (document_public(definition, file.report) if file.report else None),
                "decisions": [decision_public(d, votes[d.id or 0]) for d in file.decisions],
                "my_recusal": next(
                    (r for r in file.recusals if r.recusal.user_id == actor.user_id), None
                ),
            }
        )
    return {
        "items": items,
        "forms": forms or Forms(),
        "nav": "home" if actor.role == "bureau" else "bureau",
        "is_member": actor.role == "bureau",
        "outcome_labels": decisions.OUTCOME_LABELS,
        "json_url": "/api/v1/bureau/agenda",
    }


def meetings_page(
    session: Session,
    settings: Settings,
    engine: Engine,
    actor: Actor,
    forms: Forms | None = None,
) -> dict[str, Any]:
    """The Bureau's meetings (convened ones with their agenda), and for staff the forms that
    convene one, record one held, and move, cancel or record the attendance of a convened one."""
    members = bureau.list_bureau_members(session)
    forms = forms or Forms()

    def checked(name: str, field_name: str) -> set[str]:
        form = forms[name]
        return {str(v) for v in form.value(field_name, [])} if form.refused else set()

    meetings = bureau.list_meetings(session, engine=engine, actor=actor)
    waiting = bureau.list_decision_files(session, engine=engine, actor=actor)
    convening = forms["convene"]
    return {
        "meetings": meetings,
        "convened": [v for v in meetings if v.meeting.status == bureau.CONVENED],
        "status_labels": bureau.MEETING_STATUS_LABELS,
        "members": members,
        "member_choices": [(str(u.id), u.name) for u in members],
        "checked": checked("meeting", "attendee_ids"),
        "checked_of": checked,
        "form": forms["meeting"],
        "forms": forms,
        # The projects that may be put on an agenda (all checked unless a refused form says).
        "agenda_choices": [(str(f.project.id), f.project.name) for f in waiting],
        "agenda_checked": (
            checked("convene", "project_ids")
            if convening.refused
            else {str(f.project.id) for f in waiting}
        ),
        "can_manage": allows(actor, BUREAU_MANAGE),
        "today": dates.today().isoformat(),
        "today_date": dates.today(),
        "quorum_fraction": settings.bureau_quorum_fraction,
        # A Bureau member's « Réunions » entry; staff reach the meetings from « Bureau ».
        "nav": "meetings" if actor.role == "bureau" else "bureau",
        "json_url": "/api/v1/bureau/meetings",
    }


# --- the project page's section -----------------------------------------------------------------


@dataclass
class Voter:
    """A Bureau member in the decision form: a vote select, or why they do not vote."""

    user: User
    recused: bool
    reason: str = ""


def bureau_section(
    session: Session,
    engine: Engine,
    project: Project,
    actor: Actor,
    recorded: Sequence[Decision],
    votes: Mapping[int, list[tuple[int, str, str]]],
    documents_shown: Sequence[DocumentPublic],
) -> dict[str, Any]:
    """The project page's « Décision du Bureau » section: decisions with their votes (`votes`,
    `decisions.list_votes`), recusals, letters, and for staff the meetings and members of the
    decision form."""
    deliberating = at_bureau(engine, project)
    context: dict[str, Any] = {
        "decisions": [decision_public(d, votes[d.id or 0]) for d in recorded],
        "vote_labels": dict(VOTE_CHOICES),
        "letters": [d for d in documents_shown if d.type == label.LETTER_TYPE],
        # What the porteur reads: the decisions of the passes the Bureau has closed.
        "published_decisions": [
            decision_public(d, votes[d.id or 0])
            for d in recorded
            if not (deliberating and d.pass_started_at == project.entered_state_at)
            and d
            is decisions.current_decision(
                [x for x in recorded if x.pass_started_at == d.pass_started_at],
                pass_started_at=d.pass_started_at,
            )
        ],
        "recusals": [],
        "bureau_meetings": [],
        "voters": [],
        "recusal_choices": [],
        "my_recusal": None,
    }
    if not (allows(actor, BUREAU_READ) and deliberating):
        return context
    recusals = [
        r for r in bureau.list_recusals(session, engine=engine, project=project) if r.current
    ]
    recused = {r.recusal.user_id: r for r in recusals}
    context["recusals"] = recusals
    context["my_recusal"] = recused.get(actor.user_id or 0)
    if allows(actor, RECORD_WRITE):
        members = bureau.list_bureau_members(session)
        context["bureau_meetings"] = [
            (
                str(m.id),
                f"{dates.french_date(m.meeting.held_on)} — "
                f"{plural(len(m.attendees), 'présent')} sur {m.meeting.bureau_size} : "
                f"{', '.join(u.name for u in m.attendees)}",
            )
            for m in bureau.list_meetings_for(session, engine=engine, project=project)
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
