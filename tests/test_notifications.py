"""Who is told what (DESIGN §9's table), through the real app, the worker and a real SMTP server;
the notifications API, preferences and digests, following a project, the bell and the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from html import unescape
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from labelflow import dates, jobs, notifications
from labelflow.db import transaction
from labelflow.models import Job, Notification, Project, User
from labelflow.schemas import NotificationKind, NotificationMode
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.factories import (
    assign,
    client_for,
    create_project,
    decide,
    declare,
    fire,
    hold_meeting,
    submit_report,
    upload,
    walk_to,
)
from tests.smtp import SmtpServer, text_of
from tests.test_dashboard import count_statements
from tests.test_pages_roles import PASSWORD, csrf, session_as

__all__ = ["session_as"]  # the fixture, used by name


def plain(text: str) -> str:
    """French typography's non-breaking spaces read as plain ones."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


# --- the world: a project, its people, the post office ----------------------------------------


class PostOffice:
    """The worker and the SMTP server: what each address received since the last look."""

    def __init__(self, db: Engine, app: Any, settings: Settings, smtp: SmtpServer) -> None:
        self.db, self.app, self.smtp = db, app, smtp
        self.settings = smtp.settings(settings)

    def deliver(self) -> dict[str, list[EmailMessage]]:
        jobs.run_due(self.db, settings=self.settings, runtime=self.app.state.runtime)
        received: dict[str, list[EmailMessage]] = {}
        for message, (_sender, recipients) in zip(
            self.smtp.messages, self.smtp.envelopes, strict=True
        ):
            for address in recipients:
                received.setdefault(address, []).append(message)
        self.smtp.clear()
        return received

    def settle(self) -> None:
        """Deliver what is pending (the accounts' own e-mails, say) and forget it."""
        self.deliver()


@pytest.fixture
def post(db: Engine, app: Any, settings: Settings, smtp_server: SmtpServer) -> PostOffice:
    return PostOffice(db, app, settings, smtp_server)


@dataclass
class World:
    project: dict[str, Any]
    actor: User  # the staff member who acts (the default client)
    owner: User  # the chargé·e de suivi
    follower: User  # another staff member following the project
    bystander: User  # staff neither in charge nor following
    porteur: User
    other_porteur: User  # a porteur of another project

    @property
    def pid(self) -> int:
        return int(self.project["id"])


@pytest.fixture
def world(
    client: Any,
    db: Engine,
    staff_user: User,
    client_as: Callable[[User], Any],
    post: PostOffice,
) -> World:
    project = create_project(client)
    owner = make_user(db, role="staff", name="Olivia Martel", password=PASSWORD)
    follower = make_user(db, role="staff", name="Fabien Suiveur")
    bystander = make_user(db, role="staff", name="Bruno Ailleurs")
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    other_porteur = make_user(db, role="porteur", name="Paul Autrepart")
    r = client.patch(f"/api/v1/projects/{project['id']}", json={"staff_owner_id": owner.id})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/projects/{project['id']}/members", json={"user_id": porteur.id})
    assert r.status_code == 201, r.text
    other = create_project(client, name="Régie de quartier des Autres")
    r = client.post(f"/api/v1/projects/{other['id']}/members", json={"user_id": other_porteur.id})
    assert r.status_code == 201, r.text
    r = client_as(follower).post(f"/api/v1/projects/{project['id']}/followers/me")
    assert r.status_code == 200, r.text
    post.settle()
    project = client.get(f"/api/v1/projects/{project['id']}").json()
    return World(project, staff_user, owner, follower, bystander, porteur, other_porteur)


def addresses(*users: User) -> set[str]:
    return {u.email for u in users}


def rows(db: Engine, **where: Any) -> list[Notification]:
    with Session(db) as session:
        query = select(Notification).order_by(col(Notification.id))
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(session.exec(query).all())


def job_count(db: Engine) -> int:
    with Session(db) as session:
        return len(session.exec(select(Job)).all())


