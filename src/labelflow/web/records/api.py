"""The project's file in the JSON API: its fields, stakeholders, board members, attestations."""

from __future__ import annotations

from fastapi import Response

from labelflow import projects, records
from labelflow.permissions import PROJECT_WRITE, RECORD_WRITE
from labelflow.projects import definition_of
from labelflow.schemas import (
    AttestationCreate,
    AttestationPublic,
    BoardMemberCreate,
    BoardMemberPublic,
    ProjectPublic,
    ProjectUpdate,
    StakeholderCreate,
    StakeholderPublic,
)
from labelflow.web.deps import ActorDep, EngineDep, ProjectDep, SessionDep, SubId, permit_on_project
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.projects.present import project_public
from labelflow.web.records.present import attestation_public, stakeholder_public
from labelflow.web.routing import api_router

router = api_router()


@router.patch(
    "/projects/{project_id}",
    tags=["projets"],
    summary="Modifier un projet",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def patch_project(
    data: ProjectUpdate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ProjectPublic:
    projects.update_project(
        session, project=project, data=data, actor=actor, if_match=if_match, engine=engine
    )
    set_etag(response, project.version)
    return project_public(session, engine, project, viewer=actor)


@router.get("/projects/{project_id}/stakeholders", tags=["dossier"], summary="Parties prenantes")
def list_stakeholders(project: ProjectDep, session: SessionDep) -> list[StakeholderPublic]:
    return [stakeholder_public(s) for s in records.list_stakeholders(session, project=project)]


@router.post(
    "/projects/{project_id}/stakeholders",
    status_code=201,
    tags=["dossier"],
    summary="Ajouter une partie prenante",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def add_stakeholder(
    data: StakeholderCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> StakeholderPublic:
    s = records.create_stakeholder(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    set_etag(response, project.version)
    return stakeholder_public(s)


@router.delete(
    "/projects/{project_id}/stakeholders/{stakeholder_id}",
    status_code=204,
    tags=["dossier"],
    summary="Retirer une partie prenante",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def delete_stakeholder(
    stakeholder_id: SubId,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
) -> Response:
    records.delete_stakeholder(
        session,
        engine=engine,
        project=project,
        stakeholder_id=stakeholder_id,
        actor=actor,
        if_match=if_match,
    )
    response = Response(status_code=204)
    set_etag(response, project.version)
    return response


@router.get(
    "/projects/{project_id}/board-members", tags=["dossier"], summary="Conseil d'administration"
)
def list_board(project: ProjectDep, session: SessionDep) -> list[BoardMemberPublic]:
    return [
        BoardMemberPublic.model_validate(m, from_attributes=True)
        for m in records.list_board_members(session, project=project)
    ]


@router.post(
    "/projects/{project_id}/board-members",
    status_code=201,
    tags=["dossier"],
    summary="Ajouter un membre du conseil d'administration",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def add_board_member(
    data: BoardMemberCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> BoardMemberPublic:
    m = records.create_board_member(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    set_etag(response, project.version)
    return BoardMemberPublic.model_validate(m, from_attributes=True)


@router.delete(
    "/projects/{project_id}/board-members/{member_id}",
    status_code=204,
    tags=["dossier"],
    summary="Retirer un membre du conseil d'administration",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def delete_board_member(
    member_id: SubId,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
) -> Response:
    records.delete_board_member(
        session, engine=engine, project=project, member_id=member_id, actor=actor, if_match=if_match
    )
    response = Response(status_code=204)
    set_etag(response, project.version)
    return response


@router.get("/projects/{project_id}/attestations", tags=["dossier"], summary="Attestations")
def list_attestations(
    project: ProjectDep, session: SessionDep, engine: EngineDep
) -> list[AttestationPublic]:
    definition = definition_of(engine, project)
    return [
        attestation_public(definition, a)
        for a in records.list_attestations(session, project=project)
    ]


@router.post(
    "/projects/{project_id}/attestations",
    status_code=201,
    tags=["dossier"],
    summary="Enregistrer une attestation",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def add_attestation(
    data: AttestationCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> AttestationPublic:
    a = records.create_attestation(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    set_etag(response, project.version)
    return attestation_public(definition_of(engine, project), a)
