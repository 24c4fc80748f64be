"""The Bureau's pages: the agenda of decision files, the meetings, recusals and the decision
form of the project page. Each calls the same service as the JSON API (`api_bureau`, `api`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import bureau, dates, records, views
from labelflow.actors import Actor
from labelflow.permissions import BUREAU_MANAGE, BUREAU_READ, RECORD_WRITE, RECUSAL_DECLARE, allows
from labelflow.projects import definition_of
from labelflow.web.deps import (
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    permit,
    permit_on_project,
)
from labelflow.web.forms import (
    REFUSALS,
    DecisionForm,
    Forms,
    FormState,
    MeetingForm,
    RecusalForm,
    refusal,
)
from labelflow.web.pages import PAGE_DEPENDENCIES, render
from labelflow.web.pages_projects import submit
from labelflow.workflow import Engine

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)


# --- the agenda --------------------------------------------------------------------------------


def agenda_page(
    request: Request,
    session: Session,
    engine: Engine,
    actor: Actor,
    forms: Forms | None = None,
    status_code: int = 200,
) -> Response:
    """The decision files of the projects at the Bureau step (a Bureau member's home page)."""
    files = bureau.agenda(session)
    votes = bureau.votes_of(session, [d for f in files for d in f.decisions])
    items = []
    for file in files:
        definition = definition_of(engine, file.project)
        items.append(
            {
                "file": file,
                "summary": views.project_summary(engine, file.project, overdue=False),
                "board_summary": records.board_summary(file.board),
                "documents": views.documents_public(definition, file.documents),
                "report": (views.document_public(definition, file.report) if file.report else None),
                "decisions": [views.decision_public(d, votes[d.id or 0]) for d in file.decisions],
                "my_recusal": next(
                    (r for r in file.recusals if r.recusal.user_id == actor.user_id), None
                ),
            }
        )
    context = {
        "items": items,
        "forms": forms or Forms(),
        "nav": "home" if actor.role == "bureau" else "bureau",
        "is_member": actor.role == "bureau",
        "json_url": "/api/v1/bureau/agenda",
    }
    return render(request, "bureau_agenda.html", context, status_code)


@router.get("/bureau", dependencies=[permit(BUREAU_READ)])
def agenda(request: Request, session: SessionDep, engine: EngineDep, actor: ActorDep) -> Response:
    return agenda_page(request, session, engine, actor)


# --- meetings ----------------------------------------------------------------------------------


def meetings_page(
    request: Request,
    session: Session,
    actor: Actor,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    members = bureau.members(session)
    form = form or FormState()
    checked = {str(v) for v in form.value("attendee_ids", [])} if form.refused else set()
    return render(
        request,
        "bureau_meetings.html",
        {
            "meetings": bureau.list_meetings(session, actor=actor),
            "members": members,
            "member_choices": [(str(u.id), u.name) for u in members],
            "checked": checked,
            "form": form,
            "can_manage": allows(actor, BUREAU_MANAGE),
            "today": dates.today().isoformat(),
            "quorum_fraction": request.app.state.settings.bureau_quorum_fraction,
            "nav": "home" if actor.role == "bureau" else "bureau",
            "json_url": "/api/v1/bureau/meetings",
        },
        status_code,
    )


@router.get("/bureau/meetings", dependencies=[permit(BUREAU_READ)])
def meetings(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    return meetings_page(request, session, actor)


@router.post("/bureau/meetings", dependencies=[permit(BUREAU_MANAGE)])
def create_meeting(
    request: Request,
    form: Annotated[MeetingForm, Form()],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    try:
        data = form.to_model()
        meeting = bureau.create_meeting(
            session,
            held_on=data.held_on,
            attendee_ids=data.attendee_ids,
            chair_id=data.chair_id,
            notes=data.notes,
            actor=actor,
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return meetings_page(request, session, actor, state, state.status)
    return RedirectResponse(f"/bureau/meetings#reunion-{meeting.id}", status_code=303)


# --- on the project page: recusals and the decision --------------------------------------------


@router.post("/projects/{project_id}/recusals", dependencies=[permit_on_project(RECUSAL_DECLARE)])
def declare_recusal(
    request: Request,
    form: Annotated[RecusalForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return bureau.declare_recusal(
            session, project=project, user_id=data.user_id, reason=data.reason, actor=actor
        )

    if form.return_to == "bureau":
        # Declared from the agenda: come back to the project's decision file there.
        try:
            call()
        except REFUSALS as exc:
            session.rollback()
            state = refusal(exc, form.values())
            forms = Forms({f"recusal-{project.id}": state})
            return agenda_page(request, session, engine, actor, forms, state.status)
        return RedirectResponse(f"/bureau#dossier-{project.id}", status_code=303)
    return submit(
        request,
        session,
        engine,
        project,
        form_name="recusal",
        form=form,
        anchor="decision",
        call=call,
    )


@router.post("/projects/{project_id}/decisions", dependencies=[permit_on_project(RECORD_WRITE)])
def record_decision(
    request: Request,
    form: Annotated[DecisionForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return bureau.record_decision(
            session,
            engine=engine,
            project=project,
            meeting_id=data.meeting_id,
            outcome=data.outcome,
            motivation=data.motivation,
            votes=[(v.user_id, v.vote) for v in data.votes],
            actor=actor,
            settings=settings,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="decision",
        form=form,
        anchor="decision",
        call=call,
    )