def check_mail(message: EmailMessage, *, project_name: str, link: str, title: str) -> None:
    """The e-mail names the project (subject and body), links absolutely, says not to reply."""
    subject, text = plain(str(message["Subject"])), plain(text_of(message))
    assert project_name in subject, subject
    assert plain(title) in subject, subject
    assert project_name in text and plain(title) in text
    assert link in text, text
    assert "ne pas y répondre" in text
    html = message.get_body(preferencelist=("html",))
    assert html is not None and f'href="{link}"' in str(html.get_content())  # type: ignore[attr-defined]


# --- the kinds are one list ---------------------------------------------------------------------


def test_the_api_knows_every_kind_and_mode() -> None:
    assert list(get_args(NotificationKind)) == list(notifications.KINDS)
    assert list(get_args(NotificationMode)) == list(notifications.MODES)
    assert set(notifications.KINDS) >= notifications.ESSENTIAL


# --- transitions, suspension, resumption, abandonment -------------------------------------------


def test_a_transition_tells_the_porteurs_and_the_staff_in_charge(
    client: Any, world: World, post: PostOffice, settings: Settings
) -> None:
    walk_to(client, world.project, "faisabilite")
    received = post.deliver()
    # Only the transition's e-mails: documents added by the actor go to owner and follower too.
    titles = {
        address: [plain(str(m["Subject"])) for m in messages]
        for address, messages in received.items()
    }
    step = "Le projet est passé à l'étape 2 : Étude de faisabilité"
    told = {a for a, subjects in titles.items() if any(step in s for s in subjects)}
    assert told == addresses(world.owner, world.follower, world.porteur)
    assert world.actor.email not in received  # never told of one's own act
    assert world.bystander.email not in received and world.other_porteur.email not in received
    [to_porteur] = [m for m in received[world.porteur.email] if step in plain(str(m["Subject"]))]
    check_mail(
        to_porteur,
        project_name="Régie de quartier de l'Alma",
        link=f"{settings.base_url}/projects/{world.pid}",
        title=step,
    )
    # The same in the application.
    [in_app] = rows(post.db, user_id=world.porteur.id, kind="transition")
    assert plain(in_app.title) == step and in_app.url == f"/projects/{world.pid}"
    assert in_app.emailed_at is not None and in_app.read_at is None


def test_suspension_resumption_and_abandonment_are_told(
    client: Any, world: World, post: PostOffice
) -> None:
    pid = world.pid
    r = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections municipales"})
    assert r.status_code == 200, r.text
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower, world.porteur)
    [message] = received[world.porteur.email]
    assert "Le projet est suspendu" in plain(str(message["Subject"]))
    assert "Élections municipales" in plain(text_of(message))  # the reason, in the body

    r = client.post(f"/api/v1/projects/{pid}/resume", json={"comment": "Reprise"})
    assert r.status_code == 200, r.text
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower, world.porteur)
    assert "Le projet a repris" in plain(str(received[world.owner.email][0]["Subject"]))

    fire(client, pid, "abandonner", comment="La collectivité se retire.")
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower, world.porteur)
    subject = plain(str(received[world.porteur.email][0]["Subject"]))
    assert "Le projet est passé à « Projet abandonné »" in subject


def test_a_refused_transition_tells_nobody(
    client: Any, world: World, post: PostOffice, db: Engine
) -> None:
    before_rows, before_jobs = len(rows(db)), job_count(db)
    # Criteria unmet (409), a comment missing (422), a suspended project (409).
    fire(client, world.pid, "lancer_faisabilite", expect=409)
    fire(client, world.pid, "abandonner", expect=422)
    r = client.post(f"/api/v1/projects/{world.pid}/suspend", json={"comment": ""})
    assert r.status_code == 422
    r = client.post(f"/api/v1/projects/{world.pid}/resume", json={"comment": "x"})
    assert r.status_code == 409
    assert len(rows(db)) == before_rows and job_count(db) == before_jobs
    assert post.deliver() == {}


# --- documents ------------------------------------------------------------------------------------


def test_a_document_added_tells_the_staff_in_charge_only(
    world: World, post: PostOffice, client_as: Callable[[User], Any], settings: Settings
) -> None:
    upload(client_as(world.porteur), world.pid, "note_cadrage")
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower)
    [message] = received[world.owner.email]
    check_mail(
        message,
        project_name="Régie de quartier de l'Alma",
        link=f"{settings.base_url}/projects/{world.pid}#pieces",
        title="Pièce déposée : Note de cadrage (par Awa Diallo)",
    )


