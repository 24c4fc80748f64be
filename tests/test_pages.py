"""The server-rendered pages, through the real app: what a staff member sees and submits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import Engine, event

from labelflow.dates import french_date
from labelflow.french import typeset
from tests.conftest import make_user
from tests.factories import (
    PDF,
    YESTERDAY,
    add_stakeholder,
    bureau_members,
    complete_groupe_projet,
    create_project,
    fire,
    hold_meeting,
    upload,
    walk_to,
)


def text_of(response: Any) -> str:
    """The page's HTML with entities decoded, so assertions read like the screen."""
    return unescape(response.text)


def api(client: Any, project_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/projects/{project_id}")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def button(html: str, label: str) -> str:
    """The opening tag of the submit button showing `label`."""
    match = re.search(r"(<button[^>]*>)" + re.escape(label) + r"</button>", html)
    assert match, f"no button {label!r}"
    return match.group(1)


NEW_PROJECT = {
    "name": "Régie des Trois Quartiers",
    "kind": "quartier",
    "communes": "59512 Roubaix\n59599 Tourcoing",
    "region": "Hauts-de-France",
    "departement": "Nord",
    "qpv": "Alma-Gare\nLa Bourgogne",
    "initiator": "habitants",
}


# --- home, list, filters -----------------------------------------------------------------------


def test_home_is_the_dashboard(client: Any) -> None:
    # Counts and links are tested in test_dashboard.py.
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 200
    assert "<h1>Tableau de bord</h1>" in response.text
    assert 'href="/projects"' in response.text


def test_list_shows_projects_and_links_to_json(client: Any) -> None:
    quartier = create_project(client)
    territoire = create_project(client, kind="territoire")
    response = client.get("/projects")
    assert response.status_code == 200
    html = text_of(response)
    assert '<html lang="fr">' in html
    assert quartier["name"] in html and territoire["name"] in html
    assert f'href="/projects/{quartier["id"]}"' in html
    assert "Groupe projet" in html
    assert 'href="/api/v1/projects?limit=25&amp;offset=0"' in response.text
    assert 'href="/projects/new"' in html


def test_list_filters_by_kind_state_region_text_and_overdue(client: Any) -> None:
    quartier = create_project(client)
    territoire = create_project(client, kind="territoire")
    walk_to(client, quartier, "faisabilite")

    def names(query: str) -> set[str]:
        response = client.get("/projects?" + query)
        assert response.status_code == 200
        return {p.name for p in response.context["items"]}

    assert names("kind=territoire") == {territoire["name"]}
    assert names("state=faisabilite") == {quartier["name"]}
    assert names("region=normandie") == {territoire["name"]}
    assert names("q=gournay") == {territoire["name"]}
    assert names("overdue=oui") == set()
    assert names("overdue=non") == {quartier["name"], territoire["name"]}
    assert names("kind=&state=&q=") == {quartier["name"], territoire["name"]}

    response = client.get("/projects?kind=territoire&q=bray")
    # The JSON twin carries the same filters.
    assert "/api/v1/projects?kind=territoire&amp;q=bray&amp;limit=25&amp;offset=0" in response.text
    twin = client.get("/api/v1/projects?kind=territoire&q=bray&limit=25&offset=0").json()
    assert [p["name"] for p in twin["items"]] == [territoire["name"]]


def test_list_paginates(client: Any) -> None:
    for i in range(27):
        create_project(client, name=f"Projet {i:02d}")
    first = client.get("/projects")
    assert len(first.context["items"]) == 25
    assert first.context["pages"] == 2
    assert 'href="/projects?page=2"' in first.text
    second = client.get("/projects?page=2")
    assert [p.name for p in second.context["items"]] == ["Projet 01", "Projet 00"]
    assert "offset=25" in second.context["json_url"]


def test_list_says_when_nothing_matches(client: Any) -> None:
    create_project(client)
    response = client.get("/projects?q=introuvable")
    assert "Aucun projet ne correspond à ces filtres." in text_of(response)


# --- creation form -----------------------------------------------------------------------------


def test_create_project_from_the_form(client: Any) -> None:
    assert client.get("/projects/new").status_code == 200
    response = client.post("/projects", data=NEW_PROJECT, follow_redirects=False)
    assert response.status_code == 303
    match = re.fullmatch(r"/projects/(\d+)", response.headers["location"])
    assert match
    project = api(client, int(match.group(1)))
    assert project["name"] == "Régie des Trois Quartiers"
    assert project["communes"] == [
        {"insee": "59512", "name": "Roubaix"},
        {"insee": "59599", "name": "Tourcoing"},
    ]
    assert project["qpv"] == ["Alma-Gare", "La Bourgogne"]
    assert project["state"] == "groupe_projet"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Régie des Trois Quartiers" in text_of(page)


def test_refused_creation_keeps_values_and_explains_each_field(client: Any) -> None:
    data = {**NEW_PROJECT, "communes": "59512 Roubaix\n5959 Tourcoing", "region": "  "}
    response = client.post("/projects", data=data)
    assert response.status_code == 422
    html = text_of(response)
    assert "Régie des Trois Quartiers" in html  # typed values kept
    assert "59512 Roubaix\n5959 Tourcoing" in html
    assert typeset("Ligne 2 : Le code INSEE doit compter 5 caractères (par exemple 59512).") in html
    assert "Ce champ est obligatoire." in html
    assert re.search(r'id="project-region"[^>]*aria-invalid="true"', html)
    assert client.get("/api/v1/projects").json()["total"] == 0


def test_refused_creation_for_a_commune_line_without_name(client: Any) -> None:
    response = client.post("/projects", data={**NEW_PROJECT, "communes": "59512", "kind": ""})
    assert response.status_code == 422
    html = text_of(response)
    assert typeset("Ligne 1 : indiquez le code INSEE puis le nom de la commune") in html
    assert client.get("/api/v1/projects").json()["total"] == 0


def test_refused_creation_for_missing_kind(client: Any) -> None:
    response = client.post("/projects", data={**NEW_PROJECT, "kind": ""})
    assert response.status_code == 422
    assert "Ce champ est obligatoire." in text_of(response)


# --- the project page --------------------------------------------------------------------------


def test_project_page_shows_checklist_reasons_and_disabled_buttons(client: Any) -> None:
    project = create_project(client)
    add_stakeholder(client, project["id"], "habitants")
    response = client.get(f"/projects/{project['id']}")
    assert response.status_code == 200
    html = text_of(response)
    assert typeset("Il manque une partie prenante engagée du collège « Collectivité ».") in html
    assert typeset("Il manque la pièce « Note de cadrage ».") in html
    assert typeset("Il manque l'attestation « Portage par la collectivité ».") in html
    assert typeset("collège « Habitants »") not in html
    launch = button(html, "Lancer l'étude de faisabilité")
    assert "disabled" in launch
    assert 'aria-describedby="action-lancer_faisabilite-reasons"' in launch
    # Abandon is always possible, with a required comment.
    assert "disabled" not in button(html, "Abandonner le projet")
    assert re.search(r'<textarea id="action-abandonner-comment"[^>]*required', html)
    # The six steps, the current one marked.
    steps = response.context["timeline"]
    assert [s.status for s in steps] == ["current"] + ["future"] * 5
    assert 'aria-current="step"' in html
    # The Paris date, which is not the UTC one between 22:00 or 23:00 UTC and midnight.
    assert "Entrée le " + french_date(steps[0].entered[0]).split()[0] in html
    assert f'href="/api/v1/projects/{project["id"]}"' in html


def test_checklist_says_all_is_ready(client: Any) -> None:
    project = create_project(client)
    complete_groupe_projet(client, project)
    html = text_of(client.get(f"/projects/{project['id']}"))
    assert "Tout est prêt." in html
    assert "disabled" not in button(html, "Lancer l'étude de faisabilité")


def test_transition_from_the_page(client: Any) -> None:
    project = create_project(client)
    complete_groupe_projet(client, project)
    version = api(client, project["id"])["version"]
    response = client.post(
        f"/projects/{project['id']}/transitions",
        data={"action": "lancer_faisabilite", "version": str(version), "confirm": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/projects/{project['id']}?fait=etape#actions"
    assert api(client, project["id"])["state"] == "faisabilite"
    page = client.get(response.headers["location"])
    html = text_of(page)
    assert "Étape 2/6 · Étude de faisabilité" in html
    assert [s.status for s in page.context["timeline"]][:2] == ["done", "current"]
    moved = "Lancer l'étude de faisabilité : de « Groupe projet » à « Étude de faisabilité »."
    assert typeset(moved) in html


def test_transition_with_unmet_criteria_is_refused_beside_its_button(client: Any) -> None:
    project = create_project(client)
    version = api(client, project["id"])["version"]
    response = client.post(
        f"/projects/{project['id']}/transitions",
        data={"action": "lancer_faisabilite", "version": str(version), "confirm": "1"},
    )
    assert response.status_code == 409
    html = text_of(response)
    assert "n'est pas encore possible" in html
    assert "rien n'a été modifié" in html
    assert api(client, project["id"])["state"] == "groupe_projet"


def test_stale_version_is_refused_politely(client: Any) -> None:
    project = create_project(client)
    complete_groupe_projet(client, project)
    stale = project["version"]  # read before the records were added
    response = client.post(
        f"/projects/{project['id']}/transitions",
        data={"action": "lancer_faisabilite", "version": str(stale), "confirm": "1"},
    )
    assert response.status_code == 412
    html = text_of(response)
    assert "Le projet a changé depuis votre lecture" in html
    assert "rechargez-le et réessayez" in html
    current = api(client, project["id"])
    assert current["state"] == "groupe_projet"
    # The page shown again carries the current version: resubmitting works.
    assert f'name="version" value="{current["version"]}"' in html


def test_unreadable_version_is_refused(client: Any) -> None:
    project = create_project(client)
    response = client.post(
        f"/projects/{project['id']}/transitions",
        data={"action": "abandonner", "comment": "x", "version": "abc", "confirm": "1"},
    )
    assert response.status_code == 412
    assert api(client, project["id"])["state"] == "groupe_projet"


def test_comment_required_and_closed_project(client: Any) -> None:
    project = create_project(client)
    url = f"/projects/{project['id']}/transitions"
    refused = client.post(url, data={"action": "abandonner", "comment": "  ", "confirm": "1"})
    assert refused.status_code == 422
    assert typeset("Un commentaire est requis pour l'action « Abandonner le projet ».") in text_of(
        refused
    )
    done = client.post(
        url,
        data={"action": "abandonner", "comment": "Les élus ont renoncé.", "confirm": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    html = text_of(client.get(f"/projects/{project['id']}"))
    assert "Ce projet est clos" in html
    assert "Projet abandonné" in html
    assert "Les élus ont renoncé." in html
    assert 'action="/projects/' + str(project["id"]) + '/stakeholders"' not in html


# --- records ---------------------------------------------------------------------------------


def test_upload_document_from_the_page(client: Any, docs_dir: Any) -> None:
    project = create_project(client)
    response = client.post(
        f"/projects/{project['id']}/documents",
        data={"type": "note_cadrage", "version": str(project["version"])},
        files={"file": ("note de cadrage.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("#pieces")
    docs = client.get(f"/api/v1/projects/{project['id']}/documents").json()
    assert [(d["type"], d["filename"]) for d in docs] == [("note_cadrage", "note de cadrage.pdf")]
    html = text_of(client.get(f"/projects/{project['id']}"))
    assert f'href="/api/v1/documents/{docs[0]["id"]}/content"' in html
    assert "Déposée, en attente de relecture" in html
    assert typeset("Il manque la pièce « Note de cadrage ».") not in html


def test_refused_uploads_say_why(client: Any) -> None:
    project = create_project(client)
    url = f"/projects/{project['id']}/documents"
    unknown = client.post(
        url, data={"type": "inconnu"}, files={"file": ("a.pdf", PDF, "application/pdf")}
    )
    assert unknown.status_code == 422
    assert typeset("Type de pièce inconnu « inconnu »") in text_of(unknown)
    missing = client.post(
        url, data={"type": "note_cadrage"}, files={"file": ("", b"", "application/octet-stream")}
    )
    assert missing.status_code == 422
    assert "Choisissez le fichier à déposer." in text_of(missing)
    binary = client.post(
        url,
        data={"type": "note_cadrage"},
        files={"file": ("a.exe", b"MZ\x00\x01\x02", "application/pdf")},
    )
    assert binary.status_code == 415
    assert "Ce type de fichier n'est pas accepté" in text_of(binary)
    assert client.get(f"/api/v1/projects/{project['id']}/documents").json() == []


def test_review_a_document_from_the_page(client: Any) -> None:
    project = create_project(client)
    doc = upload(client, project["id"], "note_cadrage")
    url = f"/documents/{doc['id']}/review"
    refused = client.post(url, data={"status": "rejected", "comment": ""})
    assert refused.status_code == 422
    assert "Indiquez pourquoi la pièce est refusée." in text_of(refused)
    done = client.post(
        url, data={"status": "rejected", "comment": "Illisible."}, follow_redirects=False
    )
    assert done.status_code == 303
    assert (
        done.headers["location"] == f"/projects/{project['id']}?fait=piece_revue#piece-{doc['id']}"
    )
    html = text_of(client.get(f"/projects/{project['id']}"))
    assert "Illisible." in html
    assert typeset("La pièce « Note de cadrage » a été refusée") in html


def test_record_forms_and_their_refusals(client: Any, db: Engine) -> None:
    project = create_project(client)
    pid = project["id"]
    claire = make_user(
        db, role="consultant", name="Claire Martin", email="Claire.Martin@example.org"
    )
    refused = client.post(
        f"/projects/{pid}/stakeholders",
        data={"name": "Ville de Roubaix", "college": "", "contact": "Mme Durand"},
    )
    assert refused.status_code == 422
    html = text_of(refused)
    assert 'value="Ville de Roubaix"' in html and 'value="Mme Durand"' in html
    assert "Ce champ est obligatoire." in html

    for data, url in [
        (
            {"name": "Ville de Roubaix", "college": "collectivite", "engaged_on": YESTERDAY},
            "stakeholders",
        ),
        ({"name": "Mme Amrani", "college": "habitants", "is_president": "on"}, "board-members"),
        (
            {"code": "portage_collectivite", "date": YESTERDAY, "comment": "Vu en conseil."},
            "attestations",
        ),
    ]:
        response = client.post(f"/projects/{pid}/{url}", data=data, follow_redirects=False)
        assert response.status_code == 303, (url, response.text)

    html = text_of(client.get(f"/projects/{pid}"))
    assert "Ville de Roubaix" in html
    assert typeset("1 membre dont 1 habitant ; présidence : Mme Amrani (Habitants).") in html
    assert "Vu en conseil." in html
    # A consultant is designated from the préfiguration step on, not before.
    assert "Un·e consultant·e se désigne aux étapes" in html
    early = client.post(f"/projects/{pid}/consultant", data={"user_id": str(claire.id)})
    assert early.status_code == 409
    assert "Un·e consultant·e ne peut être désigné·e qu'aux étapes" in text_of(early)
    assert typeset("Il manque l'attestation « Portage par la collectivité ».") not in html

    stakeholder = client.get(f"/api/v1/projects/{pid}/stakeholders").json()[0]
    removed = client.post(
        f"/projects/{pid}/stakeholders/{stakeholder['id']}/delete",
        data={"confirm": "1"},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert client.get(f"/api/v1/projects/{pid}/stakeholders").json() == []


def test_future_attestation_is_refused_beside_its_field(client: Any) -> None:
    project = create_project(client)
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    response = client.post(
        f"/projects/{project['id']}/attestations",
        data={"code": "convention_amo", "date": tomorrow, "comment": "Signée."},
    )
    assert response.status_code == 422
    html = text_of(response)
    assert re.search(r'id="attestation-date-error">La date d\'une attestation ne peut pas', html)
    assert "Signée." in html


def test_edit_project_fields(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    base = {
        "name": project["name"],
        "communes": "59512 Roubaix",
        "region": "Hauts-de-France",
        "departement": "Nord",
        "qpv": "Alma-Gare",
    }
    refused = client.post(f"/projects/{pid}/edit", data={**base, "rna_number": "123"})
    assert refused.status_code == 422
    html = text_of(refused)
    assert "Le numéro RNA doit être la lettre W suivie de 9 chiffres." in html
    assert 'value="123"' in html
    assert api(client, pid)["rna_number"] is None

    done = client.post(
        f"/projects/{pid}/edit",
        follow_redirects=False,
        data={
            **base,
            "association_name": "Régie de l'Alma",
            "rna_number": "w595012345",
            "charge_mission_recruited_on": YESTERDAY,
        },
    )
    assert done.status_code == 303
    stored = api(client, pid)
    assert stored["rna_number"] == "W595012345"
    assert stored["association_name"] == "Régie de l'Alma"
    assert stored["charge_mission_recruited_on"] == YESTERDAY
    assert typeset("Champs modifiés : nom de l'association, numéro RNA") in text_of(
        client.get(f"/projects/{pid}")
    )


def test_a_refused_post_changes_nothing(client: Any) -> None:
    # The deadline service bumps the version before finding the deadline missing.
    project = create_project(client)
    before = api(client, project["id"])["version"]
    response = client.post(
        f"/projects/{project['id']}/deadlines/999999",
        data={"due_on": "2030-01-01", "reason": "Report."},
    )
    assert response.status_code == 404
    assert "Échéance introuvable." in text_of(response)
    assert api(client, project["id"])["version"] == before


def test_move_a_deadline(client: Any) -> None:
    project = create_project(client)
    deadline = next(d for d in api(client, project["id"])["deadlines"] if d["kind"] == "etape")
    new_date = (date.fromisoformat(deadline["due_on"]) + timedelta(days=30)).isoformat()
    refused = client.post(
        f"/projects/{project['id']}/deadlines/{deadline['id']}",
        data={"due_on": new_date, "reason": ""},
    )
    assert refused.status_code == 422
    assert "Ce champ est obligatoire." in text_of(refused)
    done = client.post(
        f"/projects/{project['id']}/deadlines/{deadline['id']}",
        data={"due_on": new_date, "reason": "Élections municipales."},
        follow_redirects=False,
    )
    assert done.status_code == 303
    html = text_of(client.get(f"/projects/{project['id']}"))
    assert "Élections municipales." in html
    assert "Échéance déplacée" in html


def test_suspend_and_resume(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    refused = client.post(f"/projects/{pid}/suspend", data={"comment": ""})
    assert refused.status_code == 422
    assert "Indiquez la raison de la suspension." in text_of(refused)
    assert (
        client.post(
            f"/projects/{pid}/suspend",
            data={"comment": "Attente du budget."},
            follow_redirects=False,
        ).status_code
        == 303
    )
    html = text_of(client.get(f"/projects/{pid}"))
    assert typeset("Le projet est suspendu : reprenez-le pour agir.") in html
    assert "disabled" in button(html, "Abandonner le projet")
    assert (
        client.post(f"/projects/{pid}/resume", data={}, follow_redirects=False).status_code == 303
    )
    assert api(client, pid)["suspended"] is False


def test_bureau_decision_and_label_from_the_page(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    html = text_of(client.get(f"/projects/{pid}"))
    # No meeting yet: the form says to record one first.
    assert "enregistrez d'abord la réunion" in html
    members = bureau_members(client)
    meeting = hold_meeting(client)
    html = text_of(client.get(f"/projects/{pid}"))
    assert f'action="/projects/{pid}/decisions"' in html
    assert f'<option value="{meeting["id"]}"' in html
    # One vote select per member of the Bureau.
    assert html.count('name="votes"') == len(members)
    votes = [f"{u['id']}:pour" for u in members]
    refused = client.post(
        f"/projects/{pid}/decisions",
        data={"meeting_id": str(meeting["id"]), "outcome": "refus", "votes": votes},
    )
    assert refused.status_code == 422
    assert "La motivation est requise" in text_of(refused)
    contradicts = client.post(
        f"/projects/{pid}/decisions",
        data={
            "meeting_id": str(meeting["id"]),
            "outcome": "refus",
            "motivation": "Non.",
            "votes": votes,
        },
    )
    assert contradicts.status_code == 422
    page = text_of(contradicts)
    assert "contredit le vote (3 pour, 0 contre, 0 abstention)" in page
    # The votes typed are shown again.
    assert page.count("selected>Pour</option>") == len(members)
    assert (
        client.post(
            f"/projects/{pid}/decisions",
            follow_redirects=False,
            data={"meeting_id": str(meeting["id"]), "outcome": "attribution", "votes": votes},
        ).status_code
        == 303
    )
    done = client.post(
        f"/projects/{pid}/transitions",
        data={"action": "attribuer_label", "confirm": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(f"/projects/{pid}")
    assert all(s.status == "done" for s in page.context["timeline"])
    assert "Labellisée" in text_of(page)
    assert "Label n° RQ-" in text_of(page)


# --- workflows, errors, twins, page hygiene ---------------------------------------------------


def test_workflow_pages(client: Any) -> None:
    listing = client.get("/workflows")
    assert listing.status_code == 200
    assert 'href="/workflows/regie-de-quartier"' in listing.text
    response = client.get("/workflows/regie-de-territoire")
    assert response.status_code == 200
    html = text_of(response)
    assert (
        typeset(
            "Parties prenantes engagées des collèges : Habitants, Collectivité, "
            "Partenaire socio-économique"
        )
        in html
    )
    assert "stateDiagram-v2" in html
    assert '<pre class="mermaid"' in html
    assert '<script src="/static/vendor/mermaid.min.js"></script>' in html
    # The territoire's own document type, in its criterion and in the list of types (with its
    # key); the quartier's bailleur does not appear.
    assert (
        typeset("Pièce « Engagement des partenaires socio-économiques » déposée et non refusée")
        in html
    )
    assert "engagement_partenaires" in html
    assert "bailleur" not in html.lower()
    assert client.get("/static/vendor/mermaid.min.js").status_code == 200
    assert client.get("/static/diagram.js").status_code == 200


def test_error_pages_are_french_html(client: Any) -> None:
    for url in ("/projects/999999", "/workflows/inconnu", "/nulle-part"):
        response = client.get(url, headers={"accept": "text/html"})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Page introuvable" in text_of(response)


@pytest.mark.parametrize(
    "path, twin",
    [
        ("/projects", "/api/v1/projects?"),
        ("/projects/{id}", "/api/v1/projects/{id}"),
        ("/workflows", "/api/v1/workflows"),
        ("/workflows/regie-de-quartier", "/api/v1/workflows/regie-de-quartier"),
    ],
)
def test_each_page_links_to_its_json_twin(client: Any, path: str, twin: str) -> None:
    project = create_project(client)
    response = client.get(path.format(id=project["id"]))
    assert response.status_code == 200
    assert f'href="{twin.format(id=project["id"])}' in response.text


def test_pages_have_no_inline_script_or_style(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    for url in (
        "/projects",
        "/projects/new",
        f"/projects/{project['id']}",
        "/workflows",
        "/workflows/regie-de-quartier",
        "/projects/999999",
    ):
        html = client.get(url).text
        assert " style=" not in html, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        # Every input, select and textarea has a label.
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
        labels = set(re.findall(r'<label for="([^"]+)"', html))
        assert ids <= labels, (url, ids - labels)


def test_html_routes_stay_out_of_the_openapi_schema(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/projects/new" not in paths
    assert all(p.startswith("/api/") or p == "/healthz" for p in paths)


@contextmanager
def count_statements(db: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db, "before_cursor_execute", before)


def test_project_page_statements_do_not_grow_with_rows(client: Any, db: Engine) -> None:
    small = create_project(client)
    big = create_project(client)
    complete_groupe_projet(client, big)
    for i in range(8):
        upload(client, big["id"], "autre", content=PDF + str(i).encode(), filename=f"p{i}.pdf")
        add_stakeholder(client, big["id"], "partenaire", name=f"Partenaire {i}")
    fire(client, big["id"], "lancer_faisabilite")
    with count_statements(db) as few:
        assert client.get(f"/projects/{small['id']}").status_code == 200
    with count_statements(db) as many:
        assert client.get(f"/projects/{big['id']}").status_code == 200
    assert len(many) == len(few)


def test_project_page_shows_the_latest_history_and_links_to_the_whole(client: Any) -> None:
    project = create_project(client)
    for i in range(35):
        add_stakeholder(client, project["id"], "habitants", name=f"Collectif n°{i}")
    page = unescape(client.get(f"/projects/{project['id']}").text)
    assert typeset("Collectif n°34 »") in page  # the newest facts are shown
    assert typeset("Collectif n°0 »") not in page  # the oldest are on the history page
    assert "Les 30 faits les plus récents" in page
    assert f'href="/projects/{project["id"]}/history"' in page

    whole = client.get(f"/projects/{project['id']}/history")
    assert whole.status_code == 200
    text = unescape(whole.text)
    assert "36 faits" in text
    assert typeset("Collectif n°0 »") in text and typeset("Collectif n°34 »") in text
    assert text.index("Création du projet") < text.index(typeset("Collectif n°34 »"))
    assert f'href="/api/v1/projects/{project["id"]}/events"' in whole.text
