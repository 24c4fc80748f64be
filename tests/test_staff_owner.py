"""Who follows a project (the chargé·e de suivi), what a porteur reads on « Mon projet », and the
search that forgives: through the real app, API and pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from labelflow.models import User
from tests.conftest import make_user
from tests.factories import (
    add_stakeholder,
    assign,
    create_project,
    declare,
    upload,
    walk_to,
)
from tests.test_dashboard import count_statements
from tests.test_pages_roles import PASSWORD, csrf, link, option_values, session_as, text_of


def plain(html: str) -> str:
    """The page with French typography's non-breaking spaces read as plain ones."""
    return html.replace("\u00a0", " ").replace("\u202f", " ")


__all__ = ["session_as"]  # the fixture, used by name

OWNER_REFUSED = "Le ou la chargé·e de suivi doit être un compte actif de l'équipe nationale."


def owner_of(client: Any, project_id: int) -> Any:
    return client.get(f"/api/v1/projects/{project_id}").json()["staff_owner"]


def patch(client: Any, project_id: int, body: dict[str, Any]) -> Any:
    return client.patch(f"/api/v1/projects/{project_id}", json=body)


# --- the chargé·e de suivi in the API ----------------------------------------------------------


def test_the_creator_follows_the_project_and_every_role_sees_who(
    client: Any, db: Engine, staff_user: User, client_as: Callable[[User], Any]
) -> None:
    project = create_project(client)
    assert project["staff_owner"] == {"id": staff_user.id, "name": "Camille Roussel"}
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    link(client, project["id"], porteur)
    assert owner_of(client_as(porteur), project["id"]) == {
        "id": staff_user.id,
        "name": "Camille Roussel",
    }
    (item,) = client.get("/api/v1/projects").json()["items"]
    assert item["staff_owner"] == {"id": staff_user.id, "name": "Camille Roussel"}


