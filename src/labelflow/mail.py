"""E-mail: composing French messages from templates, and sending them (DESIGN §9).

`send` goes through SMTP when `LABELFLOW_SMTP_HOST` is set; otherwise it writes the message as an
`.eml` file in the local mailbox (`settings.mailbox_dir`), which admins read on « Courriels
envoyés »: a development or demo instance never sends anything out by accident.

Failures are classified for the jobs' retries: connection refused, a timeout or a 4xx answer is
temporary (`jobs.TemporaryFailure`), a 5xx answer permanent (`jobs.PermanentFailure`).
"""

from __future__ import annotations

import email
import os
import re
import smtplib
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment

from labelflow import dates
from labelflow.errors import NotFound
from labelflow.jobs import PermanentFailure, TemporaryFailure
from labelflow.settings import Settings


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(templates: Environment, name: str, context: dict[str, Any]) -> Rendered:
    """`email/<name>.txt` and `email/<name>.html`; the subject is the text's first line."""
    text = templates.get_template(f"email/{name}.txt").render(context)
    subject, _, body = text.partition("\n")
    html = templates.get_template(f"email/{name}.html").render(context)
    return Rendered(subject=" ".join(subject.split()), text=body.lstrip("\n"), html=html)


def compose(*, settings: Settings, to: tuple[str, str], rendered: Rendered) -> EmailMessage:
    """A multipart (text, HTML) message to `(name, address)`."""
    message = EmailMessage()
    name, address = to
    message["From"] = settings.mail_from
    message["To"] = Address(display_name=name, addr_spec=address)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(dates.now())
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "labelflow.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    # An automatic message: out-of-office replies are not sent back to it (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def send(message: EmailMessage, *, settings: Settings) -> None:
    """Deliver `message` (SMTP, or the local mailbox without an SMTP host)."""
    if not settings.smtp_host:
        write_to_mailbox(message, settings.mailbox_dir)
        return
    try:
        _send_smtp(message, settings)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        failure = TemporaryFailure if all(400 <= c < 500 for c in codes) else PermanentFailure
        raise failure(f"destinataire refusé par le serveur SMTP : {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        failure = TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
        detail = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        raise failure(f"le serveur SMTP a répondu {exc.smtp_code} : {detail}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise TemporaryFailure(f"serveur SMTP injoignable : {exc}") from exc


# A worker draining a queue sends over one SMTP connection rather than one per message (the
# connection, its greeting, EHLO, STARTTLS, login and QUIT are most of an exchange): each thread
# keeps its last connection while it is used within REUSE_SECONDS; `close_connections` ends it
# (the worker does, after each pass).
REUSE_SECONDS = 10.0
_connections = threading.local()


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _key(settings: Settings) -> tuple[str, int, str, str]:
    return (settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_user)


def _kept(settings: Settings) -> smtplib.SMTP | None:
    """This thread's open connection to the same server, if used recently (else closed)."""
    kept = getattr(_connections, "kept", None)
    _connections.kept = None
    if kept is None:
        return None
    key, smtp, last_used = kept
    if key == _key(settings) and time.monotonic() - last_used < REUSE_SECONDS:
        return smtp  # type: ignore[no-any-return]
    _close(smtp)
    return None


def _keep(settings: Settings, smtp: smtplib.SMTP) -> None:
    _connections.kept = (_key(settings), smtp, time.monotonic())


def close_connections() -> None:
    """End this thread's kept SMTP connection, if any."""
    kept = getattr(_connections, "kept", None)
    _connections.kept = None
    if kept is not None:
        _close(kept[1])


def _send_smtp(message: EmailMessage, settings: Settings) -> None:
    smtp = _kept(settings)
    if smtp is not None:
        try:
            smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            # Closed by the server while idle, before it accepted anything: a new connection.
            smtp.close()
        except BaseException:
            _close(smtp)
            raise
        else:
            _keep(settings, smtp)
            return
    smtp = _connect(settings)
    try:
        smtp.send_message(message)
    except BaseException:
        _close(smtp)
        raise
    _keep(settings, smtp)


def write_to_mailbox(message: EmailMessage, folder: Path) -> Path:
    """Write `message` as a new `.eml` file, atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dates.now().strftime("%Y%m%dT%H%M%S%f")
    target = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


# --- reading the local mailbox (« Courriels envoyés ») ------------------------------------------

# The names `write_to_mailbox` gives: nothing else in the folder is ever read.
MAILBOX_NAME = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{8}\.eml$")


@dataclass(frozen=True)
class MailboxEntry:
    name: str
    sent_at: datetime | None
    to: str
    subject: str


@dataclass(frozen=True)
class MailboxMessage:
    entry: MailboxEntry
    sender: str
    text: str


def _parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _entry(name: str, message: EmailMessage) -> MailboxEntry:
    try:
        sent_at: datetime | None = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        sent_at = None
    return MailboxEntry(
        name=name,
        sent_at=sent_at,
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
    )


def list_mailbox(folder: Path, *, limit: int = 200) -> tuple[list[MailboxEntry], int]:
    """The newest `limit` messages of the local mailbox, newest first, and how many there are."""
    if not folder.is_dir():
        return [], 0
    names = sorted((p.name for p in folder.iterdir() if MAILBOX_NAME.match(p.name)), reverse=True)
    entries = []
    for name in names[:limit]:
        try:
            entries.append(_entry(name, _parse(folder / name)))
        except OSError:  # removed meanwhile
            continue
    return entries, len(names)


def read_mailbox(folder: Path, name: str) -> MailboxMessage:
    """One message of the local mailbox, its text part (the HTML one when it has none)."""
    path = folder / name
    if not MAILBOX_NAME.match(name) or not path.is_file():
        raise NotFound("Ce courriel est introuvable.")
    message = _parse(path)
    body = message.get_body(preferencelist=("plain", "html"))
    text = str(body.get_content()) if body is not None else ""
    return MailboxMessage(entry=_entry(name, message), sender=str(message["From"] or ""), text=text)
