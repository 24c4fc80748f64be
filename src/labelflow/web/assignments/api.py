"""Consultant assignments in the JSON API: staff assign and end, the consultant declares their
links with the project's stakeholders."""

from __future__ import annotations

from fastapi import Response

from labelflow import assignments
from labelflow.permissions import ASSIGNMENT_DECLARE, RECORD_WRITE
from labelflow.schemas import (
    AssignmentEndIn,
    AssignmentPublic,
    ConsultantIn,
    DeclarationsIn,
    MyAssignmentPublic,
)
from labelflow.web.assignments.present import assignment_public, my_assignment_public
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
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.routing import api_router

router = api_router()


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
    assignment = assignments.assign_consultant(
        session,
        engine=engine,
        project=project,
        consultant_id=data.user_id,
        actor=actor,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return assignment_public(assignments.assignment_view(session, assignment))


@router.get(
    "/projects/{project_id}/assignments",
    tags=["expertise"],
    summary="Affectations de consultant·es du projet",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def list_assignments(project: ProjectDep, session: SessionDep) -> list[AssignmentPublic]:
    return [assignment_public(v) for v in assignments.list_assignments(session, project=project)]


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
    assignment = assignments.end_assignment(
        session,
        project=loaded.project,
        assignment=loaded.assignment,
        actor=actor,
        reason=data.reason,
        if_match=if_match,
    )
    set_etag(response, loaded.project.version)
    return assignment_public(assignments.assignment_view(session, assignment))


@router.get(
    "/me/assignments",
    tags=["expertise"],
    summary="Mes affectations (consultant·e)",
    dependencies=[permit(ASSIGNMENT_DECLARE)],
)
def my_assignments(session: SessionDep, actor: ActorDep) -> list[MyAssignmentPublic]:
    return [
        my_assignment_public(v)
        for v in assignments.list_consultant_assignments(session, actor=actor)
    ]


@router.post(
    "/assignments/{assignment_id}/declaration",
    tags=["expertise"],
    summary="Déclarer mes liens avec chaque partie prenante du projet",
    dependencies=[permit(ASSIGNMENT_DECLARE)],
)
def declare(
    data: DeclarationsIn,
    assignment: OwnAssignmentDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> AssignmentPublic:
    """Any declared link refuses the assignment (`status: refusee`, `explanation` says why);
    none makes it active: the project becomes visible to the consultant."""
    assignments.declare_independence(
        session,
        engine=engine,
        assignment=assignment,
        actor=actor,
        declarations=data.declarations,
    )
    return assignment_public(assignments.assignment_view(session, assignment))
