"""The edge of the app (`Edge`): the hardening headers, the fast health check, and the limits:
request heads (headers, address) and bodies above their size, requests beyond the configured
concurrency."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

from anyio.to_thread import current_default_thread_limiter
from sqlalchemy import Engine
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelflow.db import pool_capacity
from labelflow.french import typeset
from labelflow.settings import Settings
from labelflow.web.errors import RETRY_AFTER_SECONDS, SATURATED_MESSAGE, json_error
from labelflow.web.security import harden, is_static

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


HEALTH_PATH = "/healthz"
HEALTHY = b'{"status":"ok"}'
_HEALTHY_HEADERS = harden(
    [(b"content-type", b"application/json"), (b"content-length", str(len(HEALTHY)).encode())],
    static=False,
)


class Edge:
    """What every HTTP request meets first, in one layer (each layer costs every request):

    - the hardening headers on every response (`security.harden`), our own refusals and the 500
      of the catch-all handler included;
    - `GET /healthz` answered here when the database answers `health_check` (a load balancer
      polls it; served, the whole stack cost 4× the bare app for it). When the check fails, the
      app's own `/healthz` route answers, through the app's error handlers: what a failure
      looks like is decided there, in one place;
    - a 431 for too many or too large headers, a 414 for too long an address, before the
      request waits for a slot (an oversized head holds nothing);
    - admission: at most `slots` requests at once; the others wait `wait_seconds` for a slot,
      then get a 503. A sync request hops to AnyIO's thread pool for every dependency and for
      its handler, and holds its database connection (and, on SQLite, the write lock) between
      hops. With more requests in flight than threads, or than connections, the request holding
      the lock waits for a thread or a connection that the requests queued behind the lock
      hold: nobody moves until a timeout fails them. Admitted requests never outnumber the
      threads (set here, per event loop) nor the pool's connections (sized from the same
      setting); the others wait on the event loop, holding nothing;
    - a 413 for a body above `max_bytes` (and the multipart overhead): at once for a declared
      length; a body without one (chunked) is counted as it arrives and cut at the limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        slots: int,
        wait_seconds: float,
        max_bytes: int,
        health_check: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.slots = slots
        self.wait_seconds = wait_seconds
        self.max_bytes = max_bytes + MULTIPART_OVERHEAD
        self.limit = max_bytes
        self.health_check = health_check
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

    def _healthy(self) -> bool:
        if self.health_check is None:
            return False
        try:
            self.health_check()
        except Exception:  # noqa: BLE001 - the route answers it, with its handlers
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = is_static(scope)

        async def hardened_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = harden(message.get("headers", []), static=static)
            await send(message)

        if scope["path"] == HEALTH_PATH and scope["method"] == "GET" and self._healthy():
            await send({"type": "http.response.start", "status": 200, "headers": _HEALTHY_HEADERS})
            await send({"type": "http.response.body", "body": HEALTHY})
            return

        # The head, in one pass: its size, and how its body is framed.
        head_bytes = 0
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            head_bytes += len(name) + len(value)
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        refusal = self._oversized_head(scope, len(scope["headers"]), head_bytes)
        if (
            refusal is None
            and declared is not None
            and (not declared.isdigit() or int(declared) > self.max_bytes)
        ):
            refusal = _too_large(scope, self.limit)
        if refusal is not None:
            await refusal(scope, receive, hardened_send)
            return

        gate = self._gate()
        if gate.locked():
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await gate.acquire()
            except TimeoutError:
                await saturated(scope)(scope, receive, hardened_send)
                return
        else:
            await gate.acquire()  # a free slot: taken at once, no timer
        try:
            if chunked:
                await self._counted(scope, receive, hardened_send)
            else:
                # The server reads no more than the declared length (none: no body).
                await self.app(scope, receive, hardened_send)
        finally:
            gate.release()

    @staticmethod
    def _oversized_head(scope: Scope, count: int, size: int) -> Response | None:
        if count > MAX_HEADERS or size > MAX_HEADER_BYTES:
            return _refusal(
                scope,
                431,
                "en_tetes_trop_volumineux",
                "Les en-têtes de la requête sont trop nombreux ou trop volumineux.",
            )
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > (
            MAX_TARGET_BYTES
        ):
            return _refusal(
                scope, 414, "adresse_trop_longue", "L'adresse demandée est trop longue."
            )
        return None

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, its body (of no declared length) cut at the limit with a 413."""
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
                    await _too_large(scope, self.limit)(scope, receive, send)
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
