"""Accounts, pages side: the administrators' pages (list with filters, creation, changes,
deactivation and reactivation; the same services as `/api/v1/users`) and the porteurs linked
to a project, from the project page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import accounts, pipeline
from labelflow.actors import ROLES, Actor
from labelflow.models import User
from labelflow.permissions import MEMBERS_MANAGE, USERS_MANAGE
from labelflow.schemas import UserUpdate
from labelflow.web.confirm import ask, confirmed
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    SubId,
    permit,
    permit_on_project,
)
from labelflow.web.forms import REFUSALS, FormState, MemberForm, PageForm, UserForm, refusal
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router, render

router = page_router()
# The administrators' pages (the members' forms check their own permission).
ADMIN = [permit(USERS_MANAGE)]


UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
ACTIVE_CHOICES = {"oui": True, "non": False}
NOTICES = {
    "cree": "Le compte a été créé.",
    "invite": "Le compte a été créé : un courriel d'invitation lui a été envoyé, avec un lien "
    "valable 7 jours pour choisir son mot de passe.",
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
    users = accounts.list_users(session, role=role or None, active=ACTIVE_CHOICES.get(active))
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


@router.get("/users", dependencies=ADMIN)
def users_list(
    request: Request,
    session: SessionDep,
    role: Annotated[str, Query(max_length=20)] = "",
    active: Annotated[str, Query(max_length=3)] = "",
) -> Response:
    return _users_page(request, session, role=role, active=active)


@router.post("/users", dependencies=ADMIN)
def create_user(
    request: Request,
    form: Annotated[UserForm, Form()],
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> Response:
    try:
        user = accounts.create_user(
            session, data=form.to_create(), actor=actor, invitation=settings
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _users_page(request, session, form=state, status_code=state.status)
    done = "cree" if user.password_hash else "invite"
    return RedirectResponse(f"/users/{user.id}?fait={done}", status_code=303)


def _user_page(
    request: Request,
    session: Session,
    user: User,
    *,
    form: FormState | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    linked = accounts.list_member_projects(session, user_id=user.id or 0)
    return render(
        request,
        "user.html",
        {
            "user": user,
            "form": form or FormState(),
            "notice": NOTICES.get(notice, ""),
            "projects": linked if user.role == "porteur" else [],
            "known_regions": pipeline.known_regions(session),
            "nav": "users",
            "json_url": f"/api/v1/users?role={user.role}",
        },
        status_code,
    )


@router.get("/users/{user_id}", dependencies=ADMIN)
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


@router.post("/users/{user_id}", dependencies=ADMIN)
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


@router.post("/users/{user_id}/deactivate", dependencies=ADMIN)
def deactivate_user(
    request: Request,
    user_id: UserId,
    session: SessionDep,
    actor: ActorDep,
    confirm: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    if not confirmed(confirm):
        return ask(request, key="user_deactivate", fields=[], cancel=f"/users/{user_id}")
    return _change(
        request,
        session,
        user_id,
        actor,
        data=lambda: UserUpdate(active=False),
        values={},
        done="desactive",
    )


@router.post("/users/{user_id}/reactivate", dependencies=ADMIN)
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


@router.post("/projects/{project_id}/members", dependencies=[permit_on_project(MEMBERS_MANAGE)])
def add_member(
    request: Request,
    form: Annotated[MemberForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return accounts.create_member(
            session, project=project, user_id=form.to_model().user_id, actor=actor
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="members",
        form=form,
        anchor="porteurs",
        call=call,
        done="porteur_lie",
    )


@router.post(
    "/projects/{project_id}/members/{user_id}/delete",
    dependencies=[permit_on_project(MEMBERS_MANAGE)],
)
def remove_member(
    request: Request,
    user_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        accounts.delete_member(session, project=project, user_id=user_id, actor=actor)

    return submit(
        request,
        session,
        engine,
        project,
        form_name="members",
        form=form,
        anchor="porteurs",
        call=call,
        done="porteur_retire",
    )
