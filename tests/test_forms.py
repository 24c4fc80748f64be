"""Refused forms, through the real app: every problem at once, each beside its field and once
only, with a summary at the top linking to the fields; the API twin lists them all."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

from labelflow import dates
from tests.factories import create_project

TOMORROW = (dates.today() + timedelta(days=1)).isoformat()


def page_text(response: Any) -> str:
    """The page as read: entities decoded, French no-break spaces as plain spaces."""
    return unescape(response.text).replace("\u00a0", " ").replace("\u202f", " ")


def field_errors(html: str) -> dict[str, str]:
    """The message beside each field: `{field id: text}`."""
    return {
        m.group(1).removesuffix("-error"): re.sub(r"<br>", " | ", m.group(2))
        for m in re.finditer(r'<p class="field-error" id="([^"]+)">(.*?)</p>', html, re.S)
    }


def summary_links(html: str) -> list[str]:
    summary = re.search(r'<ul class="error-summary">(.*?)</ul>', html, re.S)
    assert summary, "no summary of the refused fields"
    return re.findall(r'href="#([^"]+)"', summary.group(1))


def assert_each_once(html: str, expected: dict[str, str]) -> None:
    """Exactly the fields of `expected` carry a message, that one, and the message is written
    nowhere else on the page; the summary links to each of them."""
    assert field_errors(html) == expected
    for message in expected.values():
        for part in message.split(" | "):
            if part != "Ce champ est obligatoire.":  # the same words beside two fields
                assert html.count(part) == 1, part
    assert summary_links(html) == list(expected)
    for field_id in expected:
        assert f'id="{field_id}"' in html  # the summary's link lands on the field


def test_the_project_form_lists_every_problem_at_once(client: Any) -> None:
    refused = client.post(
        "/projects",
        data={
            "name": "",
            "kind": "regie",
            "communes": "Roubaix\n123 Lille",
            "region": "Hauts-de-France",
            "initiator": "",
            "qpv": "Alma-Gare",
        },
    )
    assert refused.status_code == 422
    html = page_text(refused)
    assert_each_once(
        html,
        {
            "project-name": "Ce champ est obligatoire.",
            "project-kind": "Valeur non reconnue. Choisissez parmi : Régie de Quartier, "
            "Régie de Territoire.",
            "project-communes": "Ligne 1 : indiquez le code INSEE puis le nom de la commune, "
            "par exemple « 59512 Roubaix ». | Ligne 2 : Le code INSEE doit compter 5 "
            "caractères (par exemple 59512).",
            "project-initiator": "Ce champ est obligatoire.",
        },
    )
    assert "Certaines valeurs sont manquantes ou invalides : 4 champs à corriger." in html
    # What was typed is kept.
    assert 'value="Hauts-de-France"' in html and "Roubaix\n123 Lille</textarea>" in html


def test_the_project_edit_form_lists_the_models_and_the_services_problems(client: Any) -> None:
    project = create_project(client)
    refused = client.post(
        f"/projects/{project['id']}/edit",
        data={
            "name": "",
            "communes": "59512 Roubaix",
            "region": "Hauts-de-France",
            "rna_number": "X12",
            "association_created_on": TOMORROW,
            "charge_mission_recruited_on": "31/02/2026",
        },
    )
    assert refused.status_code == 422
    html = page_text(refused)
    errors = field_errors(html)
    assert errors.pop("edit-charge_mission_recruited_on").startswith("Date impossible")
    assert errors == {
        "edit-rna_number": "Le numéro RNA doit être la lettre W suivie de 9 chiffres.",
        # The service's own checks, on the fields the model accepted.
        "edit-name": "Ce champ ne peut pas être vidé.",
        "edit-association_created_on": "La date de création ne peut pas être dans le futur.",
    }
    for message in errors.values():
        assert html.count(message) == 1, message
    assert sorted(summary_links(html)) == sorted([*errors, "edit-charge_mission_recruited_on"])
    assert "Votre demande n'a pas abouti, rien n'a été modifié." in html
    assert 'value="X12"' in html
    assert client.get(f"/api/v1/projects/{project['id']}").json()["name"] == project["name"]


def test_the_api_twin_of_the_edit_form_answers_every_problem(client: Any) -> None:
    project = create_project(client)
    response = client.patch(
        f"/api/v1/projects/{project['id']}",
        json={
            "name": None,
            "association_created_on": TOMORROW,
            "charge_mission_recruited_on": TOMORROW,
            "staff_owner_id": 999999,
        },
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "requete_invalide"
    assert {f["field"] for f in error["fields"]} == {
        "name",
        "association_created_on",
        "charge_mission_recruited_on",
        "staff_owner_id",
    }


def test_the_account_form_lists_every_problem_at_once(client: Any) -> None:
    refused = client.post(
        "/users",
        data={
            "email": "pas-une-adresse",
            "name": "",
            "role": "porteur",
            "is_admin": "on",
            "password": "court",
        },
    )
    assert refused.status_code == 422
    html = page_text(refused)
    assert_each_once(
        html,
        {
            "user-email": "Adresse e-mail invalide.",
            "user-name": "Ce champ est obligatoire.",
            "user-is_admin": "Seul un membre de l'équipe nationale peut être administrateur.",
            "user-password": "Le mot de passe doit compter au moins 12 caractères.",
        },
    )
    assert 'value="pas-une-adresse"' in html


def test_the_api_twin_of_the_account_form_answers_every_problem(client: Any) -> None:
    taken = client.get("/api/v1/users?role=staff").json()[0]["email"]
    response = client.post(
        "/api/v1/users",
        json={
            "email": taken,
            "name": "Nina Petit",
            "role": "consultant",
            "is_admin": True,
            "password": "court",
        },
    )
    assert response.status_code == 422
    fields = {f["field"]: f["message"] for f in response.json()["error"]["fields"]}
    assert fields == {
        "email": "Un compte existe déjà avec cette adresse e-mail.",
        "is_admin": "Seul un membre de l'équipe nationale peut être administrateur.",
        "password": "Le mot de passe doit compter au moins 12 caractères.",
    }
    # Alone, an address taken stays the conflict it is.
    alone = client.post(
        "/api/v1/users", json={"email": taken, "name": "Nina Petit", "role": "consultant"}
    )
    assert alone.status_code == 409
    assert alone.json()["error"]["fields"][0]["field"] == "email"


def test_a_refusal_with_no_field_is_said_once(client: Any) -> None:
    project = create_project(client)
    refused = client.post(
        f"/projects/{project['id']}/transitions",
        data={"action": "lancer_faisabilite", "confirm": "1"},
    )
    assert refused.status_code == 409
    html = page_text(refused)
    message = "n'est pas encore possible :"
    assert html.count(message) == 1


# --- irreversible actions ask first; every success says so ---------------------------------------


def notice_of(html: str) -> str:
    found = re.search(r'<div class="alert alert--success" role="status"><p>(.*?)</p>', html)
    return found.group(1) if found else ""


def test_a_step_change_asks_first_without_javascript_then_says_it_is_done(client: Any) -> None:
    from tests.factories import complete_groupe_projet

    project = create_project(client)
    pid = project["id"]
    complete_groupe_projet(client, project)
    version = str(client.get(f"/api/v1/projects/{pid}").json()["version"])
    data = {"action": "lancer_faisabilite", "version": version}
    asked = client.post(f"/projects/{pid}/transitions", data=data)
    assert asked.status_code == 200
    html = page_text(asked)
    assert '<h1 id="confirm-title">Confirmer : Lancer l\'étude de faisabilité</h1>' in html
    assert "Le projet passera à l'étape « Étude de faisabilité »" in html
    # The same form's fields, confirmed; a way back without acting.
    assert '<input type="hidden" name="action" value="lancer_faisabilite">' in html
    assert f'<input type="hidden" name="version" value="{version}">' in html
    assert '<input type="hidden" name="confirm" value="1">' in html
    assert f'href="/projects/{pid}#actions">Annuler</a>' in html
    assert client.get(f"/api/v1/projects/{pid}").json()["state"] == "groupe_projet"

    done = client.post(
        f"/projects/{pid}/transitions", data={**data, "confirm": "1"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/projects/{pid}?fait=etape#actions"
    page = page_text(client.get(done.headers["location"]))
    assert notice_of(page) == "Le projet est passé à l'étape 2 — Étude de faisabilité."
    # The dialog for JavaScript names the same consequence on the next step's buttons.
    assert 'data-confirm="Le projet passera à l' in page


def test_removing_a_stakeholder_asks_first_and_says_it_is_done(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    client.post(
        f"/api/v1/projects/{pid}/stakeholders",
        json={"name": "Ville de Roubaix", "college": "collectivite"},
    )
    (stakeholder,) = client.get(f"/api/v1/projects/{pid}/stakeholders").json()
    url = f"/projects/{pid}/stakeholders/{stakeholder['id']}/delete"
    asked = page_text(client.post(url))
    assert "Confirmer : retirer une partie prenante" in asked
    assert len(client.get(f"/api/v1/projects/{pid}/stakeholders").json()) == 1
    done = client.post(url, data={"confirm": "1"})
    assert notice_of(page_text(done)) == "Partie prenante retirée."
    assert client.get(f"/api/v1/projects/{pid}/stakeholders").json() == []


def test_deactivating_an_account_asks_first(client: Any, db: Any) -> None:
    from tests.conftest import make_user

    user = make_user(db, role="consultant", name="Claire Martin")
    asked = page_text(client.post(f"/users/{user.id}/deactivate"))
    assert "Confirmer : désactiver le compte" in asked
    assert "Ce compte ne pourra plus se connecter" in asked
    assert client.get(f"/users/{user.id}").text.count("Désactiver le compte") >= 1
    done = page_text(client.post(f"/users/{user.id}/deactivate", data={"confirm": "1"}))
    assert "Le compte est désactivé" in done


def test_every_page_success_says_so_and_an_unknown_key_says_nothing(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    added = client.post(
        f"/projects/{pid}/stakeholders",
        data={"name": "Ville de Roubaix", "college": "collectivite"},
        follow_redirects=False,
    )
    assert (
        added.headers["location"]
        == f"/projects/{pid}?fait=partie_prenante_ajoutee#parties-prenantes"
    )
    assert notice_of(page_text(client.get(added.headers["location"]))) == "Partie prenante ajoutée."
    assert notice_of(page_text(client.get(f"/projects/{pid}?fait=<b>pirate</b>"))) == ""
    assert "pirate" not in client.get(f"/projects/{pid}?fait=pirate").text
