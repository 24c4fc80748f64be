"""A real SMTP server for the tests (aiosmtpd on loopback, a free port), and how to read it.

    def test_x(smtp_server, settings):
        mail_settings = smtp_server.settings(settings)   # Settings pointing at this server
        jobs.run_due(db, settings=mail_settings, runtime=...)
        [message] = smtp_server.messages                 # email.message.EmailMessage

`smtp_server.answer(451)` makes it refuse the next messages with that code (4xx temporary, 5xx
permanent) until `answer(None)`; `stop()` / `start()` take it down and up on the same port.
"""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from labelflow import mail
from labelflow.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.code: int | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.code is not None:
            text = "Service temporairement indisponible" if self.code < 500 else "Refuse"
            return f"{self.code} {text}"
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        # The connection this thread's worker keeps to this server (mail.py) ends first.
        mail.close_connections()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def answer(self, code: int | None) -> None:
        self.handler.code = code

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self.handler.lock:
            return list(self.handler.envelopes)

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()
            self.handler.envelopes.clear()

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none"}
        )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]
