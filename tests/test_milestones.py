"""Milestones (jalons): staff add, move, mark held and remove dated milestones concerning one
person; they are deadlines of kind `jalon`, with the same statuses, shifted by a suspension like
the others. Through the real app: the JSON API, the project page and « Mon projet »."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from labelflow import dates
from labelflow.french import typeset
from labelflow.models import User
from tests.conftest import make_user
from tests.factories import create_project, events, fire, today, walk_to
from tests.test_concurrency import _race
from tests.test_pages_roles import PASSWORD, assign, csrf, link, session_as, text_of

__all__ = ["session_as"]  # the fixture, used by name

CANNOT_SEE = (
    "La personne concernée doit être un compte actif qui voit le projet : un membre de "
    "l'équipe nationale, un porteur du projet ou sa ou son consultant·e en charge."
)


BEFORE_CREATION = "La date du jalon ne peut pas précéder la création du projet, le 2 mars 2026."


def in_days(days: int) -> str:
    return (dates.today() + timedelta(days=days)).isoformat()


def url(project_id: int, milestone_id: int | None = None) -> str:
    base = f"/api/v1/projects/{project_id}/milestones"
    return base if milestone_id is None else f"{base}/{milestone_id}"


def add(client: Any, project_id: int, expect: int = 201, **body: Any) -> Any:
    response = client.post(url(project_id), json=body)
    assert response.status_code == expect, response.text
    return response.json()


def milestones_in_project(client: Any, project_id: int) -> list[dict[str, Any]]:
    project = client.get(f"/api/v1/projects/{project_id}").json()
    return [d for d in project["deadlines"] if d["kind"] == "jalon"]


def fields_of(response: Any) -> dict[str, str]:
    """Each field's message, its typographic spaces read as plain ones (test_french checks them)."""
    assert response.status_code == 422, response.text
    plain = str.maketrans({"\u00a0": " ", "\u202f": ""})
    return {f["field"]: f["message"].translate(plain) for f in response.json()["error"]["fields"]}


def milestone_facts(client: Any, project_id: int) -> list[dict[str, Any]]:
    return [e for e in events(client, project_id) if e["kind"] == "jalon"]


# --- the API ------------------------------------------------------------------------------------


