"""Expertise assignments API: staff assign and end, the consultant declares their links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from labelflow import assignments, views
from labelflow.models import ConsultantAssignment, Project
from labelflow.permissions import ASSIGNMENT_DECLARE, RECORD_WRITE
from labelflow.projects import visible_project
from labelflow.schemas import (
    AssignmentEndIn,
    AssignmentPublic,
    ConsultantIn,
    DeclarationsIn,
    MyAssignmentPublic,
)
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    IfMatchDep,
    ProjectDep,
    SessionDep,
    current_identity,
    permit,
    permit_on_project,
)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_identity)])

AssignmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de l'affectation")]


def load_own_assignment(
    assignment_id: AssignmentId, session: SessionDep, actor: ActorDep
) -> ConsultantAssignment:
    """One of the signed-in consultant's assignments (someone else's does not exist)."""
    return assignments.assignment_of(session, assignment_id=assignment_id, actor=actor)


OwnAssignmentDep = Annotated[ConsultantAssignment, Depends(load_own_assignment)]


@dataclass
class LoadedAssignment:
    assignment: ConsultantAssignment
    project: Project


def load_assignment(
    assignment_id: AssignmentId, session: SessionDep, actor: ActorDep
) -> LoadedAssignment:
    """An assignment and its project, visible exactly when its project is."""
    assignment = assignments.get_assignment(session, assignment_id)
    project = visible_project(session, actor=actor, project_id=assignment.project_id)
    return LoadedAssignment(assignment, project)


AssignmentDep = Annotated[LoadedAssignment, Depends(load_assignment)]


def _etag(response: Response, project: Project) -> None:
    response.headers["ETag"] = f'"{project.version}"'


@router.put(
    "/projects/{project_id}/consultant",
    tags=["expertise"],
    summary="Désigner le ou la consultant·e (en attente de sa déclaration d'indépendance)",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def put_consultant(
    data: ConsultantIn,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> AssignmentPublic:
    assignment = assignments.assign(
        session,
        engine=engine,
        project=project,
        consultant_id=data.user_id,
        actor=actor,
        if_match=if_match,
    )
    _etag(response, project)
    return views.assignment_public(assignments.view_of(session, assignment))


@router.get(
    "/projects/{project_id}/assignments",
    tags=["expertise"],
    summary="Affectations de consultant·es du projet",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def list_assignments(project: ProjectDep, session: SessionDep) -> list[AssignmentPublic]:
    return [
        views.assignment_public(v) for v in assignments.list_for_project(session, project=project)
    ]


@router.post(
    "/assignments/{assignment_id}/end",
    tags=["expertise"],
    summary="Mettre fin à une affectation (l'accès du ou de la consultant·e cesse aussitôt)",
    dependencies=[permit(RECORD_WRITE)],
)
def end_assignment(
    data: AssignmentEndIn,
    loaded: AssignmentDep,
    session: SessionDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> AssignmentPublic:
    assignment = assignments.end(
        session,
        project=loaded.project,
        assignment=loaded.assignment,
        actor=actor,
        reason=data.reason,
        if_match=if_match,
    )
    _etag(response, loaded.project)
    return views.assignment_public(assignments.view_of(session, assignment))


@router.get(
    "/me/assignments",
    tags=["expertise"],
    summary="Mes affectations (consultant·e)",
    dependencies=[permit(ASSIGNMENT_DECLARE)],
)
def my_assignments(session: SessionDep, actor: ActorDep) -> list[MyAssignmentPublic]:
    return [
        views.my_assignment_public(v) for v in assignments.list_for_consultant(session, actor=actor)
    ]


@router.post(
    "/assignments/{assignment_id}/declaration",
    tags=["expertise"],
    summary="Déclarer mes liens avec chaque partie prenante du projet",
    dependencies=[permit(ASSIGNMENT_DECLARE)],
)
def declare(
    data: DeclarationsIn, assignment: OwnAssignmentDep, session: SessionDep, actor: ActorDep
) -> AssignmentPublic:
    """Any declared link refuses the assignment (`status: refusee`, `explanation` says why);
    none makes it active: the project becomes visible to the consultant."""
    assignments.declare(session, assignment=assignment, actor=actor, declarations=data.declarations)
    return views.assignment_public(assignments.view_of(session, assignment))
