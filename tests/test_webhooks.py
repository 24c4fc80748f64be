"""Webhooks (DESIGN §11): signed deliveries to a real HTTP receiver on loopback (a thread),
through the jobs table with its retries and a delivery log; disabled after 24 hours of
failures with the admins told; private addresses refused at creation and at delivery; admins
only."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from standardwebhooks import Webhook, WebhookVerificationError

from labelflow import accounts, dates, jobs, webhooks
from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import Job, Notification, User, WebhookDelivery, WebhookEndpoint
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.factories import create_project, decide, upload, walk_to


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    # The statuses answered in turn (then 200).
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every body received, checked with the standardwebhooks library (raises if forged)."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            state.received.append(Received({k: v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/labelflow"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def allowed(app: Any, settings: Settings) -> Iterator[Settings]:
    """The settings of the tests' receivers on loopback: LABELFLOW_WEBHOOKS_ALLOW_PRIVATE=true."""
    permissive = settings.model_copy(update={"webhooks_allow_private": True})
    app.state.settings = permissive
    try:
        yield permissive
    finally:
        app.state.settings = settings


def register(client: Any, url: str, events: list[str]) -> dict[str, Any]:
    r = client.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["secret"].startswith("whsec_")
    return body


def run(app: Any, db: Engine, settings: Settings) -> int:
    return jobs.run_due(db, settings=settings, runtime=app.state.runtime)


def deliveries(client: Any, wid: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/webhooks/{wid}/deliveries")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_500_is_retried_then_delivered_signed_and_logged(
    client: Any, app: Any, db: Engine, allowed: Settings, receiver: Receiver
) -> None:
    hook = register(client, receiver.url, ["transition"])
    # Shown once: the list does not carry it.
    listed = client.get("/api/v1/webhooks").json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    project = create_project(client, name="Régie des Peupliers")
    walk_to(client, project, "faisabilite")
    assert receiver.received == []  # nothing is sent inside the request

    receiver.statuses = [500]
    run(app, db, allowed)
    assert len(receiver.received) == 1
    (log,) = deliveries(client, hook["id"])
    assert log["status"] == "en_attente"
    assert (log["attempts"], log["last_status_code"]) == (1, 500)
    assert log["last_error"] == "réponse HTTP 500"
    run(app, db, allowed)  # the retry is not due yet
    assert len(receiver.received) == 1

    with dates.frozen(dates.now() + timedelta(minutes=2)):
        run(app, db, allowed)
    assert len(receiver.received) == 2
    (log,) = deliveries(client, hook["id"])
    assert log["status"] == "livree"
    assert (log["attempts"], log["last_status_code"], log["last_error"]) == (2, 200, None)
    assert log["delivered_at"] is not None

    first, second = receiver.verified(hook["secret"])
    assert first == second
    assert first["type"] == "transition"
    assert first["data"] == {
        "project_id": project["id"],
        "kind": "transition",
        "action": "lancer_faisabilite",
        "from_state": "groupe_projet",
        "to_state": "faisabilite",
    }
    assert dates.now() - timedelta(minutes=5) < _parse(first["timestamp"]) <= dates.now()
    # The same webhook-id on each attempt (a receiver skips repeats), each attempt re-signed.
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {log["message_id"]} and log["message_id"].startswith("msg_")
    assert receiver.received[0].headers["content-type"] == "application/json"
    # A forged body or another secret does not verify.
    forged = receiver.received[1]
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(
            forged.body.replace(b"faisabilite", b"prefiguration"), forged.headers
        )
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(forged.body, forged.headers)
    with transaction(db) as session:
        (job,) = session.exec(select(Job).where(Job.kind == webhooks.JOB)).all()
        assert (job.status, job.attempts) == ("faite", 2)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_each_chosen_event_is_sent_and_nothing_else(
    client: Any, app: Any, db: Engine, allowed: Settings, receiver: Receiver
) -> None:
    documents = register(client, receiver.url, ["document", "message"])
    project = create_project(client, name="Régie des Frênes")
    document = upload(client, project["id"], "note_cadrage")
    r = client.post(
        f"/api/v1/projects/{project['id']}/messages",
        json={"body": "Un message confidentiel", "audience": "interne"},
    )
    assert r.status_code == 201, r.text
    message = r.json()
    walk_to(client, client.get(f"/api/v1/projects/{project['id']}").json(), "faisabilite")
    run(app, db, allowed)

    got = receiver.verified(documents["secret"])
    types = [p["type"] for p in got]
    assert "transition" not in types
    assert types[:2] == ["document", "message"]
    assert got[0]["data"] == {
        "project_id": project["id"],
        "document_id": document["id"],
        "document_type": "note_cadrage",
        "op": "depot",
    }
    assert got[1]["data"] == {
        "project_id": project["id"],
        "message_id": message["id"],
        "audience": "interne",
    }
    assert all(b"confidentiel" not in r.body for r in receiver.received)
    assert {d["status"] for d in deliveries(client, documents["id"])} == {"livree"}


