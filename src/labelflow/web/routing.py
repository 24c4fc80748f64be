"""What every concept's routes share: the JSON API's router, the pages' router and their
template rendering.

JSON routes need a signed-in user (401) and each write route names its permission (403); pages
need a signed-in user too (else the login page) and their forms the anti-forgery token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from labelflow import accounts, project_view
from labelflow.web.deps import IdentityDep, SessionDep, csrf_form, current_identity

API_PREFIX = "/api/v1"


def api_router(**options: Any) -> APIRouter:
    """A router of the JSON API under /api/v1, every route behind a signed-in user."""
    return APIRouter(prefix=API_PREFIX, dependencies=[Depends(current_identity)], **options)


def remember_viewer(request: Request, identity: IdentityDep, session: SessionDep) -> None:
    """Keep a plain snapshot of who is signed in for the templates: an error page is rendered
    after the request's database session is rolled back and closed, when the row is unusable.
    With it, what the shell counts (the bell's unread notifications, the navigation's unread
    messages: `project_view.shell_counts`, one statement)."""
    actor = accounts.actor_of(identity.user)
    request.state.viewer = actor
    counts = project_view.shell_counts(session, actor=actor)
    request.state.unread_notifications = counts.notifications
    request.state.unread_messages = counts.messages
    web_session = identity.web_session
    request.state.csrf_token = web_session.csrf_token if web_session is not None else ""


# Pages need a signed-in user (else: the login page) and forms their anti-forgery token.
PAGE_DEPENDENCIES = [Depends(remember_viewer), Depends(csrf_form)]


def page_router() -> APIRouter:
    """A router of server-rendered pages (left out of the OpenAPI schema)."""
    return APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)


def public_page_router() -> APIRouter:
    """Pages shown before any sign-in (the login form); routes add what they need."""
    return APIRouter(include_in_schema=False)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def draw_part(request: Request, template: str, context: dict[str, Any]) -> str:
    """`template` drawn as `render` would (the signed-in user's context, typeset), as text:
    a part of a page, which `render_with` puts in."""
    templates: Jinja2Templates = request.app.state.templates
    full: dict[str, Any] = {"request": request}
    for processor in templates.context_processors:
        full.update(processor(request))
    full.update(context)
    return templates.get_template(template).render(full)


# The stand-in of a page's part drawn (and typeset) before, in its context: see `render_with`.
PART_MARK = "partie0a7c3e91d5"


def render_with(
    request: Request,
    template: str,
    context: dict[str, Any],
    parts: dict[str, str],
    status_code: int = 200,
) -> Response:
    """`render`, then each stand-in of `parts` (a text the context put in the page: `PART_MARK`
    for one) replaced by its part, drawn before (and typeset then: the page's typesetting walks
    its shell only, not the part again)."""
    response = render(request, template, context, status_code)
    body = bytes(response.body)
    for mark, part in parts.items():
        body = body.replace(mark.encode(), part.encode(), 1)
    response.body = body
    response.headers["content-length"] = str(len(body))
    return response
