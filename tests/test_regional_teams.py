"""Regional teams: staff accounts limited to one or several régions see and drive only the
projects of their régions (the one visibility rule), their dashboard, figures and exports count
those only, and their notifications follow. National staff (no région) see everything."""

from __future__ import annotations

from html import unescape
from typing import Any

from sqlalchemy import Engine

from labelflow import stats
from labelflow.accounts import actor_of
from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import User
from tests.conftest import make_user
from tests.factories import create_project, fire, walk_to
from tests.test_exports import CSV_URL, read_csv

NORD = "Hauts-de-France"
OUEST = "Bretagne"


def _regional(db: Engine, *regions: str) -> User:
    return make_user(db, role="staff", name="Régine Régionale", regions=list(regions))


def test_admins_set_the_regions_of_a_staff_account(client: Any, db: Engine) -> None:
    staff = make_user(db, role="staff", name="Sacha Staff")
    r = client.patch(f"/api/v1/users/{staff.id}", json={"regions": [NORD, " Bretagne ", NORD]})
    assert r.status_code == 200, r.text
    assert r.json()["regions"] == [NORD, OUEST]
    listed = {u["id"]: u for u in client.get("/api/v1/users").json()}
    assert listed[staff.id]["regions"] == [NORD, OUEST]
    # Back to national.
    r = client.patch(f"/api/v1/users/{staff.id}", json={"regions": []})
    assert r.status_code == 200 and r.json()["regions"] == []
    # Only staff accounts have régions; nothing is stored when refused.
    porteur = make_user(db, role="porteur")
    r = client.patch(f"/api/v1/users/{porteur.id}", json={"regions": [NORD]})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [
        {
            "field": "regions",
            "message": typeset(
                "Seul un compte de l'équipe nationale peut être limité à des régions."
            ),
        }
    ]
    for bad in ([""], ["x" * 101], "Bretagne", [1]):
        r = client.patch(f"/api/v1/users/{staff.id}", json={"regions": bad})
        assert r.status_code == 422, bad
    created = client.post(
        "/api/v1/users",
        json={"email": "reg@example.org", "name": "Reg", "role": "staff", "regions": [OUEST]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["regions"] == [OUEST]
    # An account moved out of the national team leaves its régions.
    moved = client.patch(f"/api/v1/users/{created.json()['id']}", json={"role": "consultant"})
    assert moved.status_code == 200 and moved.json()["regions"] == []


def test_a_regional_account_sees_and_drives_only_its_regions(
    client: Any, db: Engine, client_as: Any
) -> None:
    nord = create_project(client, name="Régie du Nord")
    ouest = create_project(client, name="Régie de l'Ouest", region=OUEST)
    regional = client_as(_regional(db, NORD))
    assert regional.get(f"/api/v1/projects/{ouest['id']}").status_code == 404
    assert regional.patch(f"/api/v1/projects/{ouest['id']}", json={"name": "X"}).status_code == 404
    fire(regional, nord["id"], "abandonner", comment="Le groupe projet s'est dissous.")
    # It creates projects of its régions only, and does not send one away.
    r = regional.post(
        "/api/v1/projects",
        json={**{k: v for k, v in nord.items() if k in ("kind", "communes", "initiator")},
              "name": "Ailleurs", "region": OUEST},
    )  # fmt: skip
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "region"
    mine = create_project(regional, name="Nouvelle régie du Nord")
    r = regional.patch(f"/api/v1/projects/{mine['id']}", json={"region": OUEST})
    assert r.status_code == 422
    assert regional.get(f"/api/v1/projects/{mine['id']}").json()["region"] == NORD
    # Several régions: both.
    both = client_as(_regional(db, NORD, OUEST))
    assert both.get(f"/api/v1/projects/{ouest['id']}").status_code == 200
    listed = {p["id"] for p in both.get("/api/v1/projects").json()["items"]}
    assert listed == {nord["id"], ouest["id"], mine["id"]}


def test_dashboard_figures_and_exports_cover_its_regions_only(
    client: Any, db: Engine, client_as: Any
) -> None:
    nord = create_project(client, name="Régie du Nord")
    walk_to(client, create_project(client, name="Régie de l'Ouest", region=OUEST), "faisabilite")
    user = _regional(db, NORD)
    regional = client_as(user)
    pipeline = regional.get("/api/v1/pipeline").json()
    national = client.get("/api/v1/pipeline").json()
    assert (pipeline["total"], national["total"]) == (1, 2)
    assert sum(s["total"] for s in pipeline["steps"] if s["state"] == "faisabilite") == 0
    page = regional.get("/")
    assert page.status_code == 200
    assert "Équipe régionale" in page.text and NORD in page.text
    rows = read_csv(regional.get(CSV_URL))
    assert [row["Projet"] for row in rows] == [nord["name"]]
    assert len(read_csv(client.get(CSV_URL))) == 2
    with transaction(db, write=False) as session:
        engine = client.app.state.workflows
        mine = stats.network(session, engine=engine, actor=actor_of(user))
        everyone = stats.network(session, engine=engine, actor=actor_of(make_user(db)))
    reached = {f.state: f.reached for f in mine.funnel}
    assert reached.get("faisabilite", 0) == 0
    assert {f.state: f.reached for f in everyone.funnel}["faisabilite"] == 1


def test_its_notifications_follow_its_regions(client: Any, db: Engine, client_as: Any) -> None:
    project = walk_to(client, create_project(client, name="Régie du Nord"), "groupe_projet")
    user = _regional(db, NORD)
    regional = client_as(user)
    national_user = make_user(db, role="staff", name="Nina Nationale")
    national = client_as(national_user)
    for follower in (regional, national):
        assert follower.post(f"/api/v1/projects/{project['id']}/followers/me").status_code == 200
    fire(client, project["id"], "abandonner", comment="Le projet change de main.")

    def told(who: Any) -> int:
        return int(who.get("/api/v1/me/notifications").json()["total"])

    assert (told(regional), told(national)) == (1, 1)
    # The project moves to another région: the regional follower is no longer told.
    other = create_project(client, name="Régie mobile")
    for follower in (regional, national):
        assert follower.post(f"/api/v1/projects/{other['id']}/followers/me").status_code == 200
    r = client.patch(f"/api/v1/projects/{other['id']}", json={"region": OUEST})
    assert r.status_code == 200, r.text
    fire(client, other["id"], "abandonner", comment="Fusion avec une autre régie.")
    assert (told(regional), told(national)) == (1, 2)


def test_the_user_page_sets_the_regions(client: Any, db: Engine) -> None:
    staff = make_user(db, role="staff", name="Sacha Staff")
    form = client.get(f"/users/{staff.id}")
    assert form.status_code == 200 and 'name="regions"' in form.text
    r = client.post(
        f"/users/{staff.id}",
        data={"name": "Sacha Staff", "role": "staff", "regions": f"{NORD}\n\n{OUEST}\n"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    shown = client.get(f"/users/{staff.id}")
    assert typeset("Équipe régionale : Hauts-de-France, Bretagne") in shown.text
    assert client.get("/api/v1/users").json()
    r = client.post(
        f"/users/{staff.id}",
        data={"name": "Sacha Staff", "role": "porteur", "regions": NORD},
        follow_redirects=False,
    )
    assert r.status_code == 422
    refused = typeset("Seul un compte de l'équipe nationale peut être limité à des régions.")
    assert refused in unescape(r.text)


def test_the_staff_in_charge_of_a_project_sees_it(client: Any, db: Engine) -> None:
    ouest = create_project(client, name="Régie de l'Ouest", region=OUEST)
    regional = _regional(db, NORD)
    r = client.patch(f"/api/v1/projects/{ouest['id']}", json={"staff_owner_id": regional.id})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "staff_owner_id"
    page = client.get(f"/projects/{ouest['id']}")
    choices = dict(page.context["owner_choices"])
    assert str(regional.id) not in choices
    nord = create_project(client, name="Régie du Nord")
    r = client.patch(f"/api/v1/projects/{nord['id']}", json={"staff_owner_id": regional.id})
    assert r.status_code == 200, r.text
    assert str(regional.id) in dict(client.get(f"/projects/{nord['id']}").context["owner_choices"])