def test_a_document_refused_tells_the_porteurs_with_the_reason(
    client: Any, world: World, post: PostOffice, db: Engine
) -> None:
    document = upload(client, world.pid, "note_cadrage")
    post.settle()
    # Refused without a reason (422): nothing, nobody.
    before = len(rows(db))
    r = client.post(f"/api/v1/documents/{document['id']}/review", json={"status": "rejected"})
    assert r.status_code == 422
    assert len(rows(db)) == before and post.deliver() == {}

    r = client.post(
        f"/api/v1/documents/{document['id']}/review",
        json={"status": "rejected", "comment": "Le document est illisible."},
    )
    assert r.status_code == 200, r.text
    received = post.deliver()
    assert set(received) == addresses(world.porteur)
    [message] = received[world.porteur.email]
    title = "Pièce refusée : Note de cadrage — motif : Le document est illisible."
    assert title in plain(str(message["Subject"]))
    assert "nouvelle version" in plain(text_of(message))

    # A long reason: the subject quotes its beginning, the body the whole of it.
    third = upload(client, world.pid, "note_cadrage")
    post.settle()
    reason = "La signature manque. " + "Détail de la correction attendue. " * 20 + "Fin."
    r = client.post(
        f"/api/v1/documents/{third['id']}/review", json={"status": "rejected", "comment": reason}
    )
    assert r.status_code == 200, r.text
    [message] = post.deliver()[world.porteur.email]
    subject = plain(str(message["Subject"]))
    assert "motif : La signature manque. Détail" in subject and subject.endswith("…")
    assert "Fin." not in subject and plain(reason) in " ".join(plain(text_of(message)).split())

    # Accepted: nobody is told.
    second = upload(client, world.pid, "note_cadrage")
    post.settle()
    r = client.post(f"/api/v1/documents/{second['id']}/review", json={"status": "accepted"})
    assert r.status_code == 200
    assert post.deliver() == {}


# --- assignments, declarations, the report, the Bureau's decision ------------------------------


def test_assignment_declaration_and_end(
    client: Any, world: World, post: PostOffice, db: Engine, settings: Settings
) -> None:
    walk_to(client, world.project, "prefiguration")
    consultant = make_user(db, role="consultant", name="Claire Martin")
    other_consultant = make_user(db, role="consultant", name="Jean Lien")
    post.settle()

    assignment = assign(client, world.pid, consultant.id or 0)
    received = post.deliver()
    assert set(received) == addresses(consultant)
    [message] = received[consultant.email]
    check_mail(
        message,
        project_name="Régie de quartier de l'Alma",
        link=f"{settings.base_url}/assignments#mission-{assignment['id']}",
        title="Vous êtes sollicité·e pour une expertise",
    )

    declare(client_for(client, consultant.id or 0), assignment["id"])
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower)
    assert "Claire Martin a déclaré son indépendance" in plain(
        str(received[world.owner.email][0]["Subject"])
    )

    # A declaration refused (409: already declared) tells nobody.
    declare(client_for(client, consultant.id or 0), assignment["id"], expect=409)
    assert post.deliver() == {}

    r = client.post(f"/api/v1/assignments/{assignment['id']}/end", json={"reason": "Indisponible"})
    assert r.status_code == 200, r.text
    received = post.deliver()
    assert set(received) == addresses(consultant)
    assert "Votre mission d'expertise a pris fin" in plain(
        str(received[consultant.email][0]["Subject"])
    )
    assert "Indisponible" in plain(text_of(received[consultant.email][0]))

    # A consultant declaring a link: the assignment is refused, the staff in charge are told.
    second = assign(client, world.pid, other_consultant.id or 0)
    post.settle()
    stakeholder = client.get(f"/api/v1/projects/{world.pid}/stakeholders").json()[0]["name"]
    declare(
        client_for(client, other_consultant.id or 0),
        second["id"],
        links={stakeholder: "J'ai travaillé pour eux."},
    )
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower)
    assert "Jean Lien a déclaré un lien avec une partie prenante" in plain(
        str(received[world.owner.email][0]["Subject"])
    )


