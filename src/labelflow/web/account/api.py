"""The signed-in account in the JSON API: who it is, its password, its personal API tokens; and,
before any sign-in, the invitation and password-reset links (`public_router`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from labelflow import accounts
from labelflow.schemas import (
    LinkConfirm,
    PasswordChange,
    PasswordResetAsk,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserPublic,
)
from labelflow.web.account.present import RESET_ASKED, client_address, token_public
from labelflow.web.deps import MAX_ID, IdentityDep, SessionDep, SettingsDep
from labelflow.web.routing import API_PREFIX, api_router
from labelflow.web.users.present import user_public

router = api_router()

TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du jeton")]


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


@router.put(
    "/me/password",
    status_code=204,
    tags=["comptes"],
    summary="Changer mon mot de passe",
    responses={422: {"description": "Mot de passe actuel incorrect, ou nouveau trop faible"}},
)
def change_my_password(
    data: PasswordChange,
    request: Request,
    identity: IdentityDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The current password is required; every other web session of the account ends (the one
    calling stays signed in), its API tokens stay valid."""
    refused = accounts.change_password(
        session,
        user=identity.user,
        current_password=data.current_password,
        new_password=data.new_password,
        address=request.client.host if request.client else "inconnue",
        settings=settings,
        keep_session_id=identity.web_session.id if identity.web_session else None,
    )
    if refused is not None:
        # Answered, not raised: the failed attempt it counts is committed with the request.
        return JSONResponse(refused.body(), status_code=refused.status)
    return Response(status_code=204)


# --- before any sign-in: invitation and password-reset links ------------------------------------

public_router = APIRouter(prefix=API_PREFIX, tags=["comptes"])


@public_router.post(
    "/auth/password-reset",
    status_code=202,
    summary="Mot de passe oublié : recevoir un lien par courriel",
)
def ask_password_reset(
    data: PasswordResetAsk, request: Request, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    # The same answer whether the address has an account or not.
    accounts.request_password_reset(
        session, email=data.email, address=client_address(request), settings=settings
    )
    return {"message": RESET_ASKED}


@public_router.post(
    "/auth/password-reset/confirm",
    status_code=204,
    summary="Choisir un nouveau mot de passe avec le lien reçu",
)
def confirm_password_reset(data: LinkConfirm, session: SessionDep) -> Response:
    accounts.confirm_link(
        session, raw_token=data.token, purpose=accounts.RESET, new_password=data.new_password
    )
    return Response(status_code=204)


@public_router.post(
    "/auth/invitation/confirm",
    status_code=204,
    summary="Choisir son mot de passe avec le lien d'invitation",
)
def confirm_invitation(data: LinkConfirm, session: SessionDep) -> Response:
    accounts.confirm_link(
        session, raw_token=data.token, purpose=accounts.INVITATION, new_password=data.new_password
    )
    return Response(status_code=204)
