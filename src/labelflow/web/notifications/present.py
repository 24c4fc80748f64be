"""Notifications as shown: stored rows → API shapes, the page's items, the preferences form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from labelflow import notifications
from labelflow.actors import Actor
from labelflow.models import Notification
from labelflow.permissions import PIPELINE_READ, allows
from labelflow.schemas import NotificationPublic, NotificationsPage

PAGE_SIZE = 30


def notification_public(n: Notification) -> NotificationPublic:
    return NotificationPublic.model_validate(notifications.payload_of(n))


def notifications_page(
    rows: Sequence[Notification], *, total: int, unread: int, limit: int, offset: int
) -> NotificationsPage:
    return NotificationsPage(
        items=[notification_public(n) for n in rows],
        unread=unread,
        total=total,
        limit=limit,
        offset=offset,
    )


def bell_label(unread: int) -> str:
    """The bell's accessible name: « Notifications, 3 non lues »."""
    if unread == 0:
        return "Notifications, aucune non lue"
    return f"Notifications, {unread} non lue{'s' if unread > 1 else ''}"


def page_context(session: Session, actor: Actor, *, page: int) -> dict[str, Any]:
    """The « Notifications » page: newest first, `PAGE_SIZE` at a time."""
    offset = (page - 1) * PAGE_SIZE
    rows, total, unread = notifications.list_notifications(
        session, user_id=actor.user_id or 0, limit=PAGE_SIZE, offset=offset
    )
    pages = max(1, -(-total // PAGE_SIZE))
    return {
        "items": rows,
        "project_names": notifications.project_names(session, rows),
        "total": total,
        "unread": unread,
        "page": page,
        "pages": pages,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < pages else None,
        "kind_labels_notif": notifications.KINDS,
        "nav": "notifications",
        "json_url": f"/api/v1/me/notifications?limit={PAGE_SIZE}&offset={offset}",
    }


@dataclass(frozen=True)
class PreferenceRow:
    kind: str
    label: str
    mode: str
    essential: bool


def preferences_rows(session: Session, actor: Actor) -> list[PreferenceRow]:
    """One row per kind for « Mon compte », the essential ones fixed (the administrators' own
    kinds for them alone)."""
    modes = notifications.preferences_of(session, user_id=actor.user_id or 0)
    return [
        PreferenceRow(kind, label, modes[kind], kind in notifications.ESSENTIAL)
        for kind, label in notifications.KINDS.items()
        if actor.is_admin or kind not in notifications.ADMIN_KINDS
    ]


def preferences_context(session: Session, actor: Actor) -> dict[str, Any]:
    """What `_preferences.html` needs (included by « Mon compte »)."""
    return {
        "preference_rows": preferences_rows(session, actor),
        "preference_modes": notifications.MODE_LABELS,
    }


def follow_context(actor: Actor, *, following: bool) -> dict[str, Any]:
    """Whether the project page shows « Suivre ce projet » or « Ne plus suivre » (staff);
    `following`: whether `actor` follows the project (read with the view's tokens)."""
    if not allows(actor, PIPELINE_READ) or actor.user_id is None:
        return {"can_follow": False, "following": False}
    return {"can_follow": True, "following": following}
