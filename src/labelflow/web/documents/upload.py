"""The API's upload body (multipart: `type` and `file`), streamed straight into the store's
staging area.

FastAPI's `UploadFile` spools the whole file into a temporary file (one thread-pool hop per
64 KiB received), which the store then reads back and copies, hashing it, into its staging
area: every byte written twice and read once more. Here the file part is hashed and written
once, as it arrives, in 1 MiB slices handed to a thread while the event loop receives the next
ones (bench/documents.py measures it). The body is received before the other dependencies
run, as FastAPI does for a form: no database connection is held while a slow client sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

import anyio
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from labelflow.storage import Staged, Stager, too_large
from labelflow.web.deps import SettingsDep, StoreDep

SLICE = 1024 * 1024
MAX_FIELD_BYTES = 1024  # `type` is at most 50 characters
MAX_PARTS = 16
# Room for the multipart framing around the file, checked against Content-Length up front.
FRAMING_BYTES = 64 * 1024
TYPE_MAX_LENGTH = 50

# The request body as OpenAPI tells it (the route reads it itself).
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "type"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "Le fichier",
                        },
                        "type": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": TYPE_MAX_LENGTH,
                            "description": "Type de pièce",
                        },
                    },
                }
            }
        },
    }
}


@dataclass
class ReceivedUpload:
    """The body as received; `valid()` raises its validation errors, if any (called by the
    handler, after the project is loaded: a project one may not see is a 404 first, as with
    FastAPI's own form validation)."""

    doc_type: str | None
    filename: str | None
    content_type: str | None
    staged: Staged | None
    errors: list[dict[str, Any]]

    def valid(self) -> tuple[str, Staged]:
        if self.errors or self.doc_type is None or self.staged is None:
            raise RequestValidationError(self.errors)
        return self.doc_type, self.staged


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)
    to_file: bool = False


class _Receiver:
    """python-multipart's callbacks: fields kept in memory (small), the `file` part's bytes
    gathered into `pending` for the stager."""

    def __init__(self, new_stager: Any) -> None:
        self.new_stager = new_stager
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.fields: dict[str, str] = {}
        self.parts = 0
        self.stager: Stager | None = None
        self.file: _Part | None = None
        self.pending = bytearray()
        self.nameless_file = False

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise HTTPException(400)
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise HTTPException(400)
        self.part.name = _decode(options[b"name"])
        if b"filename" in options:
            self.part.filename = _decode(options[b"filename"])
            content_type = self.part.headers.get(b"content-type")
            self.part.content_type = _decode(content_type) if content_type else None
            if self.part.name == "file" and self.part.filename and self.stager is None:
                self.stager = self.new_stager()
                self.file = self.part
                self.part.to_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.to_file:
            self.pending += data[start:end]
        elif self.part.filename is None and self.part.name != "file":
            self.part.data += data[start:end]
            if len(self.part.data) > MAX_FIELD_BYTES:
                raise HTTPException(400)
        # Other files than `file` are not kept.

    def on_part_end(self) -> None:
        if self.part.name == "file" and not self.part.to_file:
            self.nameless_file = True  # a file without its name, or a plain field
        elif self.part.filename is None:
            self.fields.setdefault(self.part.name, _decode(bytes(self.part.data)))


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400) from None


def _missing(name: str) -> dict[str, Any]:
    return {"type": "missing", "loc": ("body", name), "msg": "Field required", "input": None}


def _not_a_file() -> dict[str, Any]:
    # Worded as FastAPI words a part without a file name (web/errors.french_message).
    reason = "Expected UploadFile, received: str"
    return {
        "type": "value_error",
        "loc": ("body", "file"),
        "msg": f"Value error, {reason}",
        "input": None,
        "ctx": {"reason": reason},
    }


def _check_type(value: str | None) -> list[dict[str, Any]]:
    if value is None:
        return [_missing("type")]
    if len(value) < 1:
        return [
            {
                "type": "string_too_short",
                "loc": ("body", "type"),
                "msg": "String should have at least 1 character",
                "input": value,
                "ctx": {"min_length": 1},
            }
        ]
    if len(value) > TYPE_MAX_LENGTH:
        return [
            {
                "type": "string_too_long",
                "loc": ("body", "type"),
                "msg": f"String should have at most {TYPE_MAX_LENGTH} characters",
                "input": value,
                "ctx": {"max_length": TYPE_MAX_LENGTH},
            }
        ]
    return []


async def receive_upload(
    request: Request, store: StoreDep, settings: SettingsDep
) -> AsyncIterator[ReceivedUpload]:
    """The body received and the file staged (413 beyond the limit, 422 for an unreadable
    body; the fields' errors are kept for `valid()`); the staged file removed afterwards."""
    max_bytes = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FRAMING_BYTES:
        raise too_large(max_bytes)
    media_type, params = parse_options_header(request.headers.get("content-type", ""))
    receiver = _Receiver(lambda: store.stager(max_bytes=max_bytes))
    try:
        if media_type == b"multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise HTTPException(400)
            parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": receiver.on_part_begin,
                    "on_part_data": receiver.on_part_data,
                    "on_part_end": receiver.on_part_end,
                    "on_header_field": receiver.on_header_field,
                    "on_header_value": receiver.on_header_value,
                    "on_header_end": receiver.on_header_end,
                    "on_headers_finished": receiver.on_headers_finished,
                },
            )
            try:
                async for chunk in request.stream():
                    parser.write(chunk)
                    if len(receiver.pending) >= SLICE and receiver.stager is not None:
                        data, receiver.pending = receiver.pending, bytearray()
                        await anyio.to_thread.run_sync(receiver.stager.write, data)
                parser.finalize()
            except MultipartParseError:
                raise HTTPException(400) from None
            except ClientDisconnect:
                # Gone, or cut at the size limit by `web.limits` (which sent the 413 itself):
                # nothing will read this answer.
                raise HTTPException(400) from None
        elif media_type == b"application/x-www-form-urlencoded":
            # No file can come this way: only the fields, for their errors.
            if not declared.isdigit() or int(declared) > MAX_FIELD_BYTES * MAX_PARTS:
                raise HTTPException(400)
            body = _decode(await request.body())
            for name, value in parse_qsl(body, keep_blank_values=True):
                receiver.fields.setdefault(name, value)
                receiver.nameless_file |= name == "file"
        errors = _check_type(receiver.fields.get("type"))
        staged = None
        if receiver.stager is not None and receiver.file is not None:
            if receiver.pending:
                await anyio.to_thread.run_sync(receiver.stager.write, receiver.pending)
            staged = await anyio.to_thread.run_sync(receiver.stager.finish)
        elif receiver.nameless_file:
            errors.append(_not_a_file())
        else:
            errors.append(_missing("file"))
        yield ReceivedUpload(
            doc_type=receiver.fields.get("type"),
            filename=receiver.file.filename if receiver.file else None,
            content_type=receiver.file.content_type if receiver.file else None,
            staged=staged,
            errors=errors,
        )
    finally:
        if receiver.stager is not None:
            receiver.stager.discard()


UploadDep = Annotated[ReceivedUpload, Depends(receive_upload, scope="function")]
