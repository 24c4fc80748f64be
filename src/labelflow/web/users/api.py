"""Accounts (administrators) and the porteurs linked to a project, in the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from labelflow import accounts
from labelflow.permissions import MEMBERS_MANAGE, USERS_MANAGE
from labelflow.schemas import MemberAdd, Role, UserCreate, UserPublic, UserUpdate
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    permit,
    permit_on_project,
)
from labelflow.web.routing import api_router
from labelflow.web.users.present import user_public

router = api_router()

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du compte")]


@router.get("/users", tags=["comptes"], summary="Comptes", dependencies=[permit(USERS_MANAGE)])
def list_users(
    session: SessionDep, role: Annotated[Role | None, Query()] = None
) -> list[UserPublic]:
    return [user_public(u) for u in accounts.list_users(session, role=role)]


@router.post(
    "/users",
    status_code=201,
    tags=["comptes"],
    summary="Créer un compte",
    dependencies=[permit(USERS_MANAGE)],
)
def create_user(
    data: UserCreate, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> UserPublic:
    # Without a password, the person is e-mailed an invitation to choose one.
    return user_public(accounts.create_user(session, data=data, actor=actor, invitation=settings))


@router.patch(
    "/users/{user_id}",
    tags=["comptes"],
    summary="Modifier ou désactiver un compte",
    dependencies=[permit(USERS_MANAGE)],
)
def update_user(
    user_id: UserId, data: UserUpdate, session: SessionDep, actor: ActorDep
) -> UserPublic:
    user = accounts.get_user(session, user_id)
    return user_public(accounts.update_user(session, user=user, data=data, actor=actor))


@router.get(
    "/projects/{project_id}/members",
    tags=["comptes"],
    summary="Porteurs liés au projet",
    dependencies=[permit_on_project(MEMBERS_MANAGE)],
)
def list_members(project: ProjectDep, session: SessionDep) -> list[UserPublic]:
    return [user_public(u) for u in accounts.list_members(session, project=project)]


@router.post(
    "/projects/{project_id}/members",
    status_code=201,
    tags=["comptes"],
    summary="Lier un porteur au projet",
    dependencies=[permit_on_project(MEMBERS_MANAGE)],
)
def add_member(
    data: MemberAdd, project: ProjectDep, session: SessionDep, actor: ActorDep
) -> UserPublic:
    return user_public(
        accounts.create_member(session, project=project, user_id=data.user_id, actor=actor)
    )


@router.delete(
    "/projects/{project_id}/members/{user_id}",
    status_code=204,
    tags=["comptes"],
    summary="Retirer un porteur du projet",
    dependencies=[permit_on_project(MEMBERS_MANAGE)],
)
def remove_member(
    user_id: UserId, project: ProjectDep, session: SessionDep, actor: ActorDep
) -> Response:
    accounts.delete_member(session, project=project, user_id=user_id, actor=actor)
    return Response(status_code=204)