def test_report_submitted_reopened_and_the_decision(
    client: Any, world: World, post: PostOffice, db: Engine, settings: Settings
) -> None:
    project = walk_to(client, world.project, "expertise")
    consultant_id = project["consultant"]["user_id"]
    with Session(db) as session:
        consultant = session.get(User, consultant_id)
        assert consultant is not None
    post.settle()

    submit_report(client, project)
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower)
    [message] = received[world.owner.email]
    check_mail(
        message,
        project_name="Régie de quartier de l'Alma",
        link=f"{settings.base_url}/projects/{world.pid}/report",
        title="Rapport d'expertise soumis par Claire Martin",
    )

    # Reopening without a reason (422) tells nobody; with one, staff in charge and consultant.
    r = client.post(f"/api/v1/projects/{world.pid}/report/reopen", json={"comment": ""})
    assert r.status_code == 422
    assert post.deliver() == {}
    r = client.post(
        f"/api/v1/projects/{world.pid}/report/reopen", json={"comment": "Préciser la gouvernance."}
    )
    assert r.status_code == 200, r.text
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower, consultant)
    assert "Préciser la gouvernance." in plain(text_of(received[consultant.email][0]))

    submit_report(client, project)
    fire(client, world.pid, "transmettre_bureau")
    hold = hold_meeting(client)
    post.settle()
    # A refused decision (an outcome contradicting the votes: 422) tells nobody.
    decide(
        client,
        world.pid,
        "attribution",
        meeting=hold,
        votes=[{"user_id": a["user_id"], "vote": "contre"} for a in hold["attendees"]],
        expect=422,
    )
    assert post.deliver() == {}
    decide(client, world.pid, "attribution", meeting=hold)
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower, world.porteur, consultant)
    assert "Décision du Bureau : attribution du label" in plain(
        str(received[world.porteur.email][0]["Subject"])
    )


# --- the Bureau's meetings, deadlines -----------------------------------------------------------


def test_a_meeting_recorded_once_held_tells_no_one(
    client: Any, world: World, post: PostOffice, db: Engine
) -> None:
    """The members were there. Convening one ahead tells them: tests/test_bureau_convening.py."""
    walk_to(client, world.project, "decision_bureau")
    members = [make_user(db, role="bureau", name=f"Membre {i}") for i in range(3)]
    post.settle()
    before = len(rows(db))
    hold_meeting(client, present=[m.id or 0 for m in members])
    assert post.deliver() == {} and len(rows(db)) == before


def test_a_moved_deadline_tells_porteurs_and_staff_in_charge(
    client: Any, world: World, post: PostOffice, db: Engine
) -> None:
    deadline = world.project["deadlines"][0]
    url = f"/api/v1/projects/{world.pid}/deadlines/{deadline['id']}"
    before = len(rows(db))
    r = client.patch(url, json={"due_on": "1999-01-01", "reason": "Erreur"})
    assert r.status_code == 422
    assert len(rows(db)) == before and post.deliver() == {}

    moved = (dates.today() + timedelta(days=200)).isoformat()
    r = client.patch(url, json={"due_on": moved, "reason": "Calendrier électoral"})
    assert r.status_code == 200, r.text
    received = post.deliver()
    assert set(received) == addresses(world.owner, world.follower, world.porteur)
    subject = plain(str(received[world.porteur.email][0]["Subject"]))
    assert "est déplacée au" in subject, subject
    assert "Calendrier électoral" in plain(text_of(received[world.porteur.email][0]))


# --- preferences and the daily digest -----------------------------------------------------------