def test_staff_add_a_milestone_it_appears_with_the_deadlines(client: Any, staff_user: User) -> None:
    project = create_project(client)
    pid = project["id"]
    response = client.post(
        url(pid), json={"title": "Visite du site", "due_on": in_days(60), "user_id": staff_user.id}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == url(pid, created["id"])
    assert response.headers["ETag"] == f'"{project["version"] + 1}"'
    assert created["kind"] == "jalon"
    assert created["title"] == "Visite du site"
    assert created["user"] == {"id": staff_user.id, "name": "Camille Roussel"}
    assert (created["due_on"], created["initial_due_on"]) == (in_days(60), in_days(60))
    assert created["status"] == "a_venir" and created["closed_on"] is None and not created["state"]
    # In the project's deadlines, with the step's and the label date's.
    full = client.get(f"/api/v1/projects/{pid}").json()
    assert {d["kind"] for d in full["deadlines"]} == {"etape", "label", "jalon"}
    assert [d for d in full["deadlines"] if d["kind"] == "jalon"] == [created]
    assert full["version"] == project["version"] + 1
    # And in its own list, by date.
    add(client, pid, title="Comité de pilotage", due_on=in_days(10), user_id=staff_user.id)
    listed = client.get(url(pid)).json()
    assert [m["title"] for m in listed] == ["Comité de pilotage", "Visite du site"]
    # The history says it, in French, naming the person.
    (fact, _second) = milestone_facts(client, pid)
    assert fact["action"] == "ajout"
    assert fact["data"]["title"] == "Visite du site"
    assert fact["data"]["user_name"] == "Camille Roussel"


def test_statuses_are_those_of_every_deadline(client: Any, staff_user: User) -> None:
    with dates.frozen(datetime.now(UTC) - timedelta(days=100)):
        project = create_project(client)
    pid = project["id"]
    uid = staff_user.id
    late = add(client, pid, title="Dossier attendu", due_on=in_days(-3), user_id=uid)
    soon = add(client, pid, title="Visite", due_on=in_days(12), user_id=uid)
    later = add(client, pid, title="Comité", due_on=in_days(90), user_id=uid)
    today_one = add(client, pid, title="Réunion", due_on=today(), user_id=uid)
    assert [m["status"] for m in (late, soon, later, today_one)] == [
        "en_retard",
        "bientot",
        "a_venir",
        "bientot",
    ]
    # A milestone missed makes the project overdue, like a step's deadline.
    assert client.get(f"/api/v1/projects/{pid}").json()["overdue"] is True
    names = {p["name"] for p in client.get("/api/v1/projects?overdue=true").json()["items"]}
    assert project["name"] in names
    # Held (tenu): closed today, status « tenue », no longer overdue.
    response = client.patch(url(pid, late["id"]), json={"done": True})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["closed_on"]) == ("tenue", today())
    assert client.get(f"/api/v1/projects/{pid}").json()["overdue"] is False
    # A held milestone cannot be moved until opened again.
    response = client.patch(url(pid, late["id"]), json={"due_on": in_days(5)})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "echeance_close"
    response = client.patch(url(pid, late["id"]), json={"done": False, "due_on": in_days(5)})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["closed_on"]) == ("bientot", None)
    # Suspended: every open milestone shows « suspendue ».
    response = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections"})
    assert response.status_code == 200
    statuses = {m["status"] for m in milestones_in_project(client, pid)}
    assert statuses == {"suspendue"}
    assert {m["status"] for m in client.get(url(pid)).json()} == {"suspendue"}
    actions = [e["action"] for e in milestone_facts(client, pid)]
    assert actions == ["ajout"] * 4 + ["tenu", "deplacement"]


