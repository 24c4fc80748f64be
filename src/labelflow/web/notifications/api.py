"""Notifications in the JSON API: mine (read, read-all), my preferences, following a project."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from labelflow import notifications
from labelflow.permissions import PIPELINE_READ
from labelflow.schemas import (
    FollowingPublic,
    NotificationPublic,
    NotificationsPage,
    PreferencesIn,
    PreferencesPublic,
    ReadAllPublic,
)
from labelflow.web.deps import MAX_ID, ActorDep, ProjectDep, SessionDep, permit_on_project
from labelflow.web.notifications.present import notification_public, notifications_page
from labelflow.web.routing import api_router

router = api_router(tags=["notifications"])

NotificationId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de la notification")]


@router.get("/me/notifications", summary="Mes notifications")
def my_notifications(
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> NotificationsPage:
    rows, total, unread = notifications.list_notifications(
        session, user_id=actor.user_id or 0, limit=limit, offset=offset
    )
    return notifications_page(rows, total=total, unread=unread, limit=limit, offset=offset)


@router.post("/me/notifications/read-all", summary="Tout marquer comme lu")
def read_all(session: SessionDep, actor: ActorDep) -> ReadAllPublic:
    marked = notifications.mark_all_read(session, user_id=actor.user_id or 0)
    return ReadAllPublic(marked=marked, unread=0)


@router.post("/me/notifications/{notification_id}/read", summary="Marquer comme lue")
def read_one(
    notification_id: NotificationId, session: SessionDep, actor: ActorDep
) -> NotificationPublic:
    return notification_public(
        notifications.mark_read(
            session, user_id=actor.user_id or 0, notification_id=notification_id
        )
    )


@router.get("/me/preferences", summary="Mes préférences de notification")
def my_preferences(session: SessionDep, actor: ActorDep) -> PreferencesPublic:
    return PreferencesPublic(
        notifications=notifications.preferences_of(session, user_id=actor.user_id or 0)
    )


@router.put("/me/preferences", summary="Changer mes préférences de notification")
def update_my_preferences(
    data: PreferencesIn, session: SessionDep, actor: ActorDep
) -> PreferencesPublic:
    modes = notifications.update_preferences(
        session, user_id=actor.user_id or 0, changes=dict(data.notifications.items())
    )
    return PreferencesPublic(notifications=modes)


@router.post(
    "/projects/{project_id}/followers/me",
    summary="Suivre ce projet",
    dependencies=[permit_on_project(PIPELINE_READ)],
)
def follow(project: ProjectDep, session: SessionDep, actor: ActorDep) -> FollowingPublic:
    following = notifications.follow(session, project=project, actor=actor)
    return FollowingPublic(project_id=project.id or 0, following=following)


@router.delete(
    "/projects/{project_id}/followers/me",
    summary="Ne plus suivre ce projet",
    dependencies=[permit_on_project(PIPELINE_READ)],
)
def unfollow(project: ProjectDep, session: SessionDep, actor: ActorDep) -> FollowingPublic:
    following = notifications.unfollow(session, project=project, actor=actor)
    return FollowingPublic(project_id=project.id or 0, following=following)
