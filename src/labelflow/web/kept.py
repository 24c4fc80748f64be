"""The short path of the two reads asked most: a project's JSON and its page, answered from
what the process keeps (`cache.py`) without FastAPI's routing and dependencies.

Served, a kept project JSON cost about 2.2 ms of CPU, 27 times a bare endpoint's, and most of
it was not the work: FastAPI solving the route's dozen dependencies (a third of it), its
routing and its middleware layers. `KeptReads` sits inside `limits.Edge` (the hardening
headers, the limits), before all of that: for `GET /api/v1/projects/{id}` and
`GET /projects/{id}` it makes the same calls as the routes (`deps.resolve_identity`,
`project_view.visible_view`, `present.cached_project_json`, `project_page.cached_project_page`)
in one thread-pool hop, and answers when they find the answer kept.

Anything else goes on to the app, untouched: another request, no identity (the 401 or the
login page), an invisible project (the 404), an answer not kept (drawn by the route), any error
(the error pages, the French 503). The routes stay the one definition of these answers; this
only answers, earlier, what they would answer from the same kept bytes (the tests compare
both).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
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


class KeptReads:
    """ASGI layer: the kept project JSON and page answered before the app (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for pattern, kind in _PATHS:
                match = pattern.fullmatch(scope["path"])
                if match is not None:
                    project_id = int(match.group(1))
                    if project_id <= deps.MAX_ID:
                        request = Request(scope, receive)
                        response = await run_in_threadpool(_kept, request, kind, project_id)
                        if response is not None:
                            await response(scope, receive, send)
                            return
                    break
        await self.app(scope, receive, send)


def _kept(request: Request, kind: str, project_id: int) -> Response | None:
    """The answer the route would give from kept bytes, else None: the route answers (with
    what was read here, `deps.hand_over`, when only the answer was not kept)."""
    state: Any = request.app.state
    session = deps.read_session(request)
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
