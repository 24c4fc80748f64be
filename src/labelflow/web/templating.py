"""The pages' Jinja environment: who is signed in and what they may use in every template, the
filters and the labels shared by the templates."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from labelflow import dates, pdf
from labelflow.actors import ROLE_LABELS
from labelflow.projects import INITIATOR_LABELS, KIND_LABELS
from labelflow.settings import Settings
from labelflow.web.account.present import abilities, navigation
from labelflow.web.confirm import consequence
from labelflow.web.confirm import title as confirm_title
from labelflow.web.documents.present import filesize
from labelflow.web.notifications.present import bell_label
from labelflow.web.routing import shell
from labelflow.workflow import COLLEGE_LABELS


def _identity_context(request: Request) -> dict[str, Any]:
    """Who is signed in, what they may use, and the session's anti-forgery token for forms."""
    viewer = getattr(request.state, "viewer", None)
    counts = shell(request)
    # None: a role without messages, or a page shown before sign-in.
    unread_messages = counts.messages if counts is not None else None
    unread_notifications = counts.notifications if counts is not None else 0
    return {
        "current_user": viewer,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "navigation": navigation(viewer, unread_messages=unread_messages)
        if viewer is not None
        else None,
        "viewer_can": abilities(viewer) if viewer is not None else {},
        "unread_messages": unread_messages,
        "unread_notifications": unread_notifications,
        "bell_label": bell_label(unread_notifications),
    }


def make_templates(settings: Settings) -> Jinja2Templates:
    # No per-render stat() of every template file unless asked (LABELFLOW_TEMPLATES_AUTO_RELOAD).
    env = pdf.make_environment(settings.templates_dir, auto_reload=settings.templates_auto_reload)
    templates = Jinja2Templates(env=env, context_processors=[_identity_context])
    env.filters["filesize"] = filesize
    env.globals.update(
        college_labels=COLLEGE_LABELS,
        kind_labels=KIND_LABELS,
        initiator_labels=INITIATOR_LABELS,
        role_labels=ROLE_LABELS,
        today=dates.today,
        consequence=consequence,
        confirm_title=confirm_title,
    )
    return templates


# Drawings kept per cached value: one per distinct set of the viewer's inputs (unread counts…).
DRAWINGS_KEPT = 32


class Drawings:
    """HTML drawn from a value of a cache (`labelflow.cache`), kept with it and gone with it:
    drawn once per `key` (what else the drawing shows: a viewer's unread counts, their
    rights). Equal to any other, so that the check mode compares the cached values only."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, str] = {}

    def get(self, key: Hashable, draw: Callable[[], str]) -> str:
        drawn = self._kept.get(key)
        if drawn is None:
            drawn = draw()
            if len(self._kept) >= DRAWINGS_KEPT:
                self._kept.clear()
            self._kept[key] = drawn
        return drawn

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Drawings)

    __hash__ = None  # type: ignore[assignment]