def test_preferences_in_app_only_and_daily_digest(
    client: Any, world: World, post: PostOffice, db: Engine, client_as: Callable[[User], Any]
) -> None:
    r = client_as(world.porteur).put(
        "/api/v1/me/preferences", json={"notifications": {"transition": "quotidien"}}
    )
    assert r.status_code == 200, r.text
    r = client_as(world.owner).put(
        "/api/v1/me/preferences", json={"notifications": {"transition": "application"}}
    )
    assert r.status_code == 200, r.text

    pid = world.pid
    client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Pause"})
    client.post(f"/api/v1/projects/{pid}/resume", json={"comment": "Reprise"})
    received = post.deliver()
    # Only the follower, who kept « at once », is e-mailed now; all three see it in the app.
    assert set(received) == addresses(world.follower)
    assert len(rows(db, user_id=world.porteur.id)) == 2
    assert len(rows(db, user_id=world.owner.id)) == 2

    with transaction(db) as session:
        assert notifications.schedule_digests(session, day=dates.today()) == 1
        notifications.schedule_digests(session, day=dates.today())  # once per day
    received = post.deliver()
    assert set(received) == addresses(world.porteur)
    [digest] = received[world.porteur.email]
    text = plain(text_of(digest))
    assert "2 notifications" in plain(str(digest["Subject"]))
    assert "Le projet est suspendu" in text and "Le projet a repris" in text
    assert f"{post.settings.base_url}/projects/{pid}" in text
    assert "ne pas y répondre" in text
    # Gathered once: nothing more the next time, and « application » is never e-mailed.
    with transaction(db) as session:
        notifications.schedule_digests(session, day=dates.today() + timedelta(days=1))
    assert post.deliver() == {}
    assert all(n.emailed_at is None for n in rows(db, user_id=world.owner.id))


def test_preferences_api(client: Any, db: Engine, staff_user: User) -> None:
    r = client.get("/api/v1/me/preferences")
    assert r.status_code == 200
    assert r.json() == {"notifications": dict.fromkeys(notifications.KINDS, "immediat")}

    r = client.put("/api/v1/me/preferences", json={"notifications": {"rappel": "quotidien"}})
    assert r.status_code == 200
    r = client.put("/api/v1/me/preferences", json={"notifications": {"message": "application"}})
    prefs = r.json()["notifications"]
    assert prefs["rappel"] == "quotidien" and prefs["message"] == "application"  # partial
    assert prefs["invitation"] == "immediat"

    def refused(body: dict[str, Any]) -> dict[str, Any]:
        response = client.put("/api/v1/me/preferences", json=body)
        assert response.status_code == 422, response.text
        return response.json()["error"]  # type: ignore[no-any-return]

    # An unknown kind, an unknown mode: French, naming the allowed values as users know them.
    error = refused({"notifications": {"rappel": "application", "inconnu": "quotidien"}})
    assert error["code"] == "requete_invalide"
    assert "Changements d'étape, suspensions, reprises" in error["fields"][0]["message"]
    error = refused({"notifications": {"transition": "hebdomadaire"}})
    message = error["fields"][0]["message"]
    assert "Valeur non reconnue" in message and "Par courriel, tout de suite" in message
    # An essential kind below « at once »: its own code, nothing stored.
    error = refused({"notifications": {"rappel": "immediat", "invitation": "application"}})
    assert error["code"] == "notification_essentielle"
    assert error["fields"][0]["field"] == "notifications.invitation"
    assert refused({"notifications": []})["code"] == "requete_invalide"
    assert refused({"notifications": {"rappel": None}})["code"] == "requete_invalide"
    assert refused({"notifications": {}, "autre": 1})["fields"][0]["message"] == (
        "Ce champ n'est pas reconnu."
    )
    assert refused({})["fields"][0] == {
        "field": "notifications",
        "message": "Ce champ est obligatoire.",
    }
    prefs = client.get("/api/v1/me/preferences").json()["notifications"]
    assert prefs["rappel"] == "quotidien" and prefs["invitation"] == "immediat"
    # Setting an essential kind to « at once » is no change, accepted.
    r = client.put("/api/v1/me/preferences", json={"notifications": {"mot_de_passe": "immediat"}})
    assert r.status_code == 200


# --- the notifications API ----------------------------------------------------------------------


def seed(db: Engine, user: User, count: int, project_id: int | None = None) -> list[int]:
    with transaction(db) as session:
        project = session.get(Project, project_id) if project_id else None
        made = [
            notifications.notify(
                session,
                kind="transition",
                user_ids=[user.id],
                title=f"Notification {i}",
                url=f"/projects/{project_id or 1}",
                project=project,
            )[0]
            for i in range(count)
        ]
        return [n.id or 0 for n in made]


