"""Accounts API: the signed-in user, personal tokens, users (admins), project members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from labelflow import accounts
from labelflow.models import ApiToken, User
from labelflow.permissions import MEMBERS_MANAGE, USERS_MANAGE
from labelflow.schemas import (
    MemberAdd,
    Role,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    IdentityDep,
    ProjectDep,
    SessionDep,
    current_identity,
    permit,
    permit_on_project,
)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_identity)])

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du compte")]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du jeton")]


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


def token_public(token: ApiToken) -> TokenPublic:
    return TokenPublic.model_validate(token, from_attributes=True)


@router.get("/me", tags=["comptes"], summary="Le compte connecté")
def me(identity: IdentityDep) -> UserPublic:
    return user_public(identity.user)


@router.get("/me/tokens", tags=["comptes"], summary="Mes jetons d'API")
def my_tokens(identity: IdentityDep, session: SessionDep) -> list[TokenPublic]:
    return [token_public(t) for t in accounts.list_tokens(session, user_id=identity.user.id or 0)]


@router.post("/me/tokens", status_code=201, tags=["comptes"], summary="Créer un jeton d'API")
def create_my_token(data: TokenCreate, identity: IdentityDep, session: SessionDep) -> TokenCreated:
    raw, token = accounts.create_token(session, user=identity.user, name=data.name)
    return TokenCreated(**token_public(token).model_dump(), token=raw)


@router.delete(
    "/me/tokens/{token_id}", status_code=204, tags=["comptes"], summary="Révoquer un jeton d'API"
)
def revoke_my_token(token_id: TokenId, identity: IdentityDep, session: SessionDep) -> Response:
    accounts.revoke_token(session, user_id=identity.user.id or 0, token_id=token_id)
    return Response(status_code=204)


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
def create_user(data: UserCreate, session: SessionDep) -> UserPublic:
    return user_public(accounts.create_user(session, data=data))


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
        accounts.add_member(session, project=project, user_id=data.user_id, actor=actor)
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
    accounts.remove_member(session, project=project, user_id=user_id, actor=actor)
    return Response(status_code=204)
