"""Calendar feeds (DESIGN §11): each person's private iCalendar feed, parsed by `icalendar`.

Who sees what (the staff in charge, the porteurs, the consultant, the Bureau), stable UIDs,
SEQUENCE raised when a due date moves, Europe/Paris days, and the secret: replaced or revoked,
the former address answers 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import icalendar
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from labelflow import accounts, dates
from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import User
from tests.conftest import make_user
from tests.factories import (
    complete_prefiguration,
    create_project,
    fire,
    hold_meeting,
    walk_to,
)
from tests.test_statements import counted


@pytest.fixture
def outsider(app: Any, anonymous: Any) -> Iterator[Any]:
    """A calendar application: no session, no token."""
    with TestClient(app) as other:
        yield other


def new_feed(client: Any) -> str:
    r = client.post("/api/v1/me/calendar")
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("http://127.0.0.1:8000/calendar/") and url.endswith(".ics")
    return str(url).removeprefix("http://127.0.0.1:8000")


def fetch(outsider: Any, path: str) -> icalendar.Calendar:
    """The feed as a calendar application gets it."""
    r = outsider.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(r.content)


def vevents(calendar: icalendar.Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def milestone(client: Any, project_id: int, user_id: int, title: str, days: int = 60) -> int:
    r = client.post(
        f"/api/v1/projects/{project_id}/milestones",
        json={
            "title": title,
            "due_on": (dates.today() + timedelta(days=days)).isoformat(),
            "user_id": user_id,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_the_staff_in_charge_get_their_projects_deadlines_stable_and_resequenced(
    client: Any, outsider: Any
) -> None:
    project = create_project(client, name="Régie des Tilleuls")
    deadlines = {d["kind"]: d for d in project["deadlines"]}
    path = new_feed(client)

    first = fetch(outsider, path)
    assert str(first["X-WR-TIMEZONE"]) == "Europe/Paris"
    events = vevents(first)
    step = deadlines["etape"]
    uid = f"echeance-{step['id']}@labelflow"
    assert set(events) == {uid, f"echeance-{deadlines['label']['id']}@labelflow"}
    event = events[uid]
    assert event.decoded("DTSTART") == date.fromisoformat(step["due_on"])
    assert event.decoded("DTEND") == date.fromisoformat(step["due_on"]) + timedelta(days=1)
    assert "Régie des Tilleuls" in str(event["SUMMARY"])
    assert "Groupe projet" in str(event["SUMMARY"])
    assert int(event["SEQUENCE"]) == 0
    assert str(event["URL"]).endswith(f"/projects/{project['id']}#echeances")

    # Fetched again: the same UIDs, the same content (a client replaces, never duplicates).
    again = outsider.get(path).content
    assert vevents(icalendar.Calendar.from_ical(again)).keys() == events.keys()
    assert again == first.to_ical()

    # The due date moves twice: same UID, the new date, SEQUENCE 1 then 2.
    for n, days in enumerate((40, 80), start=1):
        moved = date.fromisoformat(step["due_on"]) + timedelta(days=days)
        r = client.patch(
            f"/api/v1/projects/{project['id']}/deadlines/{step['id']}",
            json={"due_on": moved.isoformat(), "reason": "Calendrier municipal décalé"},
        )
        assert r.status_code == 200, r.text
        event = vevents(fetch(outsider, path))[uid]
        assert event.decoded("DTSTART") == moved
        assert int(event["SEQUENCE"]) == n

    # The step left: its deadline is closed and leaves the feed; the next one comes in.
    walked = walk_to(client, client.get(f"/api/v1/projects/{project['id']}").json(), "faisabilite")
    events = vevents(fetch(outsider, path))
    assert uid not in events
    next_step = next(
        d for d in walked["deadlines"] if d["kind"] == "etape" and d["state"] == "faisabilite"
    )
    assert f"echeance-{next_step['id']}@labelflow" in events


def test_each_role_sees_what_concerns_them(
    client: Any, client_as: Any, outsider: Any, db: Engine, staff_user: User
) -> None:
    porteur = make_user(db, role="porteur", name="Paule Porteur")
    consultant = make_user(db, role="consultant", name="Claude Consultant")
    other_staff = make_user(db, role="staff", name="Sacha Staff")
    bureau = make_user(db, role="bureau", name="Bérénice Bureau")
    own = walk_to(client, create_project(client, name="Régie suivie"), "prefiguration")
    complete_prefiguration(client, own, consultant_id=consultant.id)
    own = fire(client, own["id"], "demander_expertise")
    r = client.post(f"/api/v1/projects/{own['id']}/members", json={"user_id": porteur.id})
    assert r.status_code == 201, r.text
    other = create_project(client, name="Projet d'autrui")
    for_consultant = milestone(client, own["id"], consultant.id or 0, "Visite sur place")
    for_staff = milestone(client, own["id"], staff_user.id or 0, "Comité de pilotage")
    elsewhere = milestone(client, other["id"], staff_user.id or 0, "Réunion ailleurs")
    meeting = hold_meeting(client)

    own = client.get(f"/api/v1/projects/{own['id']}").json()
    step = next(d for d in own["deadlines"] if d["kind"] == "etape" and not d["closed_on"])
    label = next(d for d in own["deadlines"] if d["kind"] == "label")
    other_deadlines = {
        f"echeance-{d['id']}@labelflow"
        for d in client.get(f"/api/v1/projects/{other['id']}").json()["deadlines"]
        if not d["closed_on"]
    }

    def uids_of(user: User | None) -> set[str]:
        who = client if user is None else client_as(user)
        return set(vevents(fetch(outsider, new_feed(who))))

    def e(deadline_id: int) -> str:
        return f"echeance-{deadline_id}@labelflow"

    meeting_uid = f"reunion-{meeting['id']}@labelflow"
    # The staff in charge (the creator): every deadline of their projects, the meetings.
    assert (
        uids_of(None)
        == {
            e(step["id"]),
            e(label["id"]),
            e(for_consultant),
            e(for_staff),
            e(elsewhere),
            meeting_uid,
        }
        | other_deadlines
    )
    # A porteur: their project's step and label date; not its milestones naming others.
    assert uids_of(porteur) == {e(step["id"]), e(label["id"])}
    # The consultant: the report's step (expertise) and the milestone naming them.
    assert uids_of(consultant) == {e(step["id"]), e(for_consultant)}
    # The Bureau: its meetings.
    assert uids_of(bureau) == {meeting_uid}
    # Staff not in charge of any project: the meetings only; following one brings its dates.
    assert uids_of(other_staff) == {meeting_uid}
    follower = client_as(other_staff)
    assert follower.post(f"/api/v1/projects/{other['id']}/followers/me").status_code == 200
    assert uids_of(other_staff) == {meeting_uid} | other_deadlines


def test_a_replaced_or_revoked_address_is_not_found(client: Any, outsider: Any) -> None:
    create_project(client, name="Régie des Acacias")
    first = new_feed(client)
    fetch(outsider, first)
    second = new_feed(client)
    assert second != first
    gone = outsider.get(first)
    assert gone.status_code == 404
    assert (
        typeset(
            "Ce calendrier est introuvable : son adresse a peut-être été remplacée ou révoquée."
        )
        in gone.text
    )
    fetch(outsider, second)

    r = client.delete("/api/v1/me/calendar")
    assert r.status_code == 204
    assert outsider.get(second).status_code == 404
    # Revoking again changes nothing; an address never issued is not found either.
    assert client.delete("/api/v1/me/calendar").status_code == 204
    for unknown in ("/calendar/x.ics", "/calendar/" + "a" * 43 + ".ics", "/calendar/" + "b" * 500):
        assert outsider.get(unknown).status_code == 404, unknown


def test_a_deactivated_account_feed_is_not_found(
    client: Any, client_as: Any, outsider: Any, db: Engine
) -> None:
    porteur = make_user(db, role="porteur", name="Paule Partie")
    path = new_feed(client_as(porteur))
    fetch(outsider, path)
    r = client.patch(f"/api/v1/users/{porteur.id}", json={"active": False})
    assert r.status_code == 200, r.text
    assert outsider.get(path).status_code == 404


def test_the_address_is_managed_on_my_account(client: Any, outsider: Any, db: Engine) -> None:
    user = make_user(db, role="porteur", name="Paule Page", password="un mot de passe sûr")
    with transaction(db) as session:
        opened = accounts.open_session(
            session,
            user=accounts.get_user(session, user.id or 0),
            settings=client.app.state.settings,
        )
        cookie, csrf = opened.raw_token, opened.record.csrf_token
    outsider.cookies.set("labelflow_session", cookie)
    page = outsider.get("/account")
    assert page.status_code == 200
    assert "Créer l’adresse de mon agenda" in page.text

    created = outsider.post("/account/calendar", data={"csrf_token": csrf})
    assert created.status_code == 201
    assert "Copiez cette adresse maintenant" in created.text
    assert "L’adresse précédente ne fonctionne plus." not in created.text
    path = created.text.split('id="adresse-agenda"')[1].split('value="')[1].split('"')[0]
    path = path.removeprefix("http://127.0.0.1:8000")
    assert outsider.get(path).status_code == 200
    # Shown once: the page afterwards says there is one, not what it is.
    later = outsider.get("/account")
    assert path not in later.text and "Remplacer l’adresse" in later.text
    replaced = outsider.post("/account/calendar", data={"csrf_token": csrf})
    assert "L’adresse précédente ne fonctionne plus." in replaced.text
    assert outsider.get(path).status_code == 404
    path = replaced.text.split('id="adresse-agenda"')[1].split('value="')[1].split('"')[0]
    path = path.removeprefix("http://127.0.0.1:8000")
    assert outsider.get(path).status_code == 200

    revoked = outsider.post(
        "/account/calendar/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert outsider.get(path).status_code == 404


def test_the_feed_sends_as_many_statements_whatever_it_holds(
    client: Any, outsider: Any, db: Engine, staff_user: User
) -> None:
    path = new_feed(client)
    create_project(client, name="Régie seule")
    hold_meeting(client)

    def statements() -> tuple[int, int]:
        with counted(db) as sent:
            calendar = fetch(outsider, path)
        return len(sent), len(vevents(calendar))

    few, entries = statements()
    for n in range(6):
        project = create_project(client, name=f"Régie {n}")
        milestone(client, project["id"], staff_user.id or 0, f"Visite {n}")
    hold_meeting(client)
    many, more = statements()
    assert more == entries + 6 * 3 + 1
    assert many == few