def test_a_review_and_a_decision_are_sent(
    client: Any, app: Any, db: Engine, allowed: Settings, receiver: Receiver
) -> None:
    project = walk_to(client, create_project(client, name="Régie des Charmes"), "decision_bureau")
    document = upload(client, project["id"], "autre")
    hook = register(client, receiver.url, ["decision", "document"])
    r = client.post(
        f"/api/v1/documents/{document['id']}/review",
        json={"status": "rejected", "comment": "Illisible"},
    )
    assert r.status_code == 200, r.text
    decision = decide(client, project["id"], "attribution")
    run(app, db, allowed)
    got = receiver.verified(hook["secret"])
    decisions = [p for p in got if p["type"] == "decision"]
    assert [p["data"] for p in decisions] == [
        {
            "project_id": project["id"],
            "decision_id": decision["id"],
            "outcome": "attribution",
            "meeting_id": decision["meeting_id"],
        }
    ]
    reviews = [p["data"] for p in got if p["type"] == "document" and p["data"]["op"] == "revue"]
    assert reviews == [
        {
            "project_id": project["id"],
            "document_id": document["id"],
            "document_type": "autre",
            "op": "revue",
            "status": "rejected",
        }
    ]
    assert b"Illisible" not in b"".join(x.body for x in receiver.received)


def test_an_endpoint_failing_for_24_hours_is_disabled_and_the_admins_told(
    client: Any,
    app: Any,
    db: Engine,
    allowed: Settings,
    receiver: Receiver,
    staff_user: User,
) -> None:
    other_admin = make_user(db, role="staff", is_admin=True, name="Alix Admin")
    not_admin = make_user(db, role="staff", name="Sacha Staff")
    # A regional administrator may not manage webhooks: not told either.
    make_user(db, role="staff", is_admin=True, name="Régine Régionale", regions=["Bretagne"])
    hook = register(client, receiver.url, ["transition"])
    project = create_project(client, name="Régie des Saules")
    before = set(allowed.mailbox_dir.glob("*.eml")) if allowed.mailbox_dir.is_dir() else set()
    start = dates.now()
    receiver.statuses = [503] * 10
    with dates.frozen(start):
        walk_to(client, project, "faisabilite")
        run(app, db, allowed)
    with dates.frozen(start + timedelta(hours=23)):  # failing for 23 hours: still active
        run(app, db, allowed)
    hooks = client.get("/api/v1/webhooks").json()
    assert hooks[0]["active"] is True
    assert hooks[0]["failing_since"] is not None
    (log,) = deliveries(client, hook["id"])
    assert (log["status"], log["attempts"], log["last_status_code"]) == ("en_attente", 2, 503)

    with dates.frozen(start + timedelta(hours=24, minutes=1)):
        run(app, db, allowed)
    assert len(receiver.received) == 3
    (hook_now,) = client.get("/api/v1/webhooks").json()
    assert hook_now["active"] is False and hook_now["disabled_at"] is not None
    (log,) = deliveries(client, hook["id"])
    assert (log["status"], log["attempts"]) == ("abandonnee", 3)
    with transaction(db) as session:
        told = session.exec(select(Notification).where(Notification.kind == "webhook")).all()
        assert {n.user_id for n in told} == {staff_user.id, other_admin.id}
        assert not_admin.id not in {n.user_id for n in told}
        assert told[0].title == f"Webhook désactivé après 24 heures d'échecs : {receiver.url}"
        assert told[0].url == f"/webhooks#webhook-{hook['id']}"
        job = session.exec(select(Job).where(Job.kind == webhooks.JOB)).one()
        assert job.status == "abandonnee"
    # The admins' e-mails went out like any notification's (the local mailbox here).
    sent = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in set(allowed.mailbox_dir.glob("*.eml")) - before
    ]
    subjects = {str(m["Subject"]) for m in sent}
    assert f"Webhook désactivé après 24 heures d'échecs : {receiver.url}" in subjects
    assert {m["To"].addresses[0].addr_spec for m in sent if "Webhook" in str(m["Subject"])} == {
        staff_user.email,
        other_admin.email,
    }

    # Disabled: a new fact writes no delivery, nothing is sent.
    walk_to(client, client.get(f"/api/v1/projects/{project['id']}").json(), "validation")
    run(app, db, allowed)
    assert len(deliveries(client, hook["id"])) == 1
    assert len(receiver.received) == 3


