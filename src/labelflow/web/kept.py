"""The short path of the two reads asked most: a project's JSON and its page, answered from
what the process keeps (`cache.py`) without FastAPI's routing and dependencies.

Served, a kept project JSON cost about 2.2 ms of CPU, 27 times a bare endpoint's, and most of
it was not the work: FastAPI solving the route's dozen dependencies (a third of it), its
routing and its middleware layers. `KeptReads` sits inside `limits.Edge` (the hardening
headers, the limits), before all of that: for `GET /api/v1/projects/{id}` and
`GET /projects/{id}` it makes the same calls as the routes (`deps.resolve_identity`,
`project_view.visible_view`, `api.kept_project_response`, `project_page.cached_project_page`)
in one thread-pool hop, and answers when they find the answer kept. A session or API token
this process has read valid before signs in the project's own statement
(`project_view.signed_visible_view`, `accounts.still_signs`): one statement, not two.

Anything else goes on to the app, untouched: another request, no identity (the 401 or the
login page), an invisible project (the 404), an answer not kept (drawn by the route), any error
(the error pages, the French 503). The routes stay the one definition of these answers; this
only answers, earlier, what they would answer from the same kept bytes (the tests compare
both).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from labelflow import accounts
from labelflow.db import single_read
from labelflow.project_view import ProjectHead, ViewState, signed_visible_view, visible_view
from labelflow.web import deps
from labelflow.web.project_page import cached_project_page
from labelflow.web.projects.api import kept_project_response
from labelflow.web.routing import API_PREFIX

_PATHS = (
    (re.compile(API_PREFIX + r"/projects/([1-9][0-9]{0,9})"), "json"),
    (re.compile(r"/projects/([1-9][0-9]{0,9})"), "page"),
)


# The threads that answer kept reads at once, per process: their work holds the GIL nearly
# all the time, and sixteen of them (the request slots) fighting the event loop for it cost a
# served process a third more CPU per kept project JSON and four times its p99 (bench A/B,
# SQLite, 1 process: 15.6x against 10.7x the bare endpoint, p99 190 ms against 48 ms). Two:
# one may wait for the database while the other runs. A plain executor, not anyio's
# `to_thread` (its limiter, cancel scope and run variables cost the event loop more than
# the hop itself).
THREADS = 2
_POOL = ThreadPoolExecutor(THREADS, thread_name_prefix="labelflow-kept")


class KeptReads:
    """ASGI layer: the kept project JSON and page answered before the app (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for pattern, kind in _PATHS:
                match = pattern.fullmatch(get_route_path(scope))  # as the routes match it
                if match is not None:
                    project_id = int(match.group(1))
                    if project_id <= deps.MAX_ID:
                        response = await self._answer(Request(scope, receive), kind, project_id)
                        if response is not None:
                            await response(scope, receive, send)
                            return
                    break
        await self.app(scope, receive, send)

    async def _answer(self, request: Request, kind: str, project_id: int) -> Response | None:
        try:
            # The caller's context goes along (as anyio's would): `dates`' frozen clock.
            context = contextvars.copy_context()
            return await asyncio.get_running_loop().run_in_executor(
                _POOL, context.run, _kept, request, kind, project_id
            )
        except Exception:  # noqa: BLE001 - even closing a session that failed: the route answers
            return None


def _kept(request: Request, kind: str, project_id: int) -> Response | None:
    """The answer the route would give from kept bytes, else None: the route answers (with
    what was read here, `deps.hand_over`, when only the answer was not kept)."""
    state: Any = request.app.state
    shell = kind == "page"
    identity: deps.Identity | None = None
    known = deps.known_signer(request)
    if known is not None:
        # A session or token this process has read valid: signed and read in one statement,
        # outside any ORM session; only the very row known signs.
        with single_read(state.db) as connection:
            signed = signed_visible_view(
                connection, engine=state.workflows, known=known, project_id=project_id, shell=shell
            )
        if signed is not None and accounts.still_signs(known, signed[2], state.settings):
            identity = deps.identity_of(known)
            deps.keep_identity(request, identity, None)
            response = _kept_answer(request, kind, signed[0], signed[1])
            if response is not None:
                return response
    # The long way: the request's session, the identity found (unless signed above), the
    # project and its view through the ORM, handed to the route if the answer is not kept.
    session = deps.request_session(request, write=False)
    try:
        if identity is None:
            identity = deps.resolve_identity(request, session, state.settings)
            if identity is None:
                session.close()
                return None
        project, view = visible_view(
            session,
            engine=state.workflows,
            actor=identity.actor,
            project_id=project_id,
            shell=shell,
        )
        deps.keep_identity(request, identity, session)
        response = _kept_answer(request, kind, project, view)
        if response is None:
            deps.hand_over(request, session, identity, project, view)
            return None
        session.commit()
    except Exception:  # noqa: BLE001 - the route starts again, with its own error handlers
        session.close()
        return None
    session.close()
    return response


def _kept_answer(
    request: Request, kind: str, project: ProjectHead, view: ViewState
) -> Response | None:
    if kind == "page":
        return cached_project_page(request, project, view)
    return kept_project_response(project, view)
