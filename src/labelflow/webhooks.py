"""Webhooks (DESIGN §11): endpoints administrators register to receive some facts as JSON,
signed with the Standard Webhooks scheme, delivered through the jobs table.

A fact of a chosen kind (`FACT_EVENTS`) writes, in its own transaction, one delivery row per
endpoint that wants it and one `webhook` job (the outbox); the job's handler is an outside one:
it posts with no transaction open, then records the attempt in the delivery log. A failure is
retried on the jobs' schedule; an endpoint whose deliveries have all failed for 24 hours is
disabled and the administrators are told. Addresses resolving to private, loopback or otherwise
non-public networks are refused, when the endpoint is created and again before each delivery
(a name may resolve elsewhere later), unless `LABELFLOW_WEBHOOKS_ALLOW_PRIVATE=true`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from labelflow import dates, jobs, notifications
from labelflow.accounts import actor_of
from labelflow.actors import Actor
from labelflow.errors import NotFound, UnknownWebhookEvent, WebhookUrlRefused
from labelflow.events import Fact
from labelflow.models import User, WebhookDelivery, WebhookEndpoint, id_of
from labelflow.permissions import WEBHOOKS_MANAGE, allows

EVENTS: dict[str, str] = {
    "transition": "Changements d'étape, suspensions, reprises",
    "document": "Pièces déposées ou revues",
    "decision": "Décisions du Bureau",
    "message": "Messages",
}
# Which facts each event carries (the facts' kinds, `events.KIND_LABELS`).
FACT_EVENTS = {
    "transition": "transition",
    "suspension": "transition",
    "reprise": "transition",
    "document": "document",
    "revue": "document",
    "decision": "decision",
    "message": "message",
}

JOB = "webhook"
# A delivery is pending and abandoned like a job; delivered is its own.
PENDING, DELIVERED, ABANDONED = jobs.PENDING, "livree", jobs.ABANDONED
STATUS_LABELS = {PENDING: "en attente", DELIVERED: "livrée", ABANDONED: "abandonnée"}
DISABLE_AFTER = timedelta(hours=24)
TIMEOUT_SECONDS = 10.0
SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS = 50

Resolver = Callable[[str], list[str]]


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> list[str]:
    """The addresses `url`'s server resolves to, once checked: refused (French 422) when it is
    not http(s), or resolves to a private, loopback, link-local or reserved network (unless
    `allow_private`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused(
            "L'adresse doit commencer par http:// ou https:// et nommer un serveur.", field="url"
        )
    try:
        parts.port  # noqa: B018  (a port out of range raises)
    except ValueError:
        raise WebhookUrlRefused("Le port de l'adresse est invalide.", field="url") from None
    try:
        addresses = (resolver or resolve)(parts.hostname)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise WebhookUrlRefused(
            f"Le serveur « {parts.hostname} » est introuvable : vérifiez l'adresse.", field="url"
        )
    private = [a for a in addresses if not _public(a)]
    if private and not allow_private:
        raise WebhookUrlRefused(
            f"L'adresse mène à un réseau privé ou local ({', '.join(private)}) : seules les "
            "adresses publiques sont acceptées.",
            field="url",
        )
    return addresses


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the address just checked, whatever the name resolves to a moment later (a
    DNS answer changed between the check and the connection); TLS still checks the name."""

    def __init__(self, address: str) -> None:
        self.address = address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self.address, port, timeout, local_address, socket_options)


def pinned_client(address: str) -> httpx.Client:
    """An HTTP client whose every connection goes to `address` (no proxy from the environment:
    the address checked is the one reached)."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=_PinnedBackend(address)
    )
    return httpx.Client(transport=transport, trust_env=False, timeout=TIMEOUT_SECONDS)


def check_events(events: Sequence[str]) -> list[str]:
    """The events chosen, each once, in `EVENTS` order (unknown or none: French 422)."""
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise UnknownWebhookEvent(
            f"Événement inconnu : {', '.join(unknown)} ; choisissez parmi {', '.join(EVENTS)}.",
            field="events",
        )
    if not events:
        raise UnknownWebhookEvent(
            f"Choisissez au moins un événement parmi {', '.join(EVENTS)}.", field="events"
        )
    return [e for e in EVENTS if e in events]


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


# --- endpoints (administrators) -----------------------------------------------------------------