def test_a_success_ends_the_failing_streak(
    client: Any, app: Any, db: Engine, allowed: Settings, receiver: Receiver
) -> None:
    hook = register(client, receiver.url, ["transition"])
    project = create_project(client)
    start = dates.now()
    receiver.statuses = [500]
    with dates.frozen(start):
        walk_to(client, project, "faisabilite")
        run(app, db, allowed)
    assert client.get("/api/v1/webhooks").json()[0]["failing_since"] is not None
    with dates.frozen(start + timedelta(minutes=2)):
        run(app, db, allowed)
    assert client.get("/api/v1/webhooks").json()[0]["failing_since"] is None
    # A failure a day later starts a new streak: not disabled.
    receiver.statuses = [500]
    with dates.frozen(start + timedelta(hours=30)):
        walk_to(client, client.get(f"/api/v1/projects/{project['id']}").json(), "validation")
        run(app, db, allowed)
    (now,) = client.get("/api/v1/webhooks").json()
    assert now["active"] is True and now["failing_since"] is not None
    assert hook["id"] == now["id"]


REFUSED_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_private_addresses_are_refused(client: Any, db: Engine, url: str) -> None:
    r = client.post("/api/v1/webhooks", json={"url": url, "events": ["transition"]})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "adresse_refusee"
    assert error["fields"][0]["field"] == "url"
    assert "réseau privé ou local" in error["message"]
    with transaction(db) as session:
        assert session.exec(select(WebhookEndpoint)).all() == []


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"url": "ftp://93.184.215.14/hook", "events": ["transition"]},
            "adresse_refusee",
            "L'adresse doit commencer par http:// ou https:// et nommer un serveur.",
        ),
        (
            {"url": "javascript:alert(1)", "events": ["transition"]},
            "adresse_refusee",
            "L'adresse doit commencer par http:// ou https:// et nommer un serveur.",
        ),
        (
            {"url": "https://93.184.215.14:99999/hook", "events": ["transition"]},
            "adresse_refusee",
            "Le port de l'adresse est invalide.",
        ),
        (
            {"url": "https://93.184.215.14/hook", "events": ["transition", "paiement"]},
            "evenement_inconnu",
            "Événement inconnu : paiement ; choisissez parmi transition, document, decision, "
            "message.",
        ),
        (
            {"url": "https://93.184.215.14/hook", "events": []},
            "evenement_inconnu",
            "Choisissez au moins un événement parmi transition, document, decision, message.",
        ),
        (
            {"url": "https://nom-inexistant.invalid/hook", "events": ["document"]},
            "adresse_refusee",
            "Le serveur « nom-inexistant.invalid » est introuvable : vérifiez l'adresse.",
        ),
    ],
)
def test_bad_input_is_refused_in_french_and_nothing_stored(
    client: Any, db: Engine, body: dict[str, Any], code: str, message: str
) -> None:
    r = client.post("/api/v1/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"] == typeset(message)
    with transaction(db) as session:
        assert session.exec(select(WebhookEndpoint)).all() == []


def test_other_malformed_bodies_are_422(client: Any) -> None:
    for body in (
        {},
        {"url": "https://93.184.215.14/hook"},
        {"url": "https://93.184.215.14/hook", "events": "transition"},
        {"url": "", "events": ["transition"]},
        {"url": "https://93.184.215.14/" + "a" * 2000, "events": ["transition"]},
        {"url": "https://93.184.215.14/hook", "events": ["transition"], "secret": "mine"},
    ):
        r = client.post("/api/v1/webhooks", json=body)
        assert r.status_code == 422, (body, r.text)
    assert client.get("/api/v1/webhooks").json() == []