def test_moving_renaming_and_removing(client: Any, db: Engine, staff_user: User) -> None:
    project = create_project(client)
    pid = project["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    link(client, pid, porteur)
    created = add(client, pid, title="Visite", due_on=in_days(30), user_id=staff_user.id)
    mid = created["id"]
    response = client.patch(url(pid, mid), json={"due_on": in_days(45)})
    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["due_on"], moved["initial_due_on"]) == (in_days(45), in_days(30))
    response = client.patch(
        url(pid, mid), json={"title": "Visite du chantier", "user_id": porteur.id}
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Visite du chantier"
    assert response.json()["user"] == {"id": porteur.id, "name": "Awa Diallo"}
    # The same values again change nothing: no fact.
    before = len(events(client, pid))
    response = client.patch(url(pid, mid), json={"due_on": in_days(45)})
    assert response.status_code == 200
    assert len(events(client, pid)) == before
    version = client.get(f"/api/v1/projects/{pid}").json()["version"]
    response = client.delete(url(pid, mid))
    assert response.status_code == 204, response.text
    assert response.headers["ETag"] == f'"{version + 1}"'
    assert client.get(url(pid)).json() == []
    assert milestones_in_project(client, pid) == []
    assert client.delete(url(pid, mid)).status_code == 404
    assert client.patch(url(pid, mid), json={"due_on": in_days(3)}).status_code == 404
    facts = milestone_facts(client, pid)
    assert [e["action"] for e in facts] == ["ajout", "deplacement", "modification", "suppression"]
    assert (facts[1]["data"]["from"], facts[1]["data"]["to"]) == (in_days(30), in_days(45))
    assert facts[2]["data"]["fields"] == ["title", "user_id"]
    assert facts[3]["data"]["title"] == "Visite du chantier"


def test_who_a_milestone_may_concern(
    client: Any, db: Engine, staff_user: User, client_as: Callable[[User], Any]
) -> None:
    project = walk_to(client, create_project(client), "prefiguration")
    pid = project["id"]
    other_project = create_project(client, name="Régie du Pile")
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    link(client, pid, porteur)
    stranger = make_user(db, role="porteur", name="Porteur d'ailleurs")
    link(client, other_project["id"], stranger)
    consultant = make_user(db, role="consultant", name="Lina Consultante", password=PASSWORD)
    bureau = make_user(db, role="bureau", name="Membre du Bureau")
    gone = make_user(db, role="staff", name="Ancien collègue")
    response = client.patch(f"/api/v1/users/{gone.id}", json={"active": False})
    assert response.status_code == 200, response.text
    body = {"title": "Visite", "due_on": in_days(30)}
    before = len(events(client, pid))
    for user_id, message in (
        (999_999, "Ce compte est introuvable."),
        (stranger.id, CANNOT_SEE),  # a porteur of another project
        (consultant.id, CANNOT_SEE),  # not (yet) in charge of this project
        (bureau.id, CANNOT_SEE),
        (gone.id, CANNOT_SEE),  # a deactivated account
    ):
        response = client.post(url(pid), json={**body, "user_id": user_id})
        assert fields_of(response) == {"user_id": message}, user_id
    assert client.get(url(pid)).json() == []
    assert len(events(client, pid)) == before
    # The porteur of the project, and its consultant once in charge, may.
    assert add(client, pid, **body, user_id=porteur.id)["user"]["id"] == porteur.id
    assign(client, pid, consultant)
    made = add(client, pid, title="Rapport d'expertise attendu", due_on=in_days(60),
               user_id=consultant.id)  # fmt: skip
    assert made["user"] == {"id": consultant.id, "name": "Lina Consultante"}
    # A move to someone who cannot see the project is refused and changes nothing.
    response = client.patch(url(pid, made["id"]), json={"user_id": stranger.id})
    assert fields_of(response) == {"user_id": CANNOT_SEE}
    assert client.get(url(pid)).json()[-1]["user"]["id"] == consultant.id


def test_bad_values_are_refused_in_french_and_nothing_is_stored(
    client: Any, staff_user: User
) -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with dates.frozen(start):
        project = create_project(client)
    pid = project["id"]
    uid = staff_user.id
    good = {"title": "Visite", "due_on": in_days(30), "user_id": uid}
    before = (len(events(client, pid)), client.get(f"/api/v1/projects/{pid}").json()["version"])
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (
            {**good, "due_on": "2026-03-01"},
            {"due_on": BEFORE_CREATION},
        ),
        ({**good, "title": "   "}, {"title": "Ce champ ne peut pas être vide."}),
        ({**good, "title": "x" * 201}, {"title": "Ce champ ne doit pas dépasser 200 caractères."}),
        ({"title": "Visite", "user_id": uid}, {"due_on": "Ce champ est obligatoire."}),
        ({**good, "due_on": "31/02/2026"}, {"due_on": dates_message("31/02/2026")}),
        ({**good, "user_id": "Camille"}, {"user_id": "Un nombre entier est attendu."}),
        ({**good, "colour": "rouge"}, {"colour": "Ce champ n'est pas reconnu."}),
        (
            {**good, "due_on": "2026-03-01", "user_id": 999_999},
            {
                "due_on": BEFORE_CREATION,
                "user_id": "Ce compte est introuvable.",
            },
        ),
    ]
    for body, expected in cases:
        response = client.post(url(pid), json=body)
        assert fields_of(response) == expected, body
        assert response.json()["error"]["code"] == "requete_invalide"
    far = (dates.today() + timedelta(days=365 * 11)).isoformat()
    assert "due_on" in fields_of(client.post(url(pid), json={**good, "due_on": far}))
    after = (len(events(client, pid)), client.get(f"/api/v1/projects/{pid}").json()["version"])
    assert after == before
    assert client.get(url(pid)).json() == []
    # The same checks on a move, which changes nothing either.
    mid = add(client, pid, **good)["id"]
    for body in ({"due_on": "2026-03-01"}, {"title": ""}, {"done": "peut-être"}):
        response = client.patch(url(pid, mid), json=body)
        assert response.status_code == 422, body
    assert client.get(url(pid)).json()[0]["due_on"] == good["due_on"]
    assert [e["action"] for e in milestone_facts(client, pid)] == ["ajout"]


