"""Convening the Bureau ahead (DESIGN §13, « Convening the Bureau »), through the real app, the
worker and a real SMTP server: a meeting convened for a future day with its agenda tells every
active Bureau member (with a link to each decision file); moving or cancelling it tells them
again; its attendance and chair are recorded once it is held, before any decision; a meeting
recorded after the fact tells no one; a refused request sends nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import dates
from labelflow.french import typeset
from labelflow.models import BureauMeeting, Notification, User
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.factories import create_project, decide, hold_meeting, walk_to
from tests.smtp import SmtpServer, text_of
from tests.test_notifications import PostOffice, plain
from tests.test_pages_roles import PASSWORD, csrf, session_as

__all__ = ["session_as"]  # the fixture, used by name

URL = "/api/v1/bureau/meetings"


@pytest.fixture
def post(db: Engine, app: Any, settings: Settings, smtp_server: SmtpServer) -> PostOffice:
    return PostOffice(db, app, settings, smtp_server)


@dataclass
class Bureau:
    members: list[User]  # active
    gone: User  # a former member (inactive)
    files: list[dict[str, Any]]  # projects at the Bureau's step, longest waiting first
    elsewhere: dict[str, Any]  # a project at another step

    @property
    def emails(self) -> set[str]:
        return {m.email for m in self.members}


@pytest.fixture
def bureau(client: Any, db: Engine, post: PostOffice) -> Bureau:
    files = [
        walk_to(client, create_project(client), "decision_bureau"),
        walk_to(
            client, create_project(client, name="Régie des Hauts de Garonne"), "decision_bureau"
        ),
    ]
    elsewhere = create_project(client, name="Régie du Val")
    members = [
        make_user(db, role="bureau", name=name, password=PASSWORD)
        for name in ("Anne Présidente", "Bruno Trésorier", "Chloé Secrétaire")
    ]
    gone = make_user(db, role="bureau", name="Ancien Membre")
    response = client.patch(f"/api/v1/users/{gone.id}", json={"active": False})
    assert response.status_code == 200, response.text
    post.settle()
    return Bureau(members, gone, files, elsewhere)


def in_days(days: int) -> str:
    return (dates.today() + timedelta(days=days)).isoformat()


def french(day: str) -> str:
    return plain(dates.french_date(datetime.fromisoformat(day).date()))


def convene(client: Any, held_on: str, expect: int = 201, **extra: Any) -> dict[str, Any]:
    response = client.post(URL, json={"held_on": held_on, **extra})
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def notification_count(db: Engine) -> int:
    with Session(db) as session:
        return len(session.exec(select(Notification)).all())


def meeting_count(db: Engine) -> int:
    with Session(db) as session:
        return len(session.exec(select(BureauMeeting)).all())


def only_one_each(received: dict[str, list[EmailMessage]], emails: set[str]) -> EmailMessage:
    assert set(received) == emails, set(received)
    assert all(len(m) == 1 for m in received.values())
    return next(iter(received.values()))[0]


def test_convening_tells_every_active_member_with_the_agenda(
    client: Any,
    bureau: Bureau,
    post: PostOffice,
    db: Engine,
    settings: Settings,
    client_as: Callable[[User], Any],
) -> None:
    a, b = (f["id"] for f in bureau.files)
    ahead = in_days(14)
    told = notification_count(db)
    # Refused, each with a French 4xx: nothing stored, nobody told.
    refusals: list[tuple[dict[str, Any], int, str]] = [
        (  # attendees are recorded when it is held
            {
                "held_on": ahead,
                "attendee_ids": [bureau.members[0].id],
                "chair_id": bureau.members[0].id,
            },
            422,
            "held_on",
        ),
        ({"held_on": ahead, "project_ids": [a, bureau.elsewhere["id"]]}, 422, "project_ids"),
        ({"held_on": ahead, "project_ids": []}, 422, "project_ids"),
        ({"held_on": in_days(-3)}, 422, "attendee_ids"),  # a past one is recorded once held
        ({"held_on": "2027-02-30"}, 422, "held_on"),
    ]
    for body, status, field in refusals:
        response = client.post(URL, json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["fields"][0]["field"] == field, error
        assert error["message"] and error["message"] == typeset(error["message"])
    message = client.post(URL, json=refusals[1][0]).json()["error"]["message"]
    assert str(bureau.elsewhere["id"]) in message and "Décision du Bureau" in plain(message)
    for other in (client_as(bureau.members[0]), client_as(make_user(db, role="porteur"))):
        assert other.post(URL, json={"held_on": ahead}).status_code == 403
    assert meeting_count(db) == 0 and notification_count(db) == told
    assert post.deliver() == {}

    meeting = convene(client, ahead, project_ids=[b, a], notes="Salle Jaurès, 14 h.")
    assert meeting["status"] == "convoquee"
    assert meeting["attendees"] == [] and meeting["chair"] is None
    assert [e["project_id"] for e in meeting["agenda"]] == [b, a]
    assert meeting["agenda"][0]["url"] == f"/bureau#dossier-{b}"
    mail = only_one_each(post.deliver(), bureau.emails)  # not the former member, not staff
    subject, text = plain(str(mail["Subject"])), plain(text_of(mail))
    assert f"Convocation : séance du Bureau le {french(ahead)}" in subject
    assert "Salle Jaurès, 14 h." in text
    for pid, name in ((a, bureau.files[0]["name"]), (b, bureau.files[1]["name"])):
        assert f"— {plain(name)} : {settings.base_url}/bureau#dossier-{pid}" in text, text
    assert text.index("Hauts de Garonne") < text.index(plain(bureau.files[0]["name"]))
    assert f"{settings.base_url}/bureau/meetings#reunion-{meeting['id']}" in text
    assert "ne pas y répondre" in text
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    assert f"{settings.base_url}/bureau#dossier-{a}" in str(html.get_content())  # type: ignore[attr-defined]

    # Without an agenda given: every decision file at the Bureau's step, longest waiting first.
    other = convene(client, in_days(40))
    assert [e["project_id"] for e in other["agenda"]] == [a, b]
    only_one_each(post.deliver(), bureau.emails)
    # The members read it in the application too (the « seance » kind).
    member = client_as(bureau.members[1])
    titles = [n["title"] for n in member.get("/api/v1/me/notifications").json()["items"]]
    assert any(french(ahead) in plain(t) for t in titles)
    assert member.get(f"{URL}/{meeting['id']}").json()["status"] == "convoquee"


def test_a_meeting_recorded_after_the_fact_tells_no_one(
    client: Any, bureau: Bureau, post: PostOffice, db: Engine
) -> None:
    before = notification_count(db)
    held = hold_meeting(client, present=[m.id or 0 for m in bureau.members], held_on=in_days(-2))
    assert held["status"] == "tenue" and held["agenda"] == []
    assert post.deliver() == {} and notification_count(db) == before


def test_moving_and_cancelling_tell_them_again(
    client: Any, bureau: Bureau, post: PostOffice, db: Engine, client_as: Callable[[User], Any]
) -> None:
    ahead, later = in_days(10), in_days(24)
    meeting = convene(client, ahead)
    post.settle()
    one = f"{URL}/{meeting['id']}"
    for body, field in (
        ({"held_on": in_days(-1)}, "held_on"),
        ({"held_on": dates.today().isoformat()}, "held_on"),
        ({"held_on": ahead}, "held_on"),  # the same day
        ({}, "held_on"),
    ):
        response = client.patch(one, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"][0]["field"] == field
    assert post.deliver() == {}
    assert client.get(one).json()["held_on"] == ahead

    response = client.patch(one, json={"held_on": later, "reason": "Congrès du réseau ce jour-là"})
    assert response.status_code == 200, response.text
    assert response.json()["held_on"] == later and response.json()["status"] == "convoquee"
    mail = only_one_each(post.deliver(), bureau.emails)
    text = plain(text_of(mail))
    assert f"Séance du Bureau déplacée au {french(later)}" in plain(str(mail["Subject"]))
    assert f"prévue le {french(ahead)} se tiendra le {french(later)}" in text
    assert "Congrès du réseau ce jour-là" in text
    assert "Ordre du jour" in text

    # The members' calendars have it (a move is a new sequence), until it is cancelled.
    feed = client_as(bureau.members[0]).post("/api/v1/me/calendar").json()["url"]
    feed_path = "/" + feed.split("://", 1)[1].split("/", 1)[1]
    assert f"reunion-{meeting['id']}@" in client.get(feed_path).text

    response = client.post(f"{one}/cancel", json={"reason": "   "})
    assert response.status_code == 422, response.text
    assert post.deliver() == {}
    response = client.post(f"{one}/cancel", json={"reason": "Quorum impossible en août"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "annulee"
    assert response.json()["cancel_reason"] == "Quorum impossible en août"
    mail = only_one_each(post.deliver(), bureau.emails)
    assert f"Séance du Bureau du {french(later)} annulée" in plain(str(mail["Subject"]))
    assert "Quorum impossible en août" in plain(text_of(mail))
    assert f"reunion-{meeting['id']}@" not in client.get(feed_path).text

    # A cancelled meeting is done with: 409 for everything, nobody told.
    members = [m.id for m in bureau.members]
    for method, path, body in (
        ("POST", f"{one}/cancel", {"reason": "Encore"}),
        ("PATCH", one, {"held_on": in_days(30)}),
        ("PUT", f"{one}/attendance", {"attendee_ids": members, "chair_id": members[0]}),
    ):
        response = client.request(method, path, json=body)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "seance_non_convoquee"
        assert "a été annulée" in plain(error["message"])
    pid = bureau.files[0]["id"]
    decision = {"meeting_id": meeting["id"], "outcome": "attribution", "votes": []}
    response = client.post(f"/api/v1/projects/{pid}/decisions", json=decision)
    assert response.status_code == 409, response.text
    assert post.deliver() == {}


def test_attendance_is_recorded_once_held_and_before_any_decision(
    client: Any, bureau: Bureau, post: PostOffice, db: Engine
) -> None:
    ahead = in_days(7)
    meeting = convene(client, ahead)
    post.settle()
    one = f"{URL}/{meeting['id']}"
    pid = bureau.files[0]["id"]
    members = [m.id or 0 for m in bureau.members]
    votes = [{"user_id": uid, "vote": "pour"} for uid in members]
    body = {"meeting_id": meeting["id"], "outcome": "attribution", "votes": votes}

    # Before its attendance is recorded, no decision at it: a French 409, nothing stored.
    response = client.post(f"/api/v1/projects/{pid}/decisions", json=body)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "presence_non_enregistree"
    assert error["message"] == typeset(
        f"La présence à la séance du {dates.french_date(dates.today() + timedelta(days=7))} "
        "n'est pas encore enregistrée : enregistrez les membres présents et la présidence de "
        "séance avant la décision."
    )
    assert client.get(f"/api/v1/projects/{pid}/decisions").json() == []
    # Nor its attendance before the day.
    response = client.put(
        f"{one}/attendance", json={"attendee_ids": members, "chair_id": members[0]}
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "seance_a_venir"
    assert post.deliver() == {}

    held_day = datetime.fromisoformat(ahead).replace(hour=15, tzinfo=UTC)
    with dates.frozen(held_day):
        for attendance, field in (
            ({"attendee_ids": [], "chair_id": members[0]}, "attendee_ids"),
            ({"attendee_ids": members[:2], "chair_id": members[2]}, "chair_id"),
            ({"attendee_ids": [*members, bureau.gone.id], "chair_id": members[0]}, "attendee_ids"),
        ):
            response = client.put(f"{one}/attendance", json=attendance)
            assert response.status_code == 422, response.text
            assert response.json()["error"]["fields"][0]["field"] == field
        assert client.get(one).json()["status"] == "convoquee"
        response = client.put(
            f"{one}/attendance", json={"attendee_ids": members, "chair_id": members[1]}
        )
        assert response.status_code == 200, response.text
        held = response.json()
        assert held["status"] == "tenue" and held["chair"]["user_id"] == members[1]
        assert [p["user_id"] for p in held["attendees"]] == members
        assert held["bureau_size"] == 3
        # Recording the attendance tells no one (they were there); it is recorded once.
        assert post.deliver() == {}
        again = client.put(
            f"{one}/attendance", json={"attendee_ids": members, "chair_id": members[0]}
        )
        assert again.status_code == 409, again.text
        decision = decide(client, pid, "attribution", meeting=held)
    assert decision["meeting_id"] == meeting["id"]
    assert {a["user_id"] for a in decision["votes"]} == set(members)


def test_the_meetings_page_convenes_moves_cancels_and_records_attendance(
    client: Any, bureau: Bureau, post: PostOffice, db: Engine, staff_user: User,
    session_as: Callable[[User], TestClient],
) -> None:  # fmt: skip
    owner = make_user(db, role="staff", name="Sacha Équipe", password=PASSWORD)
    browser = session_as(owner)
    page = browser.get("/bureau/meetings")
    assert page.status_code == 200
    assert 'id="convoquer"' in page.text and "Convoquer le Bureau" in page.text
    for f in bureau.files:  # every decision file offered, checked
        box = f'id="convene-project-{f["id"]}" name="project_ids" type="checkbox"'
        assert f'{box} value="{f["id"]}" checked' in page.text
    token = csrf(page)

    # Refused: the page again with the reason beside the field and what was typed; nothing sent.
    refused = browser.post(
        "/bureau/meetings",
        data={"csrf_token": token, "mode": "convoquer", "held_on": in_days(9), "notes": "Ordre ?"},
    )
    assert refused.status_code == 422
    assert "Aucun dossier n" in plain(refused.text) and "Ordre ?" in refused.text
    assert post.deliver() == {} and meeting_count(db) == 0
    # (a porteur's or a member's page: the meetings are read, not convened)

    a = bureau.files[0]["id"]
    done = browser.post(
        "/bureau/meetings",
        data={
            "csrf_token": token,
            "mode": "convoquer",
            "held_on": in_days(9),
            "project_ids": [str(a)],
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/bureau/meetings?fait=convoquee#reunion-")
    only_one_each(post.deliver(), bureau.emails)
    page = browser.get(done.headers["location"])
    assert "les membres du Bureau en sont avertis" in plain(page.text)
    mid = client.get(URL).json()[0]["id"]
    assert f'id="seance-{mid}"' in page.text and f'href="/bureau#dossier-{a}"' in page.text
    # Its attendance waits for the day.
    assert f"/bureau/meetings/{mid}/attendance" not in page.text

    moved = browser.post(
        f"/bureau/meetings/{mid}/move",
        data={"csrf_token": token, "held_on": in_days(-1), "reason": "Oups"},
    )
    assert moved.status_code == 422 and "Oups" in moved.text
    assert post.deliver() == {}
    moved = browser.post(
        f"/bureau/meetings/{mid}/move",
        data={"csrf_token": token, "held_on": in_days(12), "reason": "Salle prise"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    only_one_each(post.deliver(), bureau.emails)

    with dates.frozen(datetime.fromisoformat(in_days(12)).replace(hour=10, tzinfo=UTC)):
        that_day = session_as(owner)  # signed in on the day (a session idles out)
        page = that_day.get("/bureau/meetings")
        assert f"/bureau/meetings/{mid}/attendance" in page.text
        members = [str(m.id) for m in bureau.members]
        held = that_day.post(
            f"/bureau/meetings/{mid}/attendance",
            data={"csrf_token": csrf(page), "attendee_ids": members, "chair_id": members[0]},
            follow_redirects=False,
        )
        assert held.status_code == 303, held.text
    assert client.get(f"{URL}/{mid}").json()["status"] == "tenue"
    assert post.deliver() == {}

    other = convene(client, in_days(30))
    post.settle()
    cancelled = browser.post(
        f"/bureau/meetings/{other['id']}/cancel",
        data={"csrf_token": token, "reason": ""},
    )
    assert cancelled.status_code == 422
    assert post.deliver() == {}
    cancelled = browser.post(
        f"/bureau/meetings/{other['id']}/cancel",
        data={"csrf_token": token, "reason": "Report du congrès"},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    only_one_each(post.deliver(), bureau.emails)
    page = browser.get("/bureau/meetings")
    assert "Motif : Report du congrès" in plain(page.text)
