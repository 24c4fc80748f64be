"""The short path of the two reads asked most: a project's JSON and its page, answered from
what the process keeps (`cache.py`) without FastAPI's routing and dependencies.

Served, a kept project JSON cost about 2.2 ms of CPU, 27 times a bare endpoint's, and most of
it was not the work: FastAPI solving the route's dozen dependencies (a third of it), its
routing and its middleware layers. `KeptReads` sits inside `limits.Edge` (the hardening
headers, the limits), before all of that: for `GET /api/v1/projects/{id}` and
`GET /projects/{id}` it makes the same calls as the routes (`deps.resolve_identity`,
`project_view.visible_view`, `api.kept_project_response`, `project_page.cached_project_page`)
in one thread-pool hop, and answers when they find the answer kept.

Anything else goes on to the app, untouched: another request, no identity (the 401 or the
login page), an invisible project (the 404), an answer not kept (drawn by the route), any error
(the error pages, the French 503). The routes stay the one definition of these answers; this
only answers, earlier, what they would answer from the same kept bytes (the tests compare
both).
"""

from __future__ import annotations

import asyncio
import re
import weakref
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from labelflow.project_view import visible_view
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
# one may wait for the database while the other runs.
THREADS = 2


class KeptReads:
    """ASGI layer: the kept project JSON and page answered before the app (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # One limiter per event loop (each TestClient runs its own), as `limits.Edge`'s gates.
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def _limiter(self) -> CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = CapacityLimiter(THREADS)
        return limiter

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
            return await anyio.to_thread.run_sync(
                _kept, request, kind, project_id, limiter=self._limiter()
            )
        except Exception:  # noqa: BLE001 - even closing a session that failed: the route answers
            return None


def _kept(request: Request, kind: str, project_id: int) -> Response | None:
    """The answer the route would give from kept bytes, else None: the route answers (with
    what was read here, `deps.hand_over`, when only the answer was not kept)."""
    state: Any = request.app.state
    session = deps.request_session(request, write=False)
    try:
        identity = deps.resolve_identity(request, session, state.settings)
        if identity is None:
            session.close()
            return None
        deps.keep_identity(request, identity, session)
        project, view = visible_view(
            session,
            engine=state.workflows,
            actor=identity.actor,
            project_id=project_id,
            shell=kind == "page",
        )
        if kind == "page":
            response = cached_project_page(request, project, view)
        else:
            response = kept_project_response(project, view)
        if response is None:
            deps.hand_over(request, session, identity, project, view)
            return None
        session.commit()
    except Exception:  # noqa: BLE001 - the route starts again, with its own error handlers
        session.close()
        return None
    session.close()
    return response
