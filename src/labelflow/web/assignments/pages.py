"""Consultant assignments, pages side: staff designate the consultant and end an assignment
from the project page; the consultant's missions and independence declaration (« Mes
missions »). The same services as the JSON API (`assignments.api`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from labelflow import assignments
from labelflow.permissions import ASSIGNMENT_DECLARE, RECORD_WRITE
from labelflow.web.assignments.present import missions as missions_context
from labelflow.web.deps import (
    ActorDep,
    AssignmentDep,
    EngineDep,
    OwnAssignmentDep,
    ProjectDep,
    SessionDep,
    permit,
    permit_on_project,
)
from labelflow.web.forms import (
    REFUSALS,
    AssignmentEndForm,
    ConsultantForm,
    DeclarationForm,
    Forms,
    refusal,
)
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router, render

router = page_router()


def _missions(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    forms: Forms | None = None,
    status_code: int = 200,
) -> Response:
    context = missions_context(session, actor)
    context["forms"] = forms or Forms()
    return render(request, "assignments.html", context, status_code)


@router.post("/projects/{project_id}/consultant", dependencies=[permit_on_project(RECORD_WRITE)])
def set_consultant(
    request: Request,
    form: Annotated[ConsultantForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return assignments.assign_consultant(
            session,
            engine=engine,
            project=project,
            consultant_id=form.to_model().user_id,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="consultant",
        form=form,
        anchor="consultant",
        call=call,
        done="consultant_designe",
    )


@router.get("/assignments", dependencies=[permit(ASSIGNMENT_DECLARE)])
def missions(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    return _missions(request, session, actor)


@router.post("/assignments/{assignment_id}/declaration", dependencies=[permit(ASSIGNMENT_DECLARE)])
def declare(
    request: Request,
    form: Annotated[DeclarationForm, Form()],
    assignment: OwnAssignmentDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    aid = assignment.id
    try:
        assignments.declare_independence(
            session,
            engine=engine,
            assignment=assignment,
            actor=actor,
            declarations=form.to_model().declarations,
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _missions(
            request, session, actor, Forms({f"declaration-{aid}": state}), state.status
        )
    return RedirectResponse(f"/assignments#mission-{aid}", status_code=303)


@router.post("/assignments/{assignment_id}/end", dependencies=[permit(RECORD_WRITE)])
def end(
    request: Request,
    form: Annotated[AssignmentEndForm, Form()],
    loaded: AssignmentDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return assignments.end_assignment(
            session,
            project=loaded.project,
            assignment=loaded.assignment,
            actor=actor,
            reason=form.to_model().reason,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        loaded.project,
        form_name="assignment-end",
        form=form,
        anchor="consultant",
        call=call,
        done="mission_terminee",
        ask_first="assignment_end",
    )
