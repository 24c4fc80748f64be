"""Expertise assignments, pages side: the consultant's missions and independence declaration
(« Mes missions »), and staff ending an assignment from the project page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from labelflow import assignments
from labelflow.permissions import ASSIGNMENT_DECLARE, RECORD_WRITE
from labelflow.web import page_views
from labelflow.web.api_assignments import AssignmentDep, OwnAssignmentDep
from labelflow.web.deps import ActorDep, EngineDep, SessionDep, permit
from labelflow.web.forms import REFUSALS, AssignmentEndForm, DeclarationForm, Forms, refusal
from labelflow.web.pages import PAGE_DEPENDENCIES, render
from labelflow.web.pages_projects import submit

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)


def _missions(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    forms: Forms | None = None,
    status_code: int = 200,
) -> Response:
    context = page_views.assignments_page(session, actor)
    context["forms"] = forms or Forms()
    return render(request, "assignments.html", context, status_code)


@router.get("/assignments", dependencies=[permit(ASSIGNMENT_DECLARE)])
def missions(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    return _missions(request, session, actor)


@router.post("/assignments/{assignment_id}/declaration", dependencies=[permit(ASSIGNMENT_DECLARE)])
def declare(
    request: Request,
    form: Annotated[DeclarationForm, Form()],
    assignment: OwnAssignmentDep,
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    aid = assignment.id
    try:
        assignments.declare(
            session, assignment=assignment, actor=actor, declarations=form.to_model().declarations
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
        return assignments.end(
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
    )
