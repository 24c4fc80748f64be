"""Notification pages: « Notifications » (newest first, each opened through a route that marks
it read), « Tout marquer comme lu », the preferences form of « Mon compte », and « Suivre ce
projet » on the project page. The same services as `notifications.api`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from labelflow import notifications
from labelflow.db import transaction
from labelflow.errors import Invalid
from labelflow.permissions import PIPELINE_READ
from labelflow.web.deps import MAX_ID, ActorDep, ProjectDep, SessionDep, permit_on_project
from labelflow.web.forms import PreferencesForm
from labelflow.web.notifications.present import page_context
from labelflow.web.routing import page_router, render

router = page_router()

NotificationId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _internal(url: str) -> str:
    """Only a path of this site: a notification's link never leads elsewhere."""
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/notifications"


@router.get("/notifications")
def notifications_page(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    context = page_context(session, actor, page=page)
    context["done"] = request.query_params.get("fait") == "tout_lu"
    return render(request, "notifications.html", context)


@router.get("/notifications/{notification_id}")
def open_notification(
    request: Request, notification_id: NotificationId, actor: ActorDep
) -> Response:
    """Opening a notification (a plain link) marks it read, then leads to what it is about.

    A GET request's session does not take SQLite's write lock: the mark is written in a short
    transaction of its own, as the sessions' « last seen » is (`deps._touch_later`)."""
    with transaction(request.app.state.db) as own:
        notification = notifications.mark_read(
            own, user_id=actor.user_id or 0, notification_id=notification_id
        )
    return RedirectResponse(_internal(notification.url), status_code=303)


@router.post("/notifications/read-all")
def read_all(session: SessionDep, actor: ActorDep) -> Response:
    notifications.mark_all_read(session, user_id=actor.user_id or 0)
    return RedirectResponse("/notifications?fait=tout_lu", status_code=303)


@router.post("/account/preferences")
def save_preferences(
    form: Annotated[PreferencesForm, Form()], session: SessionDep, actor: ActorDep
) -> Response:
    # The form offers only valid choices: a refusal means a forged or outdated form, shown as
    # an error page (422) with the reason; nothing is stored.
    try:
        data = form.to_model()
    except ValidationError:
        raise Invalid(
            "Choix non reconnu : rechargez la page « Mon compte » et choisissez parmi : "
            + ", ".join(notifications.MODE_LABELS.values())
            + "."
        ) from None
    notifications.update_preferences(
        session, user_id=actor.user_id or 0, changes=dict(data.notifications.items())
    )
    return RedirectResponse("/account?fait=preferences#preferences", status_code=303)


@router.post("/projects/{project_id}/follow", dependencies=[permit_on_project(PIPELINE_READ)])
def follow(project: ProjectDep, session: SessionDep, actor: ActorDep) -> Response:
    notifications.follow(session, project=project, actor=actor)
    return RedirectResponse(f"/projects/{project.id}?fait=projet_suivi", status_code=303)


@router.post("/projects/{project_id}/unfollow", dependencies=[permit_on_project(PIPELINE_READ)])
def unfollow(project: ProjectDep, session: SessionDep, actor: ActorDep) -> Response:
    notifications.unfollow(session, project=project, actor=actor)
    return RedirectResponse(f"/projects/{project.id}?fait=projet_plus_suivi", status_code=303)
