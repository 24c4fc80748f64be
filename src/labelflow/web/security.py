"""Hardening headers on every response (applied by `limits.Edge`), and an API documentation
page that needs no CDN."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Scope

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


def is_static(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    root_path = str(scope.get("root_path", ""))
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path.startswith(STATIC_PREFIX)


# Pages and API answers carry personal data and depend on who is signed in: not stored.
NO_STORE = (b"cache-control", b"no-store")
_ATTACHMENT_HEADERS = [
    (k, ATTACHMENT_POLICY if k == b"content-security-policy" else v) for k, v in SECURITY_HEADERS
]
# What the app set itself under these names is replaced: the policy is decided here, in one
# place. Built once: a response only picks its list.
_REPLACED = frozenset(name for name, _ in [*SECURITY_HEADERS, NO_STORE])
_REPLACED_STATIC = frozenset(name for name, _ in SECURITY_HEADERS)
_ADDED = {
    # (static, attachment)
    (False, False): [*SECURITY_HEADERS, NO_STORE],
    (False, True): [*_ATTACHMENT_HEADERS, NO_STORE],
    (True, False): SECURITY_HEADERS,
    (True, True): _ATTACHMENT_HEADERS,
}


def harden(headers: list[tuple[bytes, bytes]], *, static: bool) -> list[tuple[bytes, bytes]]:
    """A response's headers with the hardening headers (`no-store` on everything but /static;
    an attachment gets the sandbox policy)."""
    replaced = _REPLACED_STATIC if static else _REPLACED
    kept = []
    attachment = False
    for name, value in headers:
        lowered = name.lower()
        if lowered in replaced:
            continue
        if lowered == b"content-disposition" and value[:10].lower() == b"attachment":
            attachment = True
        kept.append((name, value))
    kept += _ADDED[static, attachment]
    return kept


class HardenedFastAPI(FastAPI):
    """FastAPI whose whole middleware stack sits inside `edge` (`limits.Edge`: the hardening
    headers, the fast `/healthz`, the limits), which `create_app` sets.

    `add_middleware` cannot place anything outside Starlette's ServerErrorMiddleware, which
    sends the 500 of the catch-all exception handler itself; wrapping the built stack is the
    only way that answer gets the headers too.
    """

    edge: Callable[[ASGIApp], ASGIApp]

    def build_middleware_stack(self) -> ASGIApp:
        return self.edge(super().build_middleware_stack())


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
