"""Limits at the edge: request heads (headers, address) and bodies above their size, requests
beyond the configured concurrency."""

from __future__ import annotations

import asyncio
import logging
import weakref

from anyio.to_thread import current_default_thread_limiter
from sqlalchemy import Engine
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelflow.db import pool_capacity
from labelflow.french import typeset
from labelflow.settings import Settings
from labelflow.web.errors import RETRY_AFTER_SECONDS, SATURATED_MESSAGE, json_error

log = logging.getLogger("labelflow")

# Room for multipart boundaries and form fields around a file of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024


def _too_large(scope: Scope, limit: int) -> Response:
    message = (
        f"La requête dépasse la taille maximale autorisée ({max(1, limit // (1024 * 1024))} Mo)."
    )
    if str(scope.get("path", "")).startswith("/api/"):
        return json_error(413, {"error": {"code": "fichier_trop_volumineux", "message": message}})
    return HTMLResponse(
        "<!doctype html><html lang=fr><title>Trop volumineux</title>"
        f"<p>{typeset(message)}</p></html>",
        status_code=413,
    )


# The request head: what a browser or an API client sends, with room to spare. uvicorn's
# httptools parser sets no limit of its own (h11's is 16 KiB); a reverse proxy usually does.
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_TARGET_BYTES = 8 * 1024


def _refusal(scope: Scope, status: int, code: str, message: str) -> Response:
    if str(scope.get("path", "")).startswith("/api/"):
        return json_error(status, {"error": {"code": code, "message": message}})
    return HTMLResponse(
        f"<!doctype html><html lang=fr><title>Requête refusée</title><p>{typeset(message)}</p>"
        "</html>",
        status_code=status,
    )


def oversized_head(scope: Scope) -> Response | None:
    """A 431 for too many or too large headers, a 414 for too long an address (path and query
    string); None for a request within bounds."""
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
        return _refusal(
            scope,
            431,
            "en_tetes_trop_volumineux",
            "Les en-têtes de la requête sont trop nombreux ou trop volumineux.",
        )
    if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > (
        MAX_TARGET_BYTES
    ):
        return _refusal(scope, 414, "adresse_trop_longue", "L'adresse demandée est trop longue.")
    return None


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(scope, self.max_bytes - MULTIPART_OVERHEAD)(scope, receive, send)
            return

        received = 0
        answered = False  # our 413 went out: whatever the app sends afterwards is dropped
        started = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    answered = True
                    refusal = _too_large(scope, self.max_bytes - MULTIPART_OVERHEAD)
                    await refusal(scope, receive, send)
                    # The app sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


# --- admission: at most N requests in flight ----------------------------------------------------


def saturated(scope: Scope) -> Response:
    """The French 503 of a saturated service, with `Retry-After`."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if str(scope.get("path", "")).startswith("/api/"):
        return json_error(
            503, {"error": {"code": "service_sature", "message": SATURATED_MESSAGE}}, headers
        )
    return HTMLResponse(
        "<!doctype html><html lang=fr><title>Service saturé</title>"
        f"<p>{typeset(SATURATED_MESSAGE)}</p></html>",
        status_code=503,
        headers=headers,
    )


class Admission:
    """Serve at most `slots` requests at once; the others wait `wait_seconds` for a slot, then
    get a 503.

    A sync request hops to AnyIO's thread pool for every dependency and for its handler, and
    holds its database connection (and, on SQLite, the write lock) between hops. With more
    requests in flight than threads, or than connections, the request holding the lock waits
    for a thread or a connection that the requests queued behind the lock hold: nobody moves
    until a timeout fails them. Admitted requests never outnumber the threads (set here, per
    event loop) nor the pool's connections (sized from the same setting); the others wait on
    the event loop, holding nothing.
    """

    def __init__(self, app: ASGIApp, *, slots: int, wait_seconds: float) -> None:
        self.app = app
        self.slots = slots
        self.wait_seconds = wait_seconds
        # One gate per event loop (each TestClient runs its own).
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.slots)
            current_default_thread_limiter().total_tokens = self.slots
        return gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Refused before it waits for a slot: an oversized request head holds nothing.
        refusal = oversized_head(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        gate = self._gate()
        if gate.locked():
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await gate.acquire()
            except TimeoutError:
                await saturated(scope)(scope, receive, send)
                return
        else:
            await gate.acquire()  # a free slot: taken at once, no timer
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release()


def request_slots(settings: Settings, db: Engine) -> int:
    """`max_requests_in_flight`, unless the engine it was given has a smaller pool."""
    capacity = pool_capacity(db)
    wanted = settings.max_requests_in_flight
    if capacity is not None and capacity < wanted:
        log.warning(
            "%d requests in flight wanted, but the database pool serves %d: %d admitted",
            wanted,
            capacity,
            capacity,
        )
        return capacity
    return wanted
