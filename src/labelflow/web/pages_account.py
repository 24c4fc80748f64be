"""« Mon compte »: who is signed in, and their personal API tokens (shown once, revocable).
The same services as `/api/v1/me` and `/api/v1/me/tokens`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import accounts
from labelflow.actors import Actor
from labelflow.web.deps import MAX_ID, ActorDep, SessionDep
from labelflow.web.forms import REFUSALS, FormState, TokenForm, refusal
from labelflow.web.pages import PAGE_DEPENDENCIES, render

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _account_page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    form: FormState | None = None,
    new_token: str = "",
    status_code: int = 200,
) -> Response:
    user = accounts.get_user(session, actor.user_id or 0)
    return render(
        request,
        "account.html",
        {
            "user": user,
            "tokens": list(reversed(accounts.list_tokens(session, user_id=user.id or 0))),
            "form": form or FormState(),
            "new_token": new_token,
            "nav": "account",
            "json_url": "/api/v1/me",
        },
        status_code,
    )


@router.get("/account")
def account_page(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    return _account_page(request, session, actor)


@router.post("/account/tokens")
def create_token(
    request: Request, form: Annotated[TokenForm, Form()], session: SessionDep, actor: ActorDep
) -> Response:
    try:
        data = form.to_model()
        raw, _token = accounts.create_token(
            session, user=accounts.get_user(session, actor.user_id or 0), name=data.name
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _account_page(request, session, actor, form=state, status_code=state.status)
    # The only time the token is shown: it is stored as a digest.
    return _account_page(request, session, actor, new_token=raw, status_code=201)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: TokenId, session: SessionDep, actor: ActorDep) -> Response:
    accounts.revoke_token(session, user_id=actor.user_id or 0, token_id=token_id)
    return RedirectResponse("/account#jetons", status_code=303)