def dates_message(typed: str) -> str:
    try:
        dates.parse_date(typed)
    except ValueError as exc:
        return str(exc)
    raise AssertionError(typed)


def test_only_staff_write_and_only_on_projects_they_see(
    client: Any, db: Engine, staff_user: User, client_as: Callable[[User], Any]
) -> None:
    project = create_project(client)
    pid = project["id"]
    other = create_project(client, name="Régie du Pile")
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    link(client, pid, porteur)
    mine = add(client, pid, title="Visite", due_on=in_days(30), user_id=porteur.id)
    theirs = add(client, other["id"], title="Comité", due_on=in_days(30), user_id=staff_user.id)
    as_porteur = client_as(porteur)
    # A porteur reads the milestones of their project...
    assert [m["title"] for m in as_porteur.get(url(pid)).json()] == ["Visite"]
    assert [m["title"] for m in milestones_in_project(as_porteur, pid)] == ["Visite"]
    # ...but may not write (403), and another project does not exist for them (404).
    body = {"title": "Ma visite", "due_on": in_days(3), "user_id": porteur.id}
    assert as_porteur.post(url(pid), json=body).status_code == 403
    assert as_porteur.patch(url(pid, mine["id"]), json={"due_on": in_days(3)}).status_code == 403
    assert as_porteur.delete(url(pid, mine["id"])).status_code == 403
    assert as_porteur.get(url(other["id"])).status_code == 404
    assert as_porteur.post(url(other["id"]), json=body).status_code == 404
    bureau = client_as(make_user(db, role="bureau"))
    assert bureau.post(url(pid), json=body).status_code == 404  # not at the Bureau's step
    # A milestone of another project, named under this one: 404, untouched.
    response = client.patch(url(pid, theirs["id"]), json={"due_on": in_days(5)})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Ce jalon est introuvable."
    assert client.delete(url(pid, theirs["id"])).status_code == 404
    assert client.get(url(other["id"])).json() == [theirs]
    # A step's deadline is not a milestone.
    step = next(d for d in milestones_or_steps(client, pid) if d["kind"] == "etape")
    assert client.delete(url(pid, step["id"])).status_code == 404
    assert client.get(url(pid)).json()[0]["due_on"] == mine["due_on"]


def milestones_or_steps(client: Any, project_id: int) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/projects/{project_id}").json()["deadlines"]  # type: ignore[no-any-return]


def test_stale_version_and_closed_project(client: Any, staff_user: User) -> None:
    project = create_project(client)
    pid = project["id"]
    body = {"title": "Visite", "due_on": in_days(30), "user_id": staff_user.id}
    version = project["version"]
    response = client.post(url(pid), json=body, headers={"If-Match": f'"{version}"'})
    assert response.status_code == 201, response.text
    mid = response.json()["id"]
    # The client read the project before that change: 412, nothing moved.
    for response in (
        client.post(url(pid), json=body, headers={"If-Match": str(version)}),
        client.patch(url(pid, mid), json={"due_on": in_days(9)}, headers={"If-Match": "1"}),
        client.delete(url(pid, mid), headers={"If-Match": str(version)}),
    ):
        assert response.status_code == 412, response.text
    assert len(client.get(url(pid)).json()) == 1
    assert client.get(url(pid)).json()[0]["due_on"] == in_days(30)
    current = client.get(url(pid)).headers["ETag"]
    response = client.patch(
        url(pid, mid), json={"due_on": in_days(9)}, headers={"If-Match": current}
    )
    assert response.status_code == 200, response.text
    # A closed project keeps its milestones, closed with it, and accepts no change.
    fire(client, pid, "abandonner", comment="Le projet s'arrête.")
    (held,) = client.get(url(pid)).json()
    assert held["status"] == "tenue"
    assert client.post(url(pid), json=body).status_code == 409
    assert client.patch(url(pid, mid), json={"title": "Autre"}).status_code == 409
    assert client.delete(url(pid, mid)).status_code == 409
    assert client.get(url(pid)).json() == [held]