def test_staff_hand_the_project_to_an_active_staff_member(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    project = create_project(client)
    pid = project["id"]
    colleague = make_user(db, role="staff", name="Jérôme Petit")
    response = patch(client, pid, {"staff_owner_id": colleague.id})
    assert response.status_code == 200, response.text
    assert response.json()["staff_owner"] == {"id": colleague.id, "name": "Jérôme Petit"}
    assert response.json()["version"] == project["version"] + 1
    # The change is a fact of the history, naming the person.
    (fact,) = [
        e
        for e in client.get(f"/api/v1/projects/{pid}/events").json()
        if e["kind"] == "modification"
    ]
    assert fact["data"]["fields"] == {"staff_owner_id": colleague.id}
    assert fact["data"]["staff_owner"] == {"id": colleague.id, "name": "Jérôme Petit"}
    history = text_of(client.get(f"/projects/{pid}/history"))
    assert "Jérôme Petit devient chargé·e de suivi du projet." in history

    # Refused, in French, naming the field, nothing changed: not staff, inactive, unknown, empty.
    porteur = make_user(db, role="porteur")
    gone = make_user(db, role="staff", name="Ancien collègue")
    assert client.patch(f"/api/v1/users/{gone.id}", json={"active": False}).status_code == 200
    for value, message in (
        (porteur.id, OWNER_REFUSED),
        (gone.id, OWNER_REFUSED),
        (999_999, OWNER_REFUSED),
        (None, "Ce champ ne peut pas être vidé."),
    ):
        refused = patch(client, pid, {"staff_owner_id": value})
        assert refused.status_code == 422, (value, refused.text)
        assert refused.json()["error"]["fields"] == [
            {"field": "staff_owner_id", "message": message}
        ]
    assert owner_of(client, pid)["id"] == colleague.id

    # Other roles may not change it.
    assert patch(client_as(porteur), pid, {"staff_owner_id": colleague.id}).status_code in (
        403,
        404,
    )


def test_the_list_filters_by_chargé_de_suivi(
    client: Any, db: Engine, staff_user: User, session_as: Callable[[User], TestClient]
) -> None:
    mine = create_project(client, name="Régie suivie par moi")
    colleague = make_user(db, role="staff", name="Jérôme Petit", password=PASSWORD)
    theirs = create_project(client, name="Régie suivie par Jérôme")
    assert patch(client, theirs["id"], {"staff_owner_id": colleague.id}).status_code == 200

    def names(query: str) -> list[str]:
        return [p["name"] for p in client.get(f"/api/v1/projects?{query}").json()["items"]]

    assert names(f"staff_owner={staff_user.id}") == ["Régie suivie par moi"]
    assert names(f"staff_owner={colleague.id}") == ["Régie suivie par Jérôme"]
    assert names("") == ["Régie suivie par Jérôme", "Régie suivie par moi"]

    # The page: a column, a filter, « Mes projets suivis » for the signed-in staff member.
    browser = session_as(colleague)
    page = browser.get("/projects")
    html = text_of(page)
    assert '<th scope="col">Chargé·e de suivi</th>' in html
    assert re.search(r"<td[^>]*>Camille Roussel</td>", html)
    assert re.search(r"<td[^>]*>Jérôme Petit</td>", html)
    assert '<option value="moi">Mes projets suivis</option>' in html
    followed = text_of(browser.get("/projects?staff_owner=moi"))
    assert "Régie suivie par Jérôme" in followed and "Régie suivie par moi" not in followed
    assert '<option value="moi" selected>Mes projets suivis</option>' in followed
    assert f"staff_owner={colleague.id}" in followed  # the JSON twin names the account
    by_id = text_of(browser.get(f"/projects?staff_owner={staff_user.id}"))
    assert "Régie suivie par moi" in by_id and "Régie suivie par Jérôme" not in by_id
    assert mine["id"] != theirs["id"]


def test_the_list_loads_the_chargés_de_suivi_with_the_projects(client: Any, app: Any) -> None:
    create_project(client)
    with count_statements(app) as few_page:
        assert client.get("/projects").status_code == 200
    with count_statements(app) as few_json:
        assert client.get("/api/v1/projects").status_code == 200
    for i in range(6):
        create_project(client, name=f"Régie {i}")
    with count_statements(app) as many_page:
        assert client.get("/projects").status_code == 200
    with count_statements(app) as many_json:
        assert client.get("/api/v1/projects").status_code == 200
    assert len(many_page) == len(few_page)
    assert len(many_json) == len(few_json)


def test_staff_change_the_chargé_de_suivi_from_the_project_page(
    db: Engine, staff_user: User, client: Any, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    pid = project["id"]
    colleague = make_user(db, role="staff", name="Jérôme Petit")
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    staff_user_with_password = make_user(db, role="staff", name="Inès Morel", password=PASSWORD)
    browser = session_as(staff_user_with_password)
    page = browser.get(f"/projects/{pid}")
    html = text_of(page)
    assert "<strong>Camille Roussel</strong> suit ce projet" in html
    assert f'action="/projects/{pid}/staff-owner"' in html
    assert f'<option value="{colleague.id}">Jérôme Petit</option>' in html
    choices = option_values(html, "staff-owner-staff_owner_id")
    assert str(colleague.id) in choices and str(porteur.id) not in choices

    done = browser.post(
        f"/projects/{pid}/staff-owner",
        data={"csrf_token": csrf(page), "version": str(project["version"]),
              "staff_owner_id": str(colleague.id)},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].endswith("#suivi")
    assert "<strong>Jérôme Petit</strong> suit ce projet" in text_of(
        browser.get(f"/projects/{pid}")
    )

    page = browser.get(f"/projects/{pid}")
    refused = browser.post(
        f"/projects/{pid}/staff-owner",
        data={"csrf_token": csrf(page), "version": str(project["version"] + 1),
              "staff_owner_id": str(porteur.id)},
    )  # fmt: skip
    assert refused.status_code == 422
    assert OWNER_REFUSED in text_of(refused)
    assert owner_of(client, pid)["name"] == "Jérôme Petit"


# --- « Mon projet » ------------------------------------------------------------------------------


def test_mon_projet_names_the_contact_and_who_does_each_missing_item(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, project["id"], porteur)
    browser = session_as(porteur)
    html = plain(text_of(browser.get("/")))
    assert "Votre contact à l'équipe nationale : <strong>Camille Roussel</strong>" in html
    assert (
        'Il manque la pièce « Note de cadrage ». <span class="unmet__who">(à déposer par vous)'
        in html
    )
    assert (
        "Il manque l'attestation « Portage par la collectivité ». "
        '<span class="unmet__who">(enregistré par l\'équipe nationale)'
    ) in html
    assert (
        'engagée du collège « Habitants ». <span class="unmet__who">(enregistré par l\'équipe'
        in html
    )
    # The API says who, for every missing item.
    (action,) = [a for a in browser.get(f"/api/v1/projects/{project['id']}").json()["actions"]
                 if a["action"] == "lancer_faisabilite"]  # fmt: skip
    by = {u["code"]: u["by"] for u in action["unmet"]}
    assert by["document_note_cadrage"] == "porteur"
    assert by["attestation_portage_collectivite"] == "equipe"
    assert by["partie_prenante_habitants"] == "equipe"
    # Staff read who does it too, in the third person.
    staff_page = text_of(client.get(f"/projects/{project['id']}"))
    assert "(à déposer par le porteur de projet)" in staff_page


def test_a_document_given_then_refused_then_given_again(
    client: Any,
    db: Engine,
    client_as: Callable[[User], Any],
    session_as: Callable[[User], TestClient],
) -> None:
    project = create_project(client)
    pid = project["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    browser = session_as(porteur)
    note = upload(client, pid, "note_cadrage", filename="note.pdf")
    html = plain(text_of(browser.get("/")))
    assert "Déposée, en attente de relecture" in html
    assert "a été refusée" not in html

    reason = "La note ne présente pas le quartier Alma-Gare."
    refused = client.post(
        f"/api/v1/documents/{note['id']}/review", json={"status": "rejected", "comment": reason}
    )
    assert refused.status_code == 200, refused.text
    html = plain(text_of(browser.get("/")))
    alert = html.split('<div class="alert alert--error" role="alert" id="refus-')[1].split(
        "</div>"
    )[0]
    assert "La pièce « Note de cadrage » a été refusée" in alert
    assert f"Motif : {reason}" in alert
    assert 'href="#depot">Déposer une nouvelle version</a>' in alert
    # The alert comes first, before « Où en sommes-nous ? ».
    assert html.index("a été refusée") < html.index("Où en sommes-nous ?")
    # The upload form is open, on the refused document's type.
    assert '<details class="more" id="depot" open>' in html
    assert '<option value="note_cadrage" selected>' in html

    upload(client_as(porteur), pid, "note_cadrage", filename="note-v2.pdf")
    html = plain(text_of(browser.get("/")))
    assert "a été refusée" not in html.split("Où en sommes-nous ?")[0]
    assert "Déposée, en attente de relecture" in html

    accepted = client.get(f"/api/v1/projects/{pid}/documents").json()
    current = next(d for d in accepted if not d["superseded_by_id"])
    review = client.post(f"/api/v1/documents/{current['id']}/review", json={"status": "accepted"})
    assert review.status_code == 200, review.text
    html = text_of(browser.get("/"))
    assert "Acceptée" in html


def test_a_porteur_reads_no_internal_fact(
    client: Any,
    db: Engine,
    client_as: Callable[[User], Any],
    session_as: Callable[[User], TestClient],
) -> None:
    project = walk_to(client, create_project(client), "prefiguration")
    pid = project["id"]
    add_stakeholder(client, pid, "collectivite", "Ville de Roubaix")
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    consultant = make_user(db, role="consultant", name="Claire Martin")
    pending = assign(client, pid, consultant.id or 0)
    declare(client_as(consultant), pending["id"], {"Ville de Roubaix": "Ancienne salariée."})

    def consultant_ops(events: list[dict[str, Any]]) -> list[str]:
        return [e["data"].get("op") for e in events if e["kind"] == "consultant"]

    staff_events = client.get(f"/api/v1/projects/{pid}/events").json()
    assert consultant_ops(staff_events) == ["assign", "declare", "refuse"]
    porteur_events = client_as(porteur).get(f"/api/v1/projects/{pid}/events").json()
    assert consultant_ops(porteur_events) == []
    # Everything else stays: creation, transitions, stakeholders, the porteur's own link.
    assert {e["kind"] for e in porteur_events} >= {"creation", "transition", "partie_prenante"}
    assert len(porteur_events) == len(staff_events) - 3

    browser = session_as(porteur)
    for url in ("/", f"/projects/{pid}/history"):
        html = text_of(browser.get(url))
        assert "Claire Martin" not in html and "Ancienne salariée" not in html, url
        assert "Ville de Roubaix" in html, url
    staff_history = text_of(client.get(f"/projects/{pid}/history"))
    assert "Affectation de Claire Martin refusée" in staff_history


# --- search ------------------------------------------------------------------------------------


def test_search_finds_association_porteurs_and_chargé_de_suivi(client: Any, db: Engine) -> None:
    project = create_project(client, name="Régie de l'Alma")
    pid = project["id"]
    create_project(client, name="Régie du Pays de Bray", kind="territoire")

    def found(q: str) -> list[str]:
        response = client.get("/api/v1/projects", params={"q": q})
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["items"]]

    assert found("alma") == ["Régie de l'Alma"]
    assert found("roubaix") == ["Régie de l'Alma"]
    # The association's name, once recorded.
    assert found("horizons") == []
    assert patch(client, pid, {"association_name": "Association Horizons Élan"}).status_code == 200
    assert found("horizons elan") == ["Régie de l'Alma"]
    # A porteur linked to the project, found by their name, and again once renamed; unlinked, gone.
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    link(client, pid, porteur)
    assert found("diallo") == ["Régie de l'Alma"]
    renamed = client.patch(f"/api/v1/users/{porteur.id}", json={"name": "Awa Ndiaye"})
    assert renamed.status_code == 200, renamed.text
    assert found("diallo") == [] and found("ndiaye") == ["Régie de l'Alma"]
    unlinked = client.delete(f"/api/v1/projects/{pid}/members/{porteur.id}")
    assert unlinked.status_code == 204, unlinked.text
    assert found("ndiaye") == []
    # The chargé·e de suivi: the creator, then whoever takes over.
    assert sorted(found("camille roussel")) == ["Régie de l'Alma", "Régie du Pays de Bray"]
    colleague = make_user(db, role="staff", name="Jérôme Petit")
    assert patch(client, pid, {"staff_owner_id": colleague.id}).status_code == 200
    assert found("jerome") == ["Régie de l'Alma"]
    assert found("camille") == ["Régie du Pays de Bray"]


def test_a_too_long_search_is_answered_on_the_list_with_the_filters_kept(client: Any) -> None:
    create_project(client, name="Régie de l'Alma")
    too_long = "régie " * 40  # 240 characters
    response = client.get(
        "/projects", params={"q": too_long, "kind": "quartier", "region": "Hauts-de-France"}
    )
    assert response.status_code == 200
    html = text_of(response)
    assert "<h1>Projets</h1>" in html
    assert "La recherche est limitée à 200 caractères (la vôtre en compte 239)" in html
    assert 'role="alert"' in html
    # What was typed and chosen is still there; the other filters apply.
    assert f'value="{too_long}"' in html
    assert '<option value="quartier" selected>' in html
    assert 'value="Hauts-de-France"' in html
    assert "Régie de l'Alma" in html
    # The API keeps its limit, in French.
    api = client.get("/api/v1/projects", params={"q": too_long})
    assert api.status_code == 422