def test_notifications_api(
    client: Any, db: Engine, staff_user: User, client_as: Callable[[User], Any]
) -> None:
    project_id = create_project(client)["id"]
    ids = seed(db, staff_user, 3, project_id)
    r = client.get("/api/v1/me/notifications")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and body["unread"] == 3
    assert [n["id"] for n in body["items"]] == list(reversed(ids))  # newest first
    first = body["items"][0]
    assert set(first) == {"id", "kind", "project_id", "title", "url", "created_at", "read_at"}
    assert first["project_id"] == project_id and first["read_at"] is None
    assert re.search(r"[+-]\d\d:\d\d$|Z$", first["created_at"])  # with its offset

    page = client.get("/api/v1/me/notifications", params={"limit": 2, "offset": 2}).json()
    assert [n["id"] for n in page["items"]] == [ids[0]] and page["total"] == 3
    beyond = client.get("/api/v1/me/notifications", params={"offset": 10}).json()
    assert beyond["items"] == [] and beyond["total"] == 3 and beyond["unread"] == 3
    for bad in ({"limit": 201}, {"offset": -1}, {"limit": "beaucoup"}):
        r = client.get("/api/v1/me/notifications", params=bad)
        assert r.status_code == 422 and r.json()["error"]["fields"], bad

    r = client.post(f"/api/v1/me/notifications/{ids[1]}/read")
    assert r.status_code == 200 and r.json()["read_at"] is not None
    read_at = r.json()["read_at"]
    assert client.post(f"/api/v1/me/notifications/{ids[1]}/read").json()["read_at"] == read_at
    assert client.get("/api/v1/me/notifications").json()["unread"] == 2

    # Another person's notification does not exist for them; nor does an unknown one.
    other = make_user(db, role="porteur", name="Autre Personne")
    theirs = seed(db, other, 1)[0]
    assert client.post(f"/api/v1/me/notifications/{theirs}/read").status_code == 404
    assert client.post("/api/v1/me/notifications/999999/read").status_code == 404
    assert client.post("/api/v1/me/notifications/0/read").status_code == 422
    assert client.get("/api/v1/me/notifications", params={"limit": 0}).status_code == 422
    assert client_as(other).get("/api/v1/me/notifications").json()["total"] == 1

    r = client.post("/api/v1/me/notifications/read-all")
    assert r.status_code == 200 and r.json() == {"marked": 2, "unread": 0}
    assert client.get("/api/v1/me/notifications").json()["unread"] == 0
    assert client_as(other).get("/api/v1/me/notifications").json()["unread"] == 1  # untouched


# --- following a project ------------------------------------------------------------------------


def test_following_a_project(
    client: Any, world: World, post: PostOffice, client_as: Callable[[User], Any], db: Engine
) -> None:
    bystander = client_as(world.bystander)
    url = f"/api/v1/projects/{world.pid}/followers/me"
    for _ in range(2):  # idempotent
        r = bystander.post(url)
        assert r.status_code == 200 and r.json() == {"project_id": world.pid, "following": True}
    client.post(f"/api/v1/projects/{world.pid}/suspend", json={"comment": "Pause"})
    assert world.bystander.email in post.deliver()
    for _ in range(2):
        r = bystander.delete(url)
        assert r.status_code == 200 and r.json() == {"project_id": world.pid, "following": False}
    client.post(f"/api/v1/projects/{world.pid}/resume", json={"comment": "Reprise"})
    assert world.bystander.email not in post.deliver()

    # Staff only (403); a project one may not see does not exist (404).
    porteur = client_as(world.porteur)
    assert porteur.post(url).status_code == 403
    assert porteur.delete(url).status_code == 403
    consultant = make_user(db, role="consultant", name="Consultante")
    assert client_as(consultant).post(url).status_code == 404
    assert client.post("/api/v1/projects/999999/followers/me").status_code == 404


# --- pages: the bell, the notifications page, preferences, following ---------------------------