def create_endpoint(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    actor: Actor,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> WebhookEndpoint:
    """Register an endpoint; its `secret` is shown to the caller once (the API's answer)."""
    chosen = check_events(events)
    check_url(url, allow_private=allow_private, resolver=resolver)
    count = session.exec(select(sa.func.count()).select_from(WebhookEndpoint)).one()
    if int(count) >= MAX_ENDPOINTS:
        raise WebhookUrlRefused(
            f"Au plus {MAX_ENDPOINTS} webhooks : supprimez-en un avant d'en ajouter.", field="url"
        )
    endpoint = WebhookEndpoint(
        url=url,
        events=chosen,
        secret=new_secret(),
        active=True,
        created_by_id=actor.user_id,
        created_at=dates.now(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    return session.exec(select(WebhookEndpoint).order_by(col(WebhookEndpoint.id))).all()


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("Ce webhook est introuvable.")
    return endpoint


def delete_endpoint(session: Session, *, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint and its delivery log (its pending jobs then find nothing to send)."""
    session.execute(
        sa.delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    )
    session.delete(endpoint)
    session.flush()


def list_deliveries(
    session: Session, *, endpoint: WebhookEndpoint, limit: int = 50, offset: int = 0
) -> tuple[list[WebhookDelivery], int]:
    """An endpoint's delivery log, newest first, and its length."""
    where = col(WebhookDelivery.endpoint_id) == endpoint.id
    total = session.exec(select(sa.func.count()).select_from(WebhookDelivery).where(where)).one()
    rows = session.exec(
        select(WebhookDelivery)
        .where(where)
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def counts_by_endpoint(session: Session) -> dict[int, dict[str, int]]:
    """For each endpoint, its deliveries by status (the admin page), in one query."""
    rows = session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, sa.func.count()).group_by(
            col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status)
        )
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, status, n in rows:
        counts.setdefault(int(endpoint_id), dict.fromkeys(STATUS_LABELS, 0))[status] = int(n)
    return counts


# --- facts → deliveries (subscribed in labelflow.consequences) ---------------------------------


def _data(fact: Fact) -> dict[str, Any]:
    """What the payload says of a fact: ids and states, never a message's or a file's content."""
    event, data = fact.event, fact.event.data
    out: dict[str, Any] = {"project_id": event.project_id}
    if fact.kind in ("transition", "suspension", "reprise"):
        out.update(
            kind=fact.kind,
            action=event.action,
            from_state=event.from_state,
            to_state=event.to_state,
        )
    elif fact.kind in ("document", "revue"):
        out.update(
            document_id=data.get("id"),
            document_type=data.get("type"),
            op="depot" if fact.kind == "document" else "revue",
        )
        if fact.kind == "revue":
            out["status"] = data.get("status")
    elif fact.kind == "decision":
        out.update(
            decision_id=data.get("id"),
            outcome=data.get("outcome"),
            meeting_id=data.get("meeting_id"),
        )
    elif fact.kind == "message":
        out.update(message_id=data.get("message_id"), audience=data.get("audience"))
    return out


def on_fact(fact: Fact) -> None:
    """A fact of a kind webhooks carry: a delivery and its job for every active endpoint that
    chose its event (one query when none did)."""
    event_type = FACT_EVENTS.get(fact.kind)
    if event_type is None or fact.event.project_id is None:
        return
    session = fact.session
    wanting = [
        e
        for e in session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.active).is_(True))
        ).all()
        if event_type in e.events
    ]
    if not wanting:
        return
    payload = {
        "type": event_type,
        "timestamp": fact.event.at.isoformat(),
        "data": _data(fact),
    }
    now = dates.now()
    deliveries = [
        WebhookDelivery(
            endpoint_id=id_of(endpoint),
            event_type=event_type,
            message_id=f"msg_{uuid.uuid4().hex}",
            payload=payload,
            status=PENDING,
            created_at=now,
        )
        for endpoint in wanting
    ]
    session.add_all(deliveries)
    session.flush()
    jobs.enqueue_many(
        session,
        [
            jobs.NewJob(JOB, {"delivery_id": id_of(d)}, dedupe_key=f"webhook:{id_of(d)}")
            for d in deliveries
        ],
    )


# --- delivering (the job's handler, outside) ----------------------------------------------------