# --- suspension -------------------------------------------------------------------------------


def test_suspension_shifts_milestones_by_paris_calendar_days(client: Any, staff_user: User) -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    with dates.frozen(start):
        project = create_project(client)
        pid = project["id"]
        early = add(client, pid, title="Visite", due_on="2026-02-10", user_id=staff_user.id)
        held = add(client, pid, title="Réunion", due_on="2026-01-06", user_id=staff_user.id)
        assert client.patch(url(pid, held["id"]), json={"done": True}).status_code == 200
    # Suspended at 23:30 UTC on 31 January: already 1 February in Paris.
    with dates.frozen(datetime(2026, 1, 31, 23, 30, tzinfo=UTC)):
        response = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections"})
        assert response.status_code == 200
    # A milestone set during the suspension is dated knowing it: it does not move.
    with dates.frozen(datetime(2026, 2, 20, 10, tzinfo=UTC)):
        during = add(client, pid, title="Réunion de reprise", due_on="2026-03-02",
                     user_id=staff_user.id)  # fmt: skip
        assert during["status"] == "suspendue"
    before = {d["id"]: d["due_on"] for d in milestones_or_steps(client, pid)}
    # Resumed at 00:30 Paris time on 3 March (23:30 UTC on 2 March): 30 Paris days later.
    with dates.frozen(datetime(2026, 3, 2, 23, 30, tzinfo=UTC)):
        response = client.post(f"/api/v1/projects/{pid}/resume", json={"comment": "Reprise"})
        assert response.status_code == 200, response.text
        after = {d["id"]: d for d in response.json()["deadlines"]}
    shifted = {
        i: (date.fromisoformat(after[i]["due_on"]) - date.fromisoformat(due)).days
        for i, due in before.items()
    }
    assert shifted[early["id"]] == 30
    assert shifted[held["id"]] == 0  # held: closed, not shifted
    assert shifted[during["id"]] == 0
    steps = [d["id"] for d in after.values() if d["kind"] in ("etape", "label")]
    assert {shifted[i] for i in steps} == {30}
    assert after[early["id"]]["initial_due_on"] == "2026-02-10"
    (last,) = [e for e in events(client, pid) if e["kind"] == "reprise"]
    assert last["data"] == {"paused_days": 30}


def test_the_history_says_the_resumption_shifted_the_deadlines(
    client: Any, session_as: Callable[[User], TestClient], db: Engine
) -> None:
    staff = make_user(db, role="staff", name="Jérôme Petit", password=PASSWORD)
    with dates.frozen(datetime.now(UTC) - timedelta(days=40)):
        project = create_project(client)
        client.post(f"/api/v1/projects/{project['id']}/suspend", json={"comment": "Pause"})
    client.post(f"/api/v1/projects/{project['id']}/resume", json={"comment": "Reprise"})
    page = session_as(staff).get(f"/projects/{project['id']}/history")
    assert page.status_code == 200
    assert typeset(
        "Projet repris après 40 jours de suspension : les échéances en cours sont reportées "
        "d'autant."
    ) in text_of(page)


# --- pages ------------------------------------------------------------------------------------


def form_fields(page: Any, action: str) -> str:
    match = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', page.text, re.S)
    assert match, f"no form posting to {action}"
    return match.group(0)


