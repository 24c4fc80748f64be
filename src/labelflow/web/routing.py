"""What every concept's routes share: the JSON API's router, the pages' router and their
template rendering.

JSON routes need a signed-in user (401) and each write route names its permission (403); pages
need a signed-in user too (else the login page) and their forms the anti-forgery token.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from labelflow import project_view
from labelflow.cache import Cache
from labelflow.db import transaction
from labelflow.project_view import ShellCounts
from labelflow.web.deps import csrf_form, current_identity

API_PREFIX = "/api/v1"


class ConceptRouter(APIRouter):
    """One concept's router, which an address that none of its routes could match skips at
    once: FastAPI tries a router's routes one by one (about 2 µs each, twice a request: to
    match, then to handle), so that the 15th concept's address tried the routes of 14 others
    first. Its routes are included without a prefix (their paths are the addresses')."""

    _starts: tuple[int, frozenset[str], tuple[str, ...]] | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        starts = self._starts
        if starts is None or starts[0] != len(self.routes):
            starts = self._starts = _starts_of(self.routes)
        _, exact, prefixes = starts
        path = get_route_path(scope)
        if path not in exact and not path.startswith(prefixes):
            return Match.NONE, {}
        return super().matches(scope)


def _starts_of(routes: list[Any]) -> tuple[int, frozenset[str], tuple[str, ...]]:
    """Each route's whole path (without parameters) or its literal start (up to its first
    parameter); a route without a path (another router) could match anything: ""."""
    paths = [getattr(route, "path", None) for route in routes]
    exact = frozenset(p for p in paths if p is not None and "{" not in p)
    prefixes = tuple("" if p is None else p[: p.index("{")] for p in paths if p is None or "{" in p)
    return len(routes), exact, prefixes


def api_router(**options: Any) -> APIRouter:
    """A router of the JSON API under /api/v1, every route behind a signed-in user."""
    return ConceptRouter(prefix=API_PREFIX, dependencies=[Depends(current_identity)], **options)


def shell(request: Request) -> ShellCounts | None:
    """What the page's shell counts for the signed-in user (None: no one is), read once per
    request unless the page read it with its own statement (`keep_shell`): in the request's
    transaction while it is open, else (an error page, drawn after the rollback) in a short one
    of its own."""
    counts: ShellCounts | None = getattr(request.state, "shell", None)
    viewer = getattr(request.state, "viewer", None)
    if counts is None and viewer is not None:
        session: Session | None = request.state.shell_session  # None: the short path's
        if session is not None and session.in_transaction():
            counts = project_view.shell_counts(session, actor=viewer)
        else:
            with transaction(request.app.state.db, write=False) as own:
                counts = project_view.shell_counts(own, actor=viewer)
        keep_shell(request, counts)
    return counts


def keep_shell(request: Request, counts: ShellCounts | None) -> None:
    """The shell's counts as the page read them (None: not read, `shell` will)."""
    request.state.shell = counts


# Pages need a signed-in user (else: the login page) and forms their anti-forgery token.
PAGE_DEPENDENCIES = [Depends(current_identity), Depends(csrf_form)]


def page_router() -> APIRouter:
    """A router of server-rendered pages (left out of the OpenAPI schema)."""
    return ConceptRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)


def public_page_router() -> APIRouter:
    """Pages shown before any sign-in (the login form); routes add what they need."""
    return ConceptRouter(include_in_schema=False)


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


# Pages drawn whole from cached values, as their bytes (see `render_kept`): 30 to 60 KB each
# (the lists, the dashboard, the figures, the project pages last seen).
_pages = Cache("pages", size=256)


def render_kept(
    request: Request,
    key: Hashable,
    tokens: Hashable | None,
    template: str,
    context: Callable[[], dict[str, Any]],
    parts: Callable[[], dict[str, str]] | None = None,
) -> Response:
    """`render_with` for a page drawn from cached values only, kept as its bytes until `tokens`
    (the values') change: under `key` (what the page shows besides its shell: the values' key,
    the request's inputs) and what the shell shows (the viewer, the anti-forgery token, the
    shell's counts). A hit answers the bytes: no context built, no template drawn, nothing
    typeset; check mode draws the page again, compares, and answers the page drawn."""
    drawn: list[Response] = []

    def draw() -> bytes:
        response = render_with(request, template, context(), parts() if parts else {})
        drawn.append(response)
        return bytes(response.body)

    state = request.state
    page_key = (key, state.viewer, state.csrf_token, shell(request))
    body = _pages.get(page_key, tokens, draw)
    return drawn[0] if drawn else HTMLResponse(body)