def test_a_public_address_is_accepted_and_an_address_that_turns_private_is_not_sent_to(
    client: Any,
    app: Any,
    db: Engine,
    settings: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A literal public address needs no resolver.
    assert register(client, "https://93.184.215.14/hook", ["decision"])["events"] == ["decision"]
    # A name that resolves publicly when it is registered...
    monkeypatch.setattr(webhooks, "resolve", lambda host: ["93.184.215.14"])
    port = receiver.url.split(":")[2].split("/")[0]
    hook = register(client, f"http://hooks.example.org:{port}/labelflow", ["transition"])
    # ...and to loopback by the time of the delivery: not sent, abandoned, said in the log.
    monkeypatch.setattr(webhooks, "resolve", lambda host: ["127.0.0.1"])
    walk_to(client, create_project(client), "faisabilite")
    run(app, db, settings)
    assert receiver.received == []
    (log,) = deliveries(client, hook["id"])
    assert log["status"] == "abandonnee"
    assert "réseau privé ou local (127.0.0.1)" in log["last_error"]
    with transaction(db) as session:
        job = session.exec(select(Job).where(Job.kind == webhooks.JOB)).one()
        assert job.status == "abandonnee"


def test_an_abandoned_delivery_is_resent_from_taches(
    client: Any,
    app: Any,
    db: Engine,
    settings: Settings,
    allowed: Settings,
    receiver: Receiver,
) -> None:
    hook = register(client, receiver.url, ["transition"])
    walk_to(client, create_project(client), "faisabilite")
    run(app, db, settings)  # loopback refused at delivery without the setting: abandoned
    (log,) = deliveries(client, hook["id"])
    assert log["status"] == "abandonnee" and receiver.received == []
    (job,) = client.get("/api/v1/jobs", params={"status": "abandonnee"}).json()["items"]
    assert job["kind"] == "webhook"
    assert client.post(f"/api/v1/jobs/{job['id']}/retry").status_code == 200
    run(app, db, allowed)
    (log,) = deliveries(client, hook["id"])
    assert (log["status"], log["last_status_code"]) == ("livree", 200)
    assert len(receiver.verified(hook["secret"])) == 1


def test_the_delivery_connects_to_the_address_it_checked(
    client: Any,
    app: Any,
    db: Engine,
    allowed: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A name no DNS knows, resolved (by the check) to the receiver: the connection goes to the
    # address checked, not to a second look-up, and the request still names the server.
    monkeypatch.setattr(webhooks, "resolve", lambda host: ["127.0.0.1"])
    port = receiver.url.split(":")[2].split("/")[0]
    hook = register(client, f"http://hooks.example.org:{port}/labelflow", ["transition"])
    walk_to(client, create_project(client), "faisabilite")
    run(app, db, allowed)
    (got,) = receiver.received
    assert got.headers["Host"] == f"hooks.example.org:{port}"
    assert receiver.verified(hook["secret"])[0]["type"] == "transition"
    assert deliveries(client, hook["id"])[0]["status"] == "livree"


def test_an_unreachable_receiver_is_a_logged_failure(
    client: Any, app: Any, db: Engine, allowed: Settings, receiver: Receiver
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    closed = receiver.url.replace(f":{port}/", ":1/")  # nothing listens on port 1
    hook = register(client, closed, ["transition"])
    walk_to(client, create_project(client), "faisabilite")
    run(app, db, allowed)
    (log,) = deliveries(client, hook["id"])
    assert (log["status"], log["attempts"], log["last_status_code"]) == ("en_attente", 1, None)
    assert log["last_error"].startswith("ConnectError")


def test_deleting_an_endpoint_removes_its_log_and_sends_nothing_more(
    client: Any, app: Any, db: Engine, allowed: Settings, receiver: Receiver
) -> None:
    hook = register(client, receiver.url, ["transition"])
    walk_to(client, create_project(client), "faisabilite")
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    run(app, db, allowed)
    assert receiver.received == []
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    with transaction(db) as session:
        assert session.exec(select(WebhookDelivery)).all() == []
        assert session.exec(select(Job).where(col(Job.kind) == webhooks.JOB)).one().status == (
            "faite"
        )


def test_admins_only(client: Any, client_as: Any, db: Engine) -> None:
    hook = register(client, "https://93.184.215.14/hook", ["transition"])
    for role in ("staff", "consultant", "porteur", "bureau"):
        other = client_as(make_user(db, role=role))
        body = {"url": "https://93.184.215.14/other", "events": ["transition"]}
        for method, path, kwargs in (
            ("GET", "/api/v1/webhooks", {}),
            ("POST", "/api/v1/webhooks", {"json": body}),
            ("DELETE", f"/api/v1/webhooks/{hook['id']}", {}),
            ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", {}),
        ):
            r = other.request(method, path, **kwargs)
            assert r.status_code == 403, (role, method, path, r.text)
    assert [h["id"] for h in client.get("/api/v1/webhooks").json()] == [hook["id"]]
    # A regional administrator sees the projects of their régions only: webhooks carry every
    # project's facts, so they are the national administrators'.
    regional = client_as(
        make_user(
            db, role="staff", is_admin=True, name="Régine Régionale", regions=["Hauts-de-France"]
        )
    )
    assert regional.get("/api/v1/webhooks").status_code == 403
    assert regional.get("/api/v1/users").status_code == 200  # still an administrator


def test_the_admin_page_registers_shows_the_secret_once_and_deletes(
    client: Any, anonymous: Any, db: Engine, staff_user: User
) -> None:
    with transaction(db) as session:
        account = accounts.get_user(session, staff_user.id or 0)
        opened = accounts.open_session(session, user=account, settings=client.app.state.settings)
        cookie, csrf = opened.raw_token, opened.record.csrf_token
    anonymous.headers.pop("Authorization", None)
    anonymous.cookies.set("labelflow_session", cookie)
    page = anonymous.get("/webhooks")
    assert page.status_code == 200 and "Aucun webhook pour l’instant." in page.text

    refused = anonymous.post(
        "/webhooks", data={"csrf_token": csrf, "url": "http://10.0.0.1/x", "events": ["message"]}
    )
    assert refused.status_code == 422
    assert "réseau privé ou local" in refused.text
    assert 'value="http://10.0.0.1/x"' in refused.text

    made = anonymous.post(
        "/webhooks",
        data={"csrf_token": csrf, "url": "https://93.184.215.14/hook", "events": ["message"]},
    )
    assert made.status_code == 201
    secret = made.text.split('id="secret-webhook"')[1].split('value="')[1].split('"')[0]
    assert secret.startswith("whsec_")
    again = anonymous.get("/webhooks")
    assert secret not in again.text and "https://93.184.215.14/hook" in again.text
    (hook,) = client_list(db)
    assert anonymous.get(f"/webhooks/{hook}").status_code == 200
    gone = anonymous.post(
        f"/webhooks/{hook}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert gone.status_code == 303
    assert client_list(db) == []


def client_list(db: Engine) -> list[int]:
    with transaction(db) as session:
        return [e.id or 0 for e in session.exec(select(WebhookEndpoint)).all()]


def test_the_payload_is_compact_json(app: Any) -> None:
    delivery = WebhookDelivery(
        endpoint_id=1,
        event_type="message",
        message_id="msg_x",
        payload={"type": "message", "timestamp": "t", "data": {"project_id": 1, "texte": "é"}},
    )
    assert json.loads(webhooks.body_of(delivery)) == delivery.payload
    assert webhooks.body_of(delivery) == (
        '{"type":"message","timestamp":"t","data":{"project_id":1,"texte":"é"}}'
    )


def test_an_endpoint_is_disabled_and_the_admins_told_once(
    client: Any, db: Engine, staff_user: User
) -> None:
    """Two workers failing at the same moment: the second finds it disabled already."""
    hook = register(client, "https://93.184.215.14/hook", ["transition"])
    for _worker in range(2):
        with transaction(db) as session:
            endpoint = session.get(WebhookEndpoint, hook["id"])
            assert endpoint is not None
            webhooks._disable(session, endpoint, at=dates.now())
    with transaction(db) as session:
        told = session.exec(select(Notification).where(Notification.kind == "webhook")).all()
        assert [n.user_id for n in told] == [staff_user.id]
        endpoint = session.get(WebhookEndpoint, hook["id"])
        assert endpoint is not None and endpoint.active is False
