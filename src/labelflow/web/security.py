"""Hardening headers on every response, and an API documentation page that needs no CDN."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Mermaid writes a <style> element and style="" attributes into every SVG it draws
        # (checked in Chromium: without 'unsafe-inline' the workflow diagram loses its styling).
        # Scripts stay strict, which is what matters against injected markup.
        "style-src 'self' 'unsafe-inline'",
        # swagger-ui.css draws its icons from data: URIs.
        "img-src 'self' data:",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# A file sent as an attachment (a document, a PDF, an export) may be anything a user gave: should
# a browser ever render it, it may run nothing and reach nothing.
ATTACHMENT_POLICY = b"default-src 'none'; sandbox"

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

STATIC_PREFIX = "/static/"


def _is_static(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    root_path = str(scope.get("root_path", ""))
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path.startswith(STATIC_PREFIX)


class SecurityHeaders:
    """Add the hardening headers to every HTTP response; `no-store` on everything but /static.

    Headers the app set itself are replaced: the policy is decided here, in one place.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = list(SECURITY_HEADERS)
        if not _is_static(scope):
            # Pages and API answers carry personal data and, soon, depend on who is signed in.
            added.append((b"cache-control", b"no-store"))
        replaced = {name for name, _ in added}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                kept = [(k, v) for k, v in headers if k.lower() not in replaced]
                final = added
                if any(
                    k.lower() == b"content-disposition" and v.lower().startswith(b"attachment")
                    for k, v in headers
                ):
                    final = [
                        (k, ATTACHMENT_POLICY if k == b"content-security-policy" else v)
                        for k, v in added
                    ]
                message = {**message, "headers": kept + final}
            await send(message)

        await self.app(scope, receive, send_with_headers)


HEALTH_PATH = "/healthz"
HEALTHY = b'{"status":"ok"}'


class HealthCheck:
    """`GET /healthz` answered ahead of the middleware stack and the router when the database
    answers `check` (a load balancer polls it; served, the whole stack cost 4× the bare app for
    it). When the check fails, the app's own `/healthz` route answers, through the app's error
    handlers: what a failure looks like is decided there, in one place."""

    def __init__(self, app: ASGIApp, check: Callable[[], None]) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH and scope["method"] == "GET":
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the route below answers it, with its handlers
                pass
            else:
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(HEALTHY)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": HEALTHY})
                return
        await self.app(scope, receive, send)


class HardenedFastAPI(FastAPI):
    """FastAPI whose whole middleware stack sits inside `SecurityHeaders`.

    `add_middleware` cannot place anything outside Starlette's ServerErrorMiddleware, which
    sends the 500 of the catch-all exception handler itself; wrapping the built stack is the
    only way that answer gets the headers too. `health_check`, when set, is the database
    check of the fast `/healthz` (`HealthCheck`).
    """

    health_check: Callable[[], None] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.health_check is not None:
            stack = HealthCheck(stack, self.health_check)
        return SecurityHeaders(stack)


SWAGGER_UI = "/static/vendor/swagger-ui"

DOCS_HTML = f"""<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>labelflow — API</title>
  <link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI from /static: FastAPI's own /docs uses a CDN and an inline script."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)