def test_staff_manage_milestones_on_the_project_page(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    staff = make_user(db, role="staff", name="Jérôme Petit", password=PASSWORD)
    project = create_project(client)
    pid = project["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    web = session_as(staff)
    page = web.get(f"/projects/{pid}")
    assert page.status_code == 200
    html = text_of(page)
    assert "Aucun jalon n'est fixé pour ce projet." in html
    form = form_fields(page, f"/projects/{pid}/milestones")
    assert 'name="title"' in form and 'type="date"' in form
    # The people a milestone may concern: the porteur of the project, then the team.
    options = re.findall(r'<option value="(\d+)">([^<]+)</option>', form)
    assert (str(porteur.id), "Awa Diallo (porteur de projet)") in options
    assert (str(staff.id), "Jérôme Petit (équipe nationale)") in options
    token = csrf(page)
    version = str(project["version"])
    # Refused: a date before the project's creation and no title; the values come back.
    response = web.post(
        f"/projects/{pid}/milestones",
        data={
            "csrf_token": token,
            "version": version,
            "title": "",
            "due_on": "01/01/2020",
            "user_id": str(porteur.id),
        },  # fmt: skip
    )
    assert response.status_code == 422
    refused = text_of(response)
    assert typeset("Votre demande n'a pas abouti, rien n'a été modifié.") in refused
    assert "Ce champ est obligatoire." in refused
    response = web.post(
        f"/projects/{pid}/milestones",
        data={
            "csrf_token": token,
            "version": version,
            "title": "Visite",
            "due_on": "01/01/2020",
            "user_id": str(porteur.id),
        },  # fmt: skip
    )
    assert response.status_code == 422
    assert "La date du jalon ne peut pas précéder la création du projet" in text_of(response)
    assert 'value="Visite"' in response.text  # what was typed comes back
    assert client.get(url(pid)).json() == []
    response = web.post(
        f"/projects/{pid}/milestones",
        data={
            "csrf_token": token,
            "version": version,
            "title": "Visite du site",
            "due_on": in_days(20),
            "user_id": str(porteur.id),
        },  # fmt: skip
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/projects/{pid}?fait=jalon_ajoute#echeances"
    (made,) = client.get(url(pid)).json()
    assert (made["title"], made["due_on"], made["user"]["id"]) == (
        "Visite du site",
        in_days(20),
        porteur.id,
    )
    page = web.get(f"/projects/{pid}?fait=jalon_ajoute")
    html = text_of(page)
    assert "Jalon ajouté." in html
    assert "Visite du site" in html and "Awa Diallo" in html
    version = str(client.get(f"/api/v1/projects/{pid}").json()["version"])
    # « Déplacer »: a refused date says why beside the field; a good one moves it.
    move = f"/projects/{pid}/milestones/{made['id']}/move"
    assert form_fields(page, move)
    response = web.post(move, data={"csrf_token": token, "version": version, "due_on": ""})
    assert response.status_code == 422
    assert "Ce champ est obligatoire." in text_of(response)
    response = web.post(
        move,
        data={"csrf_token": token, "version": version, "due_on": in_days(40)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert client.get(url(pid)).json()[0]["due_on"] == in_days(40)
    # A stale form (the version before the move) is refused, the date stays.
    response = web.post(move, data={"csrf_token": token, "version": version, "due_on": in_days(50)})
    assert response.status_code == 412
    assert client.get(url(pid)).json()[0]["due_on"] == in_days(40)
    version = str(client.get(f"/api/v1/projects/{pid}").json()["version"])
    # « Marquer comme tenu ».
    response = web.post(
        f"/projects/{pid}/milestones/{made['id']}/done",
        data={"csrf_token": token, "version": version, "done": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert client.get(url(pid)).json()[0]["status"] == "tenue"
    page = web.get(f"/projects/{pid}")
    assert "Rouvrir" in text_of(page)
    version = str(client.get(f"/api/v1/projects/{pid}").json()["version"])
    # « Supprimer » asks first (without JavaScript, a page naming the consequence).
    delete = f"/projects/{pid}/milestones/{made['id']}/delete"
    assert "data-confirm=" in form_fields(page, delete)
    response = web.post(delete, data={"csrf_token": token, "version": version})
    assert response.status_code == 200
    asked = text_of(response)
    assert typeset("Ce jalon ne figurera plus parmi les échéances du projet") in asked
    assert len(client.get(url(pid)).json()) == 1
    response = web.post(
        delete,
        data={"csrf_token": token, "version": version, "confirm": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/projects/{pid}?fait=jalon_supprime#echeances"
    assert client.get(url(pid)).json() == []
    # The history names every change in French.
    history = text_of(web.get(f"/projects/{pid}/history"))
    for line in (
        f"Jalon « Visite du site » ajouté au {dates.french_date(date.fromisoformat(in_days(20)))}"
        ", concernant Awa Diallo.",
        "Jalon « Visite du site » déplacé du "
        f"{dates.french_date(date.fromisoformat(in_days(20)))} au "
        f"{dates.french_date(date.fromisoformat(in_days(40)))}.",
        f"Jalon « Visite du site » du {dates.french_date(date.fromisoformat(in_days(40)))} tenu.",
        f"Jalon « Visite du site » du {dates.french_date(date.fromisoformat(in_days(40)))} "
        "supprimé.",
    ):
        assert typeset(line) in history, line


def test_porteurs_see_milestones_read_only_on_mon_projet(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    pid = project["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    made = add(client, pid, title="Visite du site", due_on=in_days(20), user_id=porteur.id)
    web = session_as(porteur)
    page = web.get(f"/projects/{pid}")
    assert page.status_code == 200
    html = text_of(page)
    assert "Mon projet" in html
    assert "Visite du site" in html and "Bientôt" in html
    assert f"/milestones/{made['id']}/" not in page.text
    assert f'action="/projects/{pid}/milestones"' not in page.text
    # Posting anyway is refused and changes nothing.
    token = csrf(page)
    response = web.post(
        f"/projects/{pid}/milestones/{made['id']}/delete",
        data={"csrf_token": token, "confirm": "1"},
    )
    assert response.status_code == 403
    response = web.post(
        f"/projects/{pid}/milestones",
        data={"csrf_token": token, "title": "X", "due_on": in_days(3), "user_id": str(porteur.id)},
    )
    assert response.status_code == 403
    assert [m["id"] for m in client.get(url(pid)).json()] == [made["id"]]


# --- through the deadlines route, and at once ---------------------------------------------------


def test_a_milestone_moved_as_a_deadline_names_itself(
    client: Any, db: Engine, session_as: Callable[[User], TestClient], staff_user: User
) -> None:
    project = create_project(client)
    pid = project["id"]
    made = add(client, pid, title="Visite", due_on=in_days(30), user_id=staff_user.id)
    response = client.patch(
        f"/api/v1/projects/{pid}/deadlines/{made['id']}",
        json={"due_on": in_days(35), "reason": "Le maire est absent"},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["kind"], response.json()["title"]) == ("jalon", "Visite")
    staff = make_user(db, role="staff", password=PASSWORD)
    history = text_of(session_as(staff).get(f"/projects/{pid}/history"))
    moved = (
        f"Jalon « Visite » : échéance déplacée du "
        f"{dates.french_date(date.fromisoformat(in_days(30)))} au "
        f"{dates.french_date(date.fromisoformat(in_days(35)))}."
    )
    assert typeset(moved) in history


def test_concurrent_changes_of_one_milestone_are_safe(client: Any, staff_user: User) -> None:
    project = create_project(client)
    pid = project["id"]
    made = add(client, pid, title="Visite", due_on=in_days(30), user_id=staff_user.id)

    def call(i: int) -> Any:
        if i % 2:
            return client.delete(url(pid, made["id"]))
        return client.patch(url(pid, made["id"]), json={"due_on": in_days(40 + i)})

    responses = _race(6, call)
    statuses = [r.status_code for r in responses]
    # One delete wins; every other answer is a move before it or a 404 after it, never a 500.
    assert statuses.count(204) == 1, [r.text for r in responses]
    assert set(statuses) <= {200, 204, 404}, [r.text for r in responses]
    assert client.get(url(pid)).json() == []
    facts = milestone_facts(client, pid)
    assert [e["action"] for e in facts].count("suppression") == 1
    moves = statuses.count(200)
    assert [e["action"] for e in facts].count("deplacement") == moves