def body_of(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"))


def signed_headers(secret: str, *, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for `body` sent at `at`."""
    return {
        "content-type": "application/json",
        "user-agent": "labelflow-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def _admins(session: Session) -> list[int]:
    """The active administrators who may manage webhooks (national ones: `permissions`)."""
    admins = session.exec(
        select(User).where(
            User.role == "staff", col(User.is_admin).is_(True), col(User.active).is_(True)
        )
    ).all()
    return [id_of(u) for u in admins if allows(actor_of(u), WEBHOOKS_MANAGE)]


def _outcome(
    delivery_id: int,
    *,
    at: datetime,
    code: int | None,
    error: str | None,
    last_attempt: bool,
) -> jobs.Finish:
    """What an attempt writes: the delivery log, and the endpoint's failing streak (disabled,
    the administrators told, once it lasts 24 hours)."""

    def finish(session: Session) -> None:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        delivery.attempts += 1
        delivery.last_attempt_at = at
        delivery.last_status_code = code
        delivery.last_error = error[:2000] if error else None
        if error is None:
            delivery.status, delivery.delivered_at = DELIVERED, at
            if endpoint is not None:
                endpoint.failing_since = None
        else:
            # Pending again when an abandoned one was resent, abandoned after the last attempt.
            delivery.status = ABANDONED if last_attempt else PENDING
            if endpoint is not None and endpoint.active:
                endpoint.failing_since = endpoint.failing_since or at
                if at - endpoint.failing_since >= DISABLE_AFTER:
                    _disable(session, endpoint, at=at)
                    delivery.status = ABANDONED
        session.add(delivery)
        if endpoint is not None:
            session.add(endpoint)

    return finish


def _disable(session: Session, endpoint: WebhookEndpoint, *, at: datetime) -> None:
    """Disable the endpoint and tell the admins, once: of two workers failing at the same time,
    the second finds it disabled already (the row's update waits for the first's commit)."""
    result = session.execute(
        sa.update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint.id, col(WebhookEndpoint.active).is_(True))
        .values(active=False, disabled_at=at)
    )
    if not getattr(result, "rowcount", 0):
        return
    notifications.notify(
        session,
        kind="webhook",
        user_ids=_admins(session),
        title=f"Webhook désactivé après 24 heures d'échecs : {endpoint.url}"[:300],
        url=f"/webhooks#webhook-{endpoint.id}",
        body="Chaque envoi vers cette adresse échoue depuis 24 heures : labelflow ne lui envoie "
        "plus rien. Vérifiez le serveur qui la reçoit, puis enregistrez-la de nouveau.",
    )


def _abandon(delivery_id: int, reason: str) -> jobs.Finish:
    def finish(session: Session) -> None:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is not None and delivery.status != DELIVERED:
            delivery.status, delivery.last_error = ABANDONED, reason
            session.add(delivery)

    return finish


def deliver(ctx: jobs.JobContext) -> jobs.Finish | None:
    """Job `webhook` (outside): post one delivery, signed; record the attempt."""
    session = ctx.session
    delivery = session.get(WebhookDelivery, int(ctx.payload["delivery_id"]))
    if delivery is None or delivery.status == DELIVERED:
        return None  # its endpoint was deleted, or a job run twice
    # An abandoned delivery runs again only when its job was put back (« Relancer »).
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    delivery_id = id_of(delivery)
    if endpoint is None or not endpoint.active:
        return _abandon(delivery_id, "webhook désactivé")
    try:
        # Again at delivery: the name may resolve elsewhere than when it was registered.
        addresses = check_url(endpoint.url, allow_private=ctx.settings.webhooks_allow_private)
    except WebhookUrlRefused as exc:
        refused = _abandon(delivery_id, exc.message)
        raise jobs.PermanentFailure(exc.message, record=refused) from None
    body = body_of(delivery)
    at = dates.now()
    last_attempt = ctx.job.attempts > len(jobs.RETRY_DELAYS)
    code: int | None = None
    try:
        with pinned_client(addresses[0]) as client:
            response = client.post(
                endpoint.url,
                content=body.encode(),
                headers=signed_headers(
                    endpoint.secret, message_id=delivery.message_id, at=at, body=body
                ),
                follow_redirects=False,
            )
        code = response.status_code
        error = None if 200 <= code < 300 else f"réponse HTTP {code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__} : {exc}" if str(exc) else type(exc).__name__
    record = _outcome(delivery_id, at=at, code=code, error=error, last_attempt=last_attempt)
    if error is None:
        return record
    failing_since = endpoint.failing_since or at
    if last_attempt or at - failing_since >= DISABLE_AFTER:
        raise jobs.PermanentFailure(error, record=record)  # abandoned; disabled after 24 h
    raise jobs.TemporaryFailure(error, record=record)
