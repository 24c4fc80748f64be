"""Account management pages (staff administrators): list with filters, creation, changes,
deactivation and reactivation. The same services as `/api/v1/users`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import accounts
from labelflow.actors import ROLES, Actor
from labelflow.models import User
from labelflow.permissions import USERS_MANAGE
from labelflow.schemas import UserUpdate
from labelflow.web import page_views
from labelflow.web.deps import MAX_ID, ActorDep, SessionDep, permit
from labelflow.web.forms import REFUSALS, FormState, UserForm, refusal
from labelflow.web.pages import PAGE_DEPENDENCIES, render

router = APIRouter(include_in_schema=False, dependencies=[*PAGE_DEPENDENCIES, permit(USERS_MANAGE)])

UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
ACTIVE_CHOICES = {"oui": True, "non": False}
NOTICES = {
    "cree": "Le compte a été créé.",
    "enregistre": "Les changements ont été enregistrés.",
    "desactive": "Le compte est désactivé : ses sessions et ses jetons ne donnent plus accès.",
    "reactive": "Le compte est de nouveau actif.",
}


def _users_page(
    request: Request,
    session: Session,
    *,
    role: str = "",
    active: str = "",
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    role = role if role in ROLES else ""
    active = active if active in ACTIVE_CHOICES else ""
    users = page_views.users_page(session, role=role or None, active=ACTIVE_CHOICES.get(active))
    return render(
        request,
        "users.html",
        {
            "users": users,
            "filters": {"role": role, "active": active},
            "filtered": bool(role or active),
            "form": form or FormState(),
            "nav": "users",
            "json_url": "/api/v1/users" + (f"?role={role}" if role else ""),
        },
        status_code,
    )


@router.get("/users")
def users_list(
    request: Request,
    session: SessionDep,
    role: Annotated[str, Query(max_length=20)] = "",
    active: Annotated[str, Query(max_length=3)] = "",
) -> Response:
    return _users_page(request, session, role=role, active=active)


@router.post("/users")
def create_user(
    request: Request, form: Annotated[UserForm, Form()], session: SessionDep
) -> Response:
    try:
        user = accounts.create_user(session, data=form.to_create())
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _users_page(request, session, form=state, status_code=state.status)
    return RedirectResponse(f"/users/{user.id}?fait=cree", status_code=303)


def _user_page(
    request: Request,
    session: Session,
    user: User,
    *,
    form: FormState | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    linked = accounts.projects_of_member(session, user_id=user.id or 0)
    return render(
        request,
        "user.html",
        {
            "user": user,
            "form": form or FormState(),
            "notice": NOTICES.get(notice, ""),
            "projects": linked if user.role == "porteur" else [],
            "nav": "users",
            "json_url": f"/api/v1/users?role={user.role}",
        },
        status_code,
    )


@router.get("/users/{user_id}")
def user_page(request: Request, user_id: UserId, session: SessionDep, fait: str = "") -> Response:
    return _user_page(request, session, accounts.get_user(session, user_id), notice=fait)


def _change(
    request: Request,
    session: Session,
    user_id: int,
    actor: Actor,
    *,
    data: Any,
    values: dict[str, Any],
    done: str,
) -> Response:
    user = accounts.get_user(session, user_id)
    try:
        accounts.update_user(session, user=user, data=data(), actor=actor)
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, values)
        return _user_page(
            request,
            session,
            accounts.get_user(session, user_id),
            form=state,
            status_code=state.status,
        )
    return RedirectResponse(f"/users/{user_id}?fait={done}", status_code=303)


@router.post("/users/{user_id}")
def update_user(
    request: Request,
    user_id: UserId,
    form: Annotated[UserForm, Form()],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    return _change(
        request,
        session,
        user_id,
        actor,
        data=form.to_update,
        values=form.values(),
        done="enregistre",
    )


@router.post("/users/{user_id}/deactivate")
def deactivate_user(
    request: Request, user_id: UserId, session: SessionDep, actor: ActorDep
) -> Response:
    return _change(
        request,
        session,
        user_id,
        actor,
        data=lambda: UserUpdate(active=False),
        values={},
        done="desactive",
    )


@router.post("/users/{user_id}/reactivate")
def reactivate_user(
    request: Request, user_id: UserId, session: SessionDep, actor: ActorDep
) -> Response:
    return _change(
        request,
        session,
        user_id,
        actor,
        data=lambda: UserUpdate(active=True),
        values={},
        done="reactive",
    )