def bell(html: str) -> str:
    match = re.search(r'<a class="bell" href="/notifications" aria-label="([^"]+)"', html)
    assert match, "no bell in the header"
    return plain(match.group(1))


def test_the_bell_and_the_notifications_page(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project_id = create_project(client)["id"]
    person = make_user(db, role="staff", name="Nina Cloche", password=PASSWORD)
    browser = session_as(person)
    assert bell(browser.get("/").text) == "Notifications, aucune non lue"

    ids = seed(db, person, 32, project_id)
    page = browser.get("/projects")
    assert bell(page.text) == "Notifications, 32 non lues"
    assert '<span class="bell__count" aria-hidden="true">32</span>' in page.text

    listing = browser.get("/notifications")
    assert listing.status_code == 200
    html = plain(listing.text)
    assert "<h1>Notifications</h1>" in html and "32 notifications non lues sur 32" in html
    metas = re.findall(r'<p class="notification__meta">(.*?)</p>', unescape(listing.text), re.S)
    meta = plain(re.sub(r"<[^>]+>", "", metas[0]))
    assert meta.startswith(
        "Nouveau Régie de quartier de l'Alma · Changements d'étape, suspensions, reprises · "
    ), meta
    shown = [int(i) for i in re.findall(r'href="/notifications/(\d+)"', listing.text)]
    assert shown == list(reversed(ids))[:30]  # newest first, 30 a page
    assert 'href="/notifications?page=2"' in listing.text
    second = browser.get("/notifications?page=2")
    assert [int(i) for i in re.findall(r'href="/notifications/(\d+)"', second.text)] == list(
        reversed(ids[:2])
    )

    # Opening one marks it read and leads to its page.
    opened = browser.get(f"/notifications/{ids[-1]}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/projects/{project_id}"
    listing = browser.get("/notifications")
    assert bell(listing.text) == "Notifications, 31 non lues"
    assert listing.text.count("notification--unread") == 29  # the first shown is read

    # The project page reads the bell with its own view (one statement for both).
    assert bell(browser.get(f"/projects/{project_id}").text) == "Notifications, 31 non lues"

    # Someone else's: not found (the error page, drawn after the rollback, still counts), and
    # nothing marked.
    other = make_user(db, role="porteur", name="Autre")
    theirs = seed(db, other, 1)[0]
    missing = browser.get(f"/notifications/{theirs}", follow_redirects=False)
    assert missing.status_code == 404 and bell(missing.text) == "Notifications, 31 non lues"
    assert rows(db, id=theirs)[0].read_at is None

    done = browser.post(
        "/notifications/read-all", data={"csrf_token": csrf(listing)}, follow_redirects=False
    )
    assert done.status_code == 303
    listing = browser.get(done.headers["location"])
    assert bell(listing.text) == "Notifications, aucune non lue"
    assert "Toutes vos notifications sont marquées comme lues" in plain(listing.text)
    assert "Tout marquer comme lu" not in listing.text
    # Without the anti-forgery field, nothing is marked.
    seed(db, person, 1, project_id)
    refused = browser.post("/notifications/read-all", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert bell(browser.get("/").text) == "Notifications, 1 non lue"


def test_preferences_on_my_account(
    db: Engine, anonymous: Any, session_as: Callable[[User], TestClient]
) -> None:
    person = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    browser = session_as(person)
    page = browser.get("/account")
    html = plain(page.text)
    assert 'id="preferences-title">Notifications par courriel</h2>' in html
    for kind in set(notifications.KINDS) - notifications.ESSENTIAL - notifications.ADMIN_KINDS:
        assert f'<select id="pref-{kind}" name="{kind}">' in html, kind
        assert f'<label for="pref-{kind}">' in html
    for kind in notifications.ADMIN_KINDS:  # a porteur is never told of a webhook disabled
        assert f'name="{kind}"' not in html
    for kind in notifications.ESSENTIAL:
        assert f'name="{kind}"' not in html
        assert plain(notifications.KINDS[kind]) in html
    assert "Par courriel, un résumé chaque jour à 8 h" in html

    saved = browser.post(
        "/account/preferences",
        data={"csrf_token": csrf(page), "transition": "quotidien", "rappel": "application"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = browser.get(saved.headers["location"])
    assert "Vos préférences sont enregistrées" in plain(page.text)
    assert re.search(r'<option value="quotidien" selected>', page.text)
    with Session(db) as session:
        prefs = notifications.preferences_of(session, user_id=person.id or 0)
    assert prefs["transition"] == "quotidien" and prefs["rappel"] == "application"

    # A forged form: a clear French 422, nothing stored.
    forged = browser.post(
        "/account/preferences",
        data={"csrf_token": csrf(page), "transition": "jamais", "rappel": "immediat"},
    )
    assert forged.status_code == 422
    assert "Choix non reconnu" in plain(forged.text)
    with Session(db) as session:
        assert notifications.preferences_of(session, user_id=person.id or 0) == prefs


def test_follow_button_on_the_project_page(
    client: Any, world: World, session_as: Callable[[User], TestClient]
) -> None:
    browser = session_as(world.owner)
    page = browser.get(f"/projects/{world.pid}")
    assert f'action="/projects/{world.pid}/follow"' in page.text
    assert "Suivre ce projet</button>" in page.text
    done = browser.post(
        f"/projects/{world.pid}/follow", data={"csrf_token": csrf(page)}, follow_redirects=False
    )
    assert done.status_code == 303
    page = browser.get(done.headers["location"])
    assert "Vous suivez ce projet" in plain(page.text)
    assert "Ne plus suivre</button>" in page.text
    done = browser.post(
        f"/projects/{world.pid}/unfollow", data={"csrf_token": csrf(page)}, follow_redirects=False
    )
    page = browser.get(done.headers["location"])
    assert "Suivre ce projet</button>" in page.text

    # A porteur sees no such button, and may not follow.
    porteur = session_as(world.porteur)
    page = porteur.get(f"/projects/{world.pid}")
    assert "/follow" not in page.text
    refused = porteur.post(f"/projects/{world.pid}/follow", data={"csrf_token": csrf(page)})
    assert refused.status_code == 403


# --- a failing notification fails its fact ------------------------------------------------------


def test_a_failing_notification_rolls_the_fact_back(
    client: Any, world: World, post: PostOffice, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[Notification]:
        raise RuntimeError("the notifications table is gone")

    monkeypatch.setattr(notifications, "notify", broken)
    before = client.get(f"/api/v1/projects/{world.pid}").json()
    history = len(client.get(f"/api/v1/projects/{world.pid}/events").json())
    with pytest.raises(RuntimeError):
        client.post(f"/api/v1/projects/{world.pid}/suspend", json={"comment": "Pause"})
    after = client.get(f"/api/v1/projects/{world.pid}").json()
    assert after["suspended"] is False and after["version"] == before["version"]
    assert len(client.get(f"/api/v1/projects/{world.pid}/events").json()) == history
    assert rows(db, kind="transition") == [] and post.deliver() == {}


def test_inactive_accounts_are_not_told(
    client: Any, world: World, post: PostOffice, db: Engine
) -> None:
    r = client.patch(f"/api/v1/users/{world.porteur.id}", json={"active": False})
    assert r.status_code == 200, r.text
    post.settle()
    client.post(f"/api/v1/projects/{world.pid}/suspend", json={"comment": "Pause"})
    assert set(post.deliver()) == addresses(world.owner, world.follower)
    assert rows(db, user_id=world.porteur.id, kind="transition") == []


def test_the_page_statements_do_not_grow_with_its_rows(
    client: Any, app: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    person = make_user(db, role="staff", name="Nina Cloche", password=PASSWORD)
    browser = session_as(person)
    seed(db, person, 1, create_project(client)["id"])
    browser.get("/notifications")
    with count_statements(app) as few:
        assert browser.get("/notifications").status_code == 200
    for name in ("Un", "Deux", "Trois"):
        seed(db, person, 10, create_project(client, name=f"Régie {name}")["id"])
    with count_statements(app) as many:
        page = browser.get("/notifications")
    assert "Régie Trois" in page.text and "Régie Un" in page.text
    assert len(many) == len(few), (few, many)
