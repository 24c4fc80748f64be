"""Milestones on the project page: staff add one, move it (« Déplacer »), mark it held or open it
again, and remove it (asked first). Each form calls the same service as the JSON API
(`milestones.api`) and comes back to the deadlines section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from labelflow import deadlines
from labelflow.actors import Actor
from labelflow.models import Project
from labelflow.permissions import PROJECT_WRITE
from labelflow.web.deps import ActorDep, EngineDep, ProjectDep, SessionDep, SubId, permit_on_project
from labelflow.web.forms import MilestoneDoneForm, MilestoneForm, MilestoneMoveForm, PageForm
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router
from labelflow.workflow import Engine

router = page_router()
ANCHOR = "echeances"


@router.post("/projects/{project_id}/milestones", dependencies=[permit_on_project(PROJECT_WRITE)])
def add_milestone(
    request: Request,
    form: Annotated[MilestoneForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return deadlines.create_milestone(
            session,
            engine=engine,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="milestone",
        form=form,
        anchor=ANCHOR,
        call=call,
        done="jalon_ajoute",
    )


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/move",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def move_milestone(
    request: Request,
    milestone_id: SubId,
    form: Annotated[MilestoneMoveForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _update(
        request, session, engine, project, actor, milestone_id, form, done="jalon_deplace"
    )


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/done",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def mark_milestone(
    request: Request,
    milestone_id: SubId,
    form: Annotated[MilestoneDoneForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    done = "jalon_tenu" if form.done.strip() == "1" else "jalon_rouvert"
    return _update(request, session, engine, project, actor, milestone_id, form, done=done)


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/delete",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def delete_milestone(
    request: Request,
    milestone_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        deadlines.delete_milestone(
            session,
            engine=engine,
            project=project,
            milestone_id=milestone_id,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"milestone-{milestone_id}",
        form=form,
        anchor=ANCHOR,
        call=call,
        done="jalon_supprime",
        ask_first="milestone_delete",
    )


def _update(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    actor: Actor,
    milestone_id: int,
    form: MilestoneMoveForm | MilestoneDoneForm,
    *,
    done: str,
) -> Response:
    """A milestone's form (moved, held or reopened) through the project page's `submit`."""

    def call() -> Any:
        return deadlines.update_milestone(
            session,
            engine=engine,
            project=project,
            milestone_id=milestone_id,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"milestone-{milestone_id}",
        form=form,
        anchor=f"jalon-{milestone_id}",
        call=call,
        done=done,
    )
