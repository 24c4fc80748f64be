"""The Bureau's pages: the agenda of decision files, the meetings, and on the project page the
recusals and the decision form. Each calls the same service as the JSON API (`bureau.api`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from labelflow import bureau, decisions
from labelflow.actors import Actor
from labelflow.permissions import BUREAU_MANAGE, BUREAU_READ, RECORD_WRITE, RECUSAL_DECLARE
from labelflow.web.bureau.present import agenda_page, meetings_page
from labelflow.web.confirm import NOTICES, ask, confirmed, hidden_fields
from labelflow.web.deps import (
    MAX_ID,
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
    MeetingAttendanceForm,
    MeetingCancelForm,
    MeetingForm,
    MeetingMoveForm,
    RecusalForm,
    refusal,
)
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router, render

router = page_router()

MeetingId = Annotated[int, Path(ge=1, le=MAX_ID)]


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
    forms: Forms | None = None,
    status_code: int = 200,
    notice: str = "",
) -> Response:
    state = request.app.state
    context = meetings_page(session, state.settings, state.workflows, actor, forms)
    context["notice"] = notice
    return render(request, "bureau_meetings.html", context, status_code)


# What the last action on a meeting did, told at the top of the meetings page.
MEETING_NOTICES = {
    "convoquee": "La séance est convoquée : les membres du Bureau en sont avertis.",
    "deplacee": "La séance est déplacée : les membres du Bureau en sont avertis.",
    "annulee": "La séance est annulée : les membres du Bureau en sont avertis.",
    "tenue": "La présence et la présidence de la séance sont enregistrées.",
}


@router.get("/bureau/meetings", dependencies=[permit(BUREAU_READ)])
def meetings(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    fait: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _meetings(request, session, actor, notice=MEETING_NOTICES.get(fait, ""))


@router.post("/bureau/meetings", dependencies=[permit(BUREAU_MANAGE)])
def create_meeting(
    request: Request,
    form: Annotated[MeetingForm, Form()],
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    name = "convene" if form.convening else "meeting"
    try:
        data = form.to_model()
        meeting = bureau.create_meeting(
            session,
            engine=engine,
            held_on=data.held_on,
            attendee_ids=data.attendee_ids,
            chair_id=data.chair_id,
            project_ids=data.project_ids,
            notes=data.notes,
            actor=actor,
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _meetings(request, session, actor, Forms({name: state}), state.status)
    done = "?fait=convoquee" if meeting.status == bureau.CONVENED else ""
    return RedirectResponse(f"/bureau/meetings{done}#reunion-{meeting.id}", status_code=303)


def _on_meeting(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    name: str,
    meeting_id: int,
    values: dict[str, Any],
    call: Callable[[], Any],
    done: str,
) -> Response:
    """A form about one meeting: done, back to it on the page; refused, the page again with
    the form's values and reasons (`forms["<name>-<id>"]`)."""
    try:
        call()
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, values)
        forms = Forms({f"{name}-{meeting_id}": state})
        return _meetings(request, session, actor, forms, state.status)
    return RedirectResponse(f"/bureau/meetings?fait={done}#reunion-{meeting_id}", 303)


@router.post("/bureau/meetings/{meeting_id}/move", dependencies=[permit(BUREAU_MANAGE)])
def move_meeting(
    request: Request,
    meeting_id: MeetingId,
    form: Annotated[MeetingMoveForm, Form()],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return bureau.move_meeting(
            session, meeting_id=meeting_id, held_on=data.held_on, reason=data.reason, actor=actor
        )

    return _on_meeting(
        request, session, actor, name="move", meeting_id=meeting_id, values=form.values(),
        call=call, done="deplacee",
    )  # fmt: skip


@router.post("/bureau/meetings/{meeting_id}/cancel", dependencies=[permit(BUREAU_MANAGE)])
def cancel_meeting(
    request: Request,
    meeting_id: MeetingId,
    form: Annotated[MeetingCancelForm, Form()],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return bureau.cancel_meeting(
            session, meeting_id=meeting_id, reason=data.reason, actor=actor
        )

    return _on_meeting(
        request, session, actor, name="cancel", meeting_id=meeting_id, values=form.values(),
        call=call, done="annulee",
    )  # fmt: skip


@router.post("/bureau/meetings/{meeting_id}/attendance", dependencies=[permit(BUREAU_MANAGE)])
def record_attendance(
    request: Request,
    meeting_id: MeetingId,
    form: Annotated[MeetingAttendanceForm, Form()],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return bureau.record_attendance(
            session,
            meeting_id=meeting_id,
            attendee_ids=data.attendee_ids,
            chair_id=data.chair_id,
            notes=data.notes,
            actor=actor,
        )

    return _on_meeting(
        request, session, actor, name="attendance", meeting_id=meeting_id,
        values=form.values(), call=call, done="tenue",
    )  # fmt: skip


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
