"""Refuse request bodies above the configured limit before they are read whole."""

from __future__ import annotations

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Room for multipart boundaries and form fields around a file of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024


def _too_large(scope: Scope, limit: int) -> Response:
    message = (
        f"La requête dépasse la taille maximale autorisée ({max(1, limit // (1024 * 1024))} Mo)."
    )
    if str(scope.get("path", "")).startswith("/api/"):
        return JSONResponse(
            {"error": {"code": "fichier_trop_volumineux", "message": message}}, status_code=413
        )
    return HTMLResponse(
        f"<!doctype html><html lang=fr><title>Trop volumineux</title><p>{message}</p></html>",
        status_code=413,
    )


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
