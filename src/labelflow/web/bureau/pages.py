"""The Bureau's pages: the agenda of decision files, the meetings, and on the project page the
recusals and the decision form. Each calls the same service as the JSON API (`bureau.api`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from labelflow import bureau, decisions
from labelflow.actors import Actor
from labelflow.permissions import BUREAU_MANAGE, BUREAU_READ, RECORD_WRITE, RECUSAL_DECLARE
from labelflow.web.bureau.present import agenda_page, meetings_page
from labelflow.web.confirm import NOTICES, ask, confirmed, hidden_fields
from labelflow.web.deps import (
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    permit,
    permit_on_project,
)
from labelflow.web.errors import french_fields
from labelflow.web.forms import (
    REFUSALS,
    DecisionForm,
    Forms,
    FormState,
    MeetingForm,
    RecusalForm,
    refusal,
)
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router, render

router = page_router()


@router.get("/bureau", dependencies=[permit(BUREAU_READ)])
def agenda(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    fait: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    context = agenda_page(session, engine, actor)
    context["notice"] = NOTICES.get(fait, "")  # what the last action did (a recusal)
    return render(request, "bureau_agenda.html", context)


def _meetings(
    request: Request,
    session: Session,
    actor: Actor,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    state = request.app.state
    context = meetings_page(session, state.settings, state.workflows, actor, form)
    return render(request, "bureau_meetings.html", context, status_code)


@router.get("/bureau/meetings", dependencies=[permit(BUREAU_READ)])
def meetings(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    return _meetings(request, session, actor)


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
        return _meetings(request, session, actor, state, state.status)
    return RedirectResponse(f"/bureau/meetings#reunion-{meeting.id}", status_code=303)


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
            session,
            engine=engine,
            project=project,
            user_id=data.user_id,
            reason=data.reason,
            actor=actor,
        )

    if form.return_to == "bureau":
        # Declared from the agenda: come back to the project's decision file there.
        if not confirmed(form.confirm):
            return ask(
                request,
                key="recusal",
                fields=hidden_fields(form.model_dump()),
                cancel=f"/bureau#dossier-{project.id}",
            )
        try:
            call()
        except REFUSALS as exc:
            session.rollback()
            state = refusal(exc, form.values())
            forms = Forms({f"recusal-{project.id}": state})
            context = agenda_page(session, engine, actor, forms)
            return render(request, "bureau_agenda.html", context, state.status)
        return RedirectResponse(f"/bureau?fait=deport_declare#dossier-{project.id}", 303)
    return submit(
        request,
        session,
        engine,
        project,
        form_name="recusal",
        form=form,
        anchor="decision",
        call=call,
        done="deport_declare",
        ask_first="recusal",
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
        try:
            data = form.to_model()
        except ValidationError as exc:
            # The deliberation's own checks on the values the model accepted, so that the form
            # lists every problem at once: refused with the model's.
            decisions.deliberate(
                session,
                engine=engine,
                project=project,
                settings=settings,
                refused=french_fields(exc.errors()),
                **form.accepted(),
            )
            raise
        return decisions.record_decision(
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
        done="decision_enregistree",
    )
