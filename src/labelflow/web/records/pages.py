"""The project's file, pages side: the forms of its fields, stakeholders, board members and
attestations on the project page. Each calls the same service as the JSON API
(`records.api`) and comes back to its section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from labelflow import projects, records
from labelflow.actors import Actor
from labelflow.models import Project
from labelflow.permissions import PROJECT_WRITE, RECORD_WRITE
from labelflow.web.deps import ActorDep, EngineDep, ProjectDep, SessionDep, SubId, permit_on_project
from labelflow.web.forms import (
    AttestationForm,
    BoardMemberForm,
    PageForm,
    ProjectEditForm,
    StaffOwnerForm,
    StakeholderForm,
)
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router
from labelflow.workflow import Engine

router = page_router()


@router.post("/projects/{project_id}/edit", dependencies=[permit_on_project(PROJECT_WRITE)])
def edit_project(
    request: Request,
    form: Annotated[ProjectEditForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _update_project(
        request,
        session,
        engine,
        project,
        actor,
        form,
        form_name="edit",
        anchor="informations",
        done="projet_modifie",
    )


@router.post("/projects/{project_id}/staff-owner", dependencies=[permit_on_project(PROJECT_WRITE)])
def change_staff_owner(
    request: Request,
    form: Annotated[StaffOwnerForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _update_project(
        request,
        session,
        engine,
        project,
        actor,
        form,
        form_name="staff-owner",
        anchor="suivi",
        done="suivi_change",
    )


def _update_project(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    actor: Actor,
    form: ProjectEditForm | StaffOwnerForm,
    *,
    form_name: str,
    anchor: str,
    done: str,
) -> Response:
    """A form changing project fields (its details, its chargé·e de suivi)."""

    def call() -> Any:
        return projects.update_project(
            session,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
            engine=engine,
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=form_name,
        form=form,
        anchor=anchor,
        call=call,
        done=done,
    )


@router.post("/projects/{project_id}/stakeholders", dependencies=[permit_on_project(RECORD_WRITE)])
def add_stakeholder(
    request: Request,
    form: Annotated[StakeholderForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.create_stakeholder(
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
        form_name="stakeholder",
        form=form,
        anchor="parties-prenantes",
        call=call,
        done="partie_prenante_ajoutee",
    )


@router.post(
    "/projects/{project_id}/stakeholders/{stakeholder_id}/delete",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def delete_stakeholder(
    request: Request,
    stakeholder_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        records.delete_stakeholder(
            session,
            engine=engine,
            project=project,
            stakeholder_id=stakeholder_id,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="stakeholder",
        form=form,
        anchor="parties-prenantes",
        call=call,
        done="partie_prenante_retiree",
        ask_first="stakeholder_delete",
    )


@router.post("/projects/{project_id}/board-members", dependencies=[permit_on_project(RECORD_WRITE)])
def add_board_member(
    request: Request,
    form: Annotated[BoardMemberForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.create_board_member(
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
        form_name="board",
        form=form,
        anchor="conseil",
        call=call,
        done="membre_ajoute",
    )


@router.post(
    "/projects/{project_id}/board-members/{member_id}/delete",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def delete_board_member(
    request: Request,
    member_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        records.delete_board_member(
            session,
            engine=engine,
            project=project,
            member_id=member_id,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="board",
        form=form,
        anchor="conseil",
        call=call,
        done="membre_retire",
        ask_first="board_delete",
    )


@router.post("/projects/{project_id}/attestations", dependencies=[permit_on_project(RECORD_WRITE)])
def add_attestation(
    request: Request,
    form: Annotated[AttestationForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.create_attestation(
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
        form_name="attestation",
        form=form,
        anchor="attestations",
        call=call,
        done="attestation_enregistree",
    )
