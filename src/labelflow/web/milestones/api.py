"""Milestones (jalons) in the JSON API: list, add, move or change, remove. Staff only write;
each change moves the project's version (`If-Match` honoured) and is a fact of the history."""

from __future__ import annotations

from fastapi import Response

from labelflow import deadlines
from labelflow.permissions import PROJECT_WRITE
from labelflow.schemas import DeadlinePublic, MilestoneCreate, MilestoneUpdate
from labelflow.web.deps import ActorDep, EngineDep, ProjectDep, SessionDep, SubId, permit_on_project
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.milestones.present import milestone_public
from labelflow.web.projects.present import milestone_views
from labelflow.web.routing import api_router

router = api_router()


@router.get("/projects/{project_id}/milestones", tags=["dossier"], summary="Jalons")
def list_milestones(
    project: ProjectDep, session: SessionDep, response: Response
) -> list[DeadlinePublic]:
    set_etag(response, project.version)
    return milestone_views(session, project)


@router.post(
    "/projects/{project_id}/milestones",
    status_code=201,
    tags=["dossier"],
    summary="Ajouter un jalon",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def add_milestone(
    data: MilestoneCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DeadlinePublic:
    milestone = deadlines.create_milestone(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    set_etag(response, project.version)
    response.headers["Location"] = f"/api/v1/projects/{project.id}/milestones/{milestone.id}"
    return milestone_public(session, project, milestone)


@router.patch(
    "/projects/{project_id}/milestones/{milestone_id}",
    tags=["dossier"],
    summary="Déplacer ou modifier un jalon",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def update_milestone(
    milestone_id: SubId,
    data: MilestoneUpdate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DeadlinePublic:
    milestone = deadlines.update_milestone(
        session,
        engine=engine,
        project=project,
        milestone_id=milestone_id,
        data=data,
        actor=actor,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return milestone_public(session, project, milestone)


@router.delete(
    "/projects/{project_id}/milestones/{milestone_id}",
    status_code=204,
    tags=["dossier"],
    summary="Supprimer un jalon",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def delete_milestone(
    milestone_id: SubId,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
) -> Response:
    deadlines.delete_milestone(
        session,
        engine=engine,
        project=project,
        milestone_id=milestone_id,
        actor=actor,
        if_match=if_match,
    )
    response = Response(status_code=204)
    set_etag(response, project.version)
    return response
