"""Error semantics: the right status, one French error shape, and nothing changed."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest

from labelflow.french import typeset
from tests.factories import (
    PDF,
    QUARTIER,
    add_stakeholder,
    complete_faisabilite,
    create_project,
    create_user,
    decide,
    fire,
    hold_meeting,
    snapshot,
    today,
    walk_to,
)

TOMORROW = (date.today() + timedelta(days=2)).isoformat()
HUGE_ID = "99999999999999999999"


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


def _unchanged(client: Any, pid: int, before: Any) -> None:
    assert snapshot(client, pid) == before


def test_transition_errors_change_nothing(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    url = f"/api/v1/projects/{pid}/transitions"
    before = snapshot(client, pid)

    error = _error(client.post(url, json={"action": "attribuer_label"}), 409, "action_impossible")
    assert "Attribuer le label" in error["message"] and "Groupe projet" in error["message"]
    error = _error(
        client.post(url, json={"action": "lancer_faisabilite"}), 409, "criteres_non_remplis"
    )
    assert len(error["unmet"]) == 6
    error = _error(client.post(url, json={"action": "abandonner"}), 422, "commentaire_requis")
    assert error["fields"][0]["field"] == "comment"
    _error(
        client.post(url, json={"action": "abandonner", "comment": " \n "}),
        422,
        "commentaire_requis",
    )
    error = _error(client.post(url, json={"action": "decoller"}), 422, "requete_invalide")
    assert error["fields"][0]["field"] == "action"
    assert "decoller" in error["message"]
    error = _error(client.post(url, json={}), 422, "requete_invalide")
    assert error["fields"] == [{"field": "action", "message": "Ce champ est obligatoire."}]
    error = _error(
        client.post(url, json={"action": "abandonner", "comment": "x", "extra": 1}),
        422,
        "requete_invalide",
    )
    assert error["fields"] == [{"field": "extra", "message": "Ce champ n'est pas reconnu."}]
    _error(
        client.post(url, content=b'{"action": ', headers={"content-type": "application/json"}),
        422,
        "requete_invalide",
    )
    _error(client.post(url, json=["abandonner"]), 422, "requete_invalide")
    _unchanged(client, pid, before)


def test_if_match(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    add_stakeholder(client, pid, "habitants")  # version 2
    url = f"/api/v1/projects/{pid}/transitions"
    body = {"action": "abandonner", "comment": "Fin"}
    before = snapshot(client, pid)
    assert before[0]["version"] == 2
    for stale in ("1", '"1"', 'W/"1"', "3"):
        error = _error(
            client.post(url, json=body, headers={"If-Match": stale}), 412, "version_perimee"
        )
        assert "rechargez" in error["message"]
    for malformed in ("abc", '"2', "2, 3", "-2", "9" * 30):
        _error(client.post(url, json=body, headers={"If-Match": malformed}), 412)
    # Stale If-Match on the record endpoints and PATCH too.
    response = client.patch(
        f"/api/v1/projects/{pid}", json={"name": "Autre nom"}, headers={"If-Match": "1"}
    )
    _error(response, 412)
    response = client.post(
        f"/api/v1/projects/{pid}/stakeholders",
        json={"name": "X", "college": "habitants"},
        headers={"If-Match": "1"},
    )
    _error(response, 412)
    response = client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "autre"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
        headers={"If-Match": "1"},
    )
    _error(response, 412)
    _unchanged(client, pid, before)

    response = client.post(url, json=body, headers={"If-Match": '"2"'})
    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"' and response.json()["version"] == 3


def test_etag_follows_version(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    response = client.get(f"/api/v1/projects/{pid}")
    assert response.headers["ETag"] == '"1"'
    response = client.patch(
        f"/api/v1/projects/{pid}", json={"association_name": "Asso"}, headers={"If-Match": "1"}
    )
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'
    # Same value again: nothing changes, version neither.
    response = client.patch(f"/api/v1/projects/{pid}", json={"association_name": "Asso"})
    assert response.headers["ETag"] == '"2"'
    response = client.post(
        f"/api/v1/projects/{pid}/stakeholders",
        json={"name": "Amicale", "college": "habitants"},
        headers={"If-Match": "2"},
    )
    assert response.status_code == 201 and response.headers["ETag"] == '"3"'
    sid = response.json()["id"]
    response = client.delete(f"/api/v1/projects/{pid}/stakeholders/{sid}")
    assert response.status_code == 204 and response.headers["ETag"] == '"4"'
    document = client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "autre"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
    )
    assert document.headers["ETag"] == '"5"'
    response = client.get(f"/api/v1/projects/{pid}")
    assert response.headers["ETag"] == '"5"' and response.json()["version"] == 5


def test_suspended_project_accepts_no_action(client: Any) -> None:
    project = walk_to(client, create_project(client), "faisabilite")
    pid = project["id"]
    url = f"/api/v1/projects/{pid}/transitions"
    _error(client.post(f"/api/v1/projects/{pid}/suspend", json={}), 422, "commentaire_requis")
    response = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections"})
    assert response.status_code == 200
    before = snapshot(client, pid)
    for action in ("soumettre_validation", "abandonner", "attribuer_label"):
        _error(client.post(url, json={"action": action, "comment": "x"}), 409, "projet_suspendu")
    _error(client.post(url, json={"action": "nimporte"}), 422)
    _unchanged(client, pid, before)
    assert client.post(f"/api/v1/projects/{pid}/resume", json={}).status_code == 200
    assert fire(client, pid, "abandonner", "Fin")["state"] == "abandonnee"
    _error(client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "x"}), 409)


def test_unknown_resources_are_404(client: Any) -> None:
    project = create_project(client)
    other = create_project(client, name="Autre")
    pid = project["id"]
    stakeholder = add_stakeholder(client, other["id"], "habitants")
    before = snapshot(client, pid)
    probes = [
        ("get", "/api/v1/projects/424242", None),
        ("get", "/api/v1/projects/424242/events", None),
        ("patch", "/api/v1/projects/424242", {"name": "x"}),
        ("post", "/api/v1/projects/424242/transitions", {"action": "abandonner"}),
        ("delete", f"/api/v1/projects/{pid}/stakeholders/{stakeholder['id']}", None),
        ("delete", f"/api/v1/projects/{pid}/stakeholders/424242", None),
        ("delete", f"/api/v1/projects/{pid}/board-members/424242", None),
        ("patch", f"/api/v1/projects/{pid}/deadlines/424242", {"due_on": today(), "reason": "x"}),
        (
            "patch",
            f"/api/v1/projects/{pid}/deadlines/{other['deadlines'][0]['id']}",
            {"due_on": today(), "reason": "x"},
        ),
        ("get", "/api/v1/documents/424242/content", None),
        ("post", "/api/v1/documents/424242/review", {"status": "accepted"}),
        ("get", "/api/v1/workflows/regie-de-lune", None),
        ("get", "/api/v1/workflows/regie-de-quartier?version=99", None),
        ("get", "/api/v1/nulle-part", None),
    ]
    for method, path, body in probes:
        kwargs = {"json": body} if body is not None else {}
        response = client.request(method.upper(), path, **kwargs)
        _error(response, 404, "introuvable")
    _unchanged(client, pid, before)
    assert len(client.get(f"/api/v1/projects/{other['id']}/stakeholders").json()) == 1


@pytest.mark.parametrize("bad_id", [HUGE_ID, "0", "-1", "abc", "1.5", str(2**31), str(2**63)])
def test_ids_out_of_range(client: Any, bad_id: str) -> None:
    """An id that no row can have (not a positive 32-bit integer) is refused before any lookup:
    422 naming the parameter, never a 404 that would hide the typo, never a 500."""
    project = create_project(client)
    pid = project["id"]
    add_stakeholder(client, pid, "habitants")
    before = snapshot(client, pid)
    paths = [
        ("GET", f"/api/v1/projects/{bad_id}", "project_id"),
        ("GET", f"/api/v1/projects/{bad_id}/events", "project_id"),
        ("DELETE", f"/api/v1/projects/{pid}/stakeholders/{bad_id}", "stakeholder_id"),
        ("DELETE", f"/api/v1/projects/{pid}/board-members/{bad_id}", "member_id"),
        ("GET", f"/api/v1/documents/{bad_id}/content", "document_id"),
    ]
    if bad_id != "0":  # offset=0 is the first page
        paths.append(("GET", f"/api/v1/projects?offset={bad_id}", "offset"))
    for method, path, field in paths:
        error = _error(client.request(method, path), 422, "requete_invalide")
        assert [f["field"] for f in error["fields"]] == [field], (path, error)
    response = client.patch(
        f"/api/v1/projects/{pid}/deadlines/{bad_id}", json={"due_on": today(), "reason": "x"}
    )
    error = _error(response, 422, "requete_invalide")
    assert [f["field"] for f in error["fields"]] == ["deadline_id"]
    _unchanged(client, pid, before)


def test_create_validation_in_french(client: Any) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"communes": [{"insee": "5951", "name": "Roubaix"}]},
            "communes.0.insee",
            "Le code INSEE doit compter 5 caractères (par exemple 59512).",
        ),
        ({"communes": []}, "communes", "Cette liste ne peut pas être vide."),
        ({"kind": "village"}, "kind", ""),
        ({"initiator": "prefet"}, "initiator", ""),
        ({"name": "   "}, "name", "Ce champ ne peut pas être vide."),
        ({"region": None}, "region", ""),
        ({"qpv": "Alma"}, "qpv", "Une liste est attendue."),
        ({"name": "x" * 201}, "name", "Ce champ ne doit pas dépasser 200 caractères."),
    ]
    for override, field, message in cases:
        body = {**QUARTIER, **override}
        error = _error(client.post("/api/v1/projects", json=body), 422, "requete_invalide")
        fields = {f["field"]: f["message"] for f in error["fields"]}
        assert field in fields, (override, error)
        if message:
            assert fields[field] == message
        assert error["message"] == "Certaines valeurs sont manquantes ou invalides."
    error = _error(client.post("/api/v1/projects", json={}), 422)
    assert {f["field"] for f in error["fields"]} == {
        "name",
        "kind",
        "communes",
        "region",
        "initiator",
    }
    assert all(f["message"] == "Ce champ est obligatoire." for f in error["fields"])
    error = _error(client.post("/api/v1/projects", json={**QUARTIER, "kind": "village"}), 422)
    assert error["fields"][0]["message"] == typeset(
        "Valeur non reconnue. Choisissez parmi : Régie de Quartier, Régie de Territoire."
    )
    _error(
        client.post(
            "/api/v1/projects", content=b"{nope", headers={"content-type": "application/json"}
        ),
        422,
    )
    assert client.get("/api/v1/projects").json()["total"] == 0


def test_corsican_insee_and_several_communes(client: Any) -> None:
    project = create_project(
        client,
        communes=[{"insee": "2A004", "name": "Ajaccio"}, {"insee": "2B033", "name": "Bastia"}],
    )
    assert [c["insee"] for c in project["communes"]] == ["2A004", "2B033"]


def test_patch_refuses_invalid_values_and_stores_nothing(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"rna_number": "X12"}, "rna_number"),
        ({"rna_number": "W12345678"}, "rna_number"),
        ({"charge_mission_recruited_on": TOMORROW}, "charge_mission_recruited_on"),
        ({"association_created_on": TOMORROW}, "association_created_on"),
        ({"charge_mission_recruited_on": "31/02/2026"}, "charge_mission_recruited_on"),
        ({"charge_mission_recruited_on": "22026-01-01"}, "charge_mission_recruited_on"),
        ({"charge_mission_recruited_on": "22 novembre"}, "charge_mission_recruited_on"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"region": None}, "region"),
        ({"communes": []}, "communes"),
        ({"communes": None}, "communes"),
        ({"communes": [{"insee": "ABCDE", "name": "X"}]}, "communes.0.insee"),
        ({"state": "labellisee"}, "state"),
        ({"version": 7}, "version"),
        ({"label_number": "RQ-1"}, "label_number"),
    ]
    for body, field in cases:
        error = _error(client.patch(f"/api/v1/projects/{pid}", json=body), 422)
        assert field in {f["field"] for f in error["fields"]}, (body, error)
    error = _error(client.patch(f"/api/v1/projects/{pid}", json={"rna_number": "X12"}), 422)
    assert error["fields"] == [
        {
            "field": "rna_number",
            "message": "Le numéro RNA doit être la lettre W suivie de 9 chiffres.",
        }
    ]
    _unchanged(client, pid, before)
    response = client.patch(f"/api/v1/projects/{pid}", json={"rna_number": " w123456789 "})
    assert response.status_code == 200 and response.json()["rna_number"] == "W123456789"
    response = client.patch(f"/api/v1/projects/{pid}", json={"qpv": None, "departement": None})
    assert response.status_code == 200, response.text
    assert response.json()["qpv"] == [] and response.json()["departement"] is None


def test_record_validation(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("stakeholders", {"name": "X", "college": "elus"}, "college"),
        ("stakeholders", {"name": "", "college": "habitants"}, "name"),
        ("stakeholders", {"name": "X", "college": "habitants", "engaged_on": "hier"}, "engaged_on"),
        (
            "board-members",
            {"name": "X", "college": "habitants", "is_president": "peut-être"},
            "is_president",
        ),
        ("attestations", {"code": "visite_regie", "date": TOMORROW, "comment": "x"}, "date"),
        ("attestations", {"code": "visite_lune", "date": today(), "comment": "x"}, "code"),
        ("attestations", {"code": "visite_regie", "date": today(), "comment": " "}, "comment"),
        ("attestations", {"code": "visite_regie", "date": today()}, "comment"),
    ]
    for sub, body, field in cases:
        error = _error(client.post(f"/api/v1/projects/{pid}/{sub}", json=body), 422)
        assert field in {f["field"] for f in error["fields"]}, (sub, body, error)
        assert all(f["message"] for f in error["fields"])
    # The consultant is an account: a malformed id, a missing one, or an account of another role.
    url = f"/api/v1/projects/{pid}/consultant"
    error = _error(client.put(url, json={"user_id": "claire"}), 422)
    assert error["fields"] == [{"field": "user_id", "message": "Un nombre entier est attendu."}]
    error = _error(client.put(url, json={"name": "Claire", "email": "claire@example.org"}), 422)
    assert "user_id" in {f["field"] for f in error["fields"]}
    porteur = create_user(client, "porteur")
    error = _error(client.put(url, json={"user_id": porteur["id"]}), 422)
    assert error["fields"] == [
        {"field": "user_id", "message": "Choisissez un compte de consultant·e actif."}
    ]
    # A decision outside the Bureau step is refused.
    meeting = hold_meeting(client)
    response = client.post(
        f"/api/v1/projects/{pid}/decisions",
        json={"meeting_id": meeting["id"], "outcome": "attribution"},
    )
    _error(response, 409)
    response = client.post(
        f"/api/v1/projects/{pid}/decisions", json={"meeting_id": meeting["id"], "outcome": "bof"}
    )
    _error(response, 422)
    _unchanged(client, pid, before)


def test_unknown_document_type(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    # A quartier has no engagement_partenaires; nobody has a "photo_de_classe".
    for doc_type in ("engagement_partenaires", "photo_de_classe", ""):
        response = client.post(
            f"/api/v1/projects/{pid}/documents",
            data={"type": doc_type},
            files={"file": ("a.pdf", PDF, "application/pdf")},
        )
        error = _error(response, 422)
        assert error["fields"][0]["field"] == "type"
    response = client.post(
        f"/api/v1/projects/{pid}/documents", files={"file": ("a.pdf", PDF, "application/pdf")}
    )
    assert _error(response, 422)["fields"][0] == {
        "field": "type",
        "message": "Ce champ est obligatoire.",
    }
    response = client.post(f"/api/v1/projects/{pid}/documents", data={"type": "autre"})
    assert _error(response, 422)["fields"][0]["field"] == "file"
    _unchanged(client, pid, before)


def test_closed_project_refuses_records(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    decide(client, pid, "attribution")
    fire(client, pid, "attribuer_label")
    board = client.get(f"/api/v1/projects/{pid}/board-members").json()
    stakeholders = client.get(f"/api/v1/projects/{pid}/stakeholders").json()
    documents = client.get(f"/api/v1/projects/{pid}/documents").json()
    deadline = client.get(f"/api/v1/projects/{pid}").json()["deadlines"][0]
    consultant = create_user(client, "consultant")
    before = snapshot(client, pid)
    writes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "stakeholders", {"name": "X", "college": "habitants"}),
        ("DELETE", f"stakeholders/{stakeholders[0]['id']}", None),
        ("POST", "board-members", {"name": "X", "college": "habitants"}),
        ("DELETE", f"board-members/{board[0]['id']}", None),
        ("POST", "attestations", {"code": "visite_regie", "date": today(), "comment": "x"}),
        ("PUT", "consultant", {"user_id": consultant["id"]}),
        ("POST", "decisions", {"meeting_id": hold_meeting(client)["id"], "outcome": "refus"}),
        ("PATCH", f"deadlines/{deadline['id']}", {"due_on": today(), "reason": "x"}),
        ("POST", "suspend", {"comment": "x"}),
        ("POST", "transitions", {"action": "abandonner", "comment": "x"}),
    ]
    for method, sub, body in writes:
        response = client.request(method, f"/api/v1/projects/{pid}/{sub}", json=body)
        _error(response, 409)
    response = client.patch(f"/api/v1/projects/{pid}", json={"name": "Renommée"})
    _error(response, 409)
    response = client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "autre"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
    )
    _error(response, 409)
    response = client.post(
        f"/api/v1/documents/{documents[0]['id']}/review", json={"status": "accepted"}
    )
    _error(response, 409)
    _unchanged(client, pid, before)


def test_list_filters(client: Any) -> None:
    a = create_project(
        client,
        name="Régie d'Épinay",
        communes=[{"insee": "93031", "name": "Épinay-sur-Seine"}],
        region="Île-de-France",
    )
    b = create_project(client, kind="territoire")
    walk_to(client, b, "faisabilite")

    def ids(**params: Any) -> list[int]:
        response = client.get("/api/v1/projects", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids() == [b["id"], a["id"]]
    assert ids(kind="quartier") == [a["id"]]
    assert ids(state="faisabilite") == [b["id"]]
    assert ids(region="île-de-france") == [a["id"]]
    assert ids(q="epinay") == [a["id"]]
    assert ids(q="93031") == [a["id"]]
    assert ids(q="gournay") == [b["id"]]
    assert ids(q="%") == [] and ids(q="_") == []
    assert ids(limit=1, offset=1) == [a["id"]]
    listing = client.get("/api/v1/projects", params={"limit": 1}).json()
    assert (listing["total"], listing["limit"], listing["offset"]) == (2, 1, 0)
    for params in ({"limit": 0}, {"limit": 500}, {"offset": -1}, {"overdue": "peut-être"}):
        _error(client.get("/api/v1/projects", params=params), 422)


def test_control_characters_are_refused_not_500(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    raw = json.dumps({**QUARTIER, "name": "Régie\u0000"}).encode()
    response = client.post(
        "/api/v1/projects", content=raw, headers={"content-type": "application/json"}
    )
    _error(response, 422)
    response = client.post(
        "/api/v1/projects",
        content=b'{"name": "\\ud800", "kind": "quartier"}',
        headers={"content-type": "application/json"},
    )
    _error(response, 422)
    for path, body in [
        (f"/api/v1/projects/{pid}/stakeholders", {"name": "a\u0000", "college": "habitants"}),
        (
            f"/api/v1/projects/{pid}/stakeholders",
            {"name": "a", "college": "habitants", "contact": "\u0000"},
        ),
        (f"/api/v1/projects/{pid}/transitions", {"action": "abandonner", "comment": "\u0000"}),
    ]:
        _error(client.post(path, json=body), 422)
    # A NUL in a filter is dropped (PostgreSQL cannot compare it): the listing is the one
    # without it, so `q=a\0` searches "a" and a filter reduced to nothing filters nothing.
    create_project(client, kind="territoire")
    for name, value, same_as in [
        ("q", "a\u0000", "a"),
        ("q", "zz\u0000z", "zzz"),
        ("state", "\u0000", ""),
        ("region", "\u0000", ""),
        ("kind", "\u0000", ""),
        ("kind", "territoire\u0000", "territoire"),
    ]:
        response = client.get("/api/v1/projects", params={name: value})
        assert response.status_code == 200, (name, response.text)
        expected = client.get("/api/v1/projects", params={name: same_as}).json()
        assert response.json() == expected, (name, value)
    assert client.get("/api/v1/projects", params={"q": "a\u0000"}).json()["total"] == 2
    assert client.get("/api/v1/projects", params={"kind": "territoire\u0000"}).json()["total"] == 1
    _unchanged(client, pid, before)


def test_method_not_allowed_is_french_json(client: Any) -> None:
    response = client.put("/api/v1/projects")
    error = _error(response, 405, "methode_non_permise")
    assert "méthode" in error["message"]


def test_openapi_lists_only_the_api(client: Any) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/healthz" in paths and "/api/v1/projects" in paths
    assert all(p.startswith("/api/v1/") or p == "/healthz" for p in paths), sorted(paths)
    assert client.get("/docs").status_code == 200


def test_openapi_documents_refusals_as_the_api_answers_them(client: Any) -> None:
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error = document["components"]["schemas"]["Error"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            default = operation["responses"]["default"]["content"]["application/json"]
            assert default["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path)
    refused = client.post("/api/v1/projects", json={"name": ""}).json()["error"]
    assert set(error["properties"]["error"]["required"]) <= set(refused)
    assert {f["field"] for f in refused["fields"]} >= {"name"}


def test_openapi_links_lead_from_a_project_to_its_operations(client: Any) -> None:
    """Each link of the list's and the project's answers names a real operation, and the id it
    takes from the answer reaches that project (the stateful phase of test_hostile follows
    them)."""
    project = walk_to(client, create_project(client), "faisabilite")
    document = client.get("/openapi.json").json()
    operations = {
        op["operationId"]: (path, method)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    listed = client.get("/api/v1/projects").json()
    page = client.get(f"/api/v1/projects/{project['id']}").json()
    for path, method, answer in [
        ("/api/v1/projects", "get", listed),
        ("/api/v1/projects/{project_id}", "get", page),
    ]:
        links = document["paths"][path][method]["responses"]["200"]["links"]
        assert len(links) > 20, sorted(links)
        for name, link in links.items():
            target, verb = operations[link["operationId"]]
            pointer = link["parameters"]["project_id"].removeprefix("$response.body#")
            pid = answer
            for part in pointer.strip("/").split("/"):
                pid = pid[int(part)] if isinstance(pid, list) else pid[part]
            assert pid == project["id"], name
            if verb == "get" and target.count("{") == 1:
                url = target.format(project_id=pid)
                assert client.get(url).status_code == 200, (name, url)
    # The page's first action, fired at the version read: the project moves on.
    first = document["paths"]["/api/v1/projects/{project_id}"]["get"]["responses"]["200"]["links"]
    [action] = [link for link in first.values() if "requestBody" in link]
    assert action["requestBody"] == {"action": "$response.body#/actions/0/action"}
    assert action["parameters"]["header.If-Match"] == "$response.body#/version"
    complete_faisabilite(client, project)
    page = client.get(f"/api/v1/projects/{project['id']}").json()
    moved = client.post(
        f"/api/v1/projects/{project['id']}/transitions",
        json={"action": page["actions"][0]["action"]},
        headers={"If-Match": str(page["version"])},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "validation"


def test_unreadable_bodies_are_422(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    url = f"/api/v1/projects/{pid}/transitions"
    for content, media_type in [
        (b'{"action": ', "application/json"),
        (b'\xff\xfe{"action": "abandonner"}', "application/json"),
        (b"garbage", "multipart/form-data; boundary=zz"),
    ]:
        target = url if media_type == "application/json" else f"/api/v1/projects/{pid}/documents"
        response = client.post(target, content=content, headers={"content-type": media_type})
        error = _error(response, 422, "requete_invalide")
        assert [f["field"] for f in error["fields"]] == ["requete"], error
    _unchanged(client, pid, before)


def test_deadline_cannot_move_beyond_ten_years(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    deadline = project["deadlines"][1]
    before = snapshot(client, pid)
    response = client.patch(
        f"/api/v1/projects/{pid}/deadlines/{deadline['id']}",
        json={"due_on": "9999-12-30", "reason": "Jamais"},
    )
    error = _error(response, 422)
    assert error["fields"][0]["field"] == "due_on"
    _unchanged(client, pid, before)
    # Suspending and resuming afterwards works (no date overflow).
    assert client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "x"}).status_code == 200
    assert client.post(f"/api/v1/projects/{pid}/resume", json={}).status_code == 200


GARBAGE: list[Any] = [
    None,
    {},
    [],
    "texte",
    0,
    {"name": None, "action": 3, "comment": ["x"], "college": {}, "date": "2026-02-30"},
    {"due_on": "0000-00-00", "reason": "", "status": None, "outcome": True},
    {"meeting_on": "2026-13-01", "email": "@", "code": "\u0000", "insee": "1" * 500},
]


def test_no_server_error_on_garbage(client: Any) -> None:
    """Every operation of the OpenAPI schema, fed nonsense, answers 4xx (never 500)."""
    project = walk_to(client, create_project(client), "faisabilite")
    pid = project["id"]
    document = client.get(f"/api/v1/projects/{pid}/documents").json()[0]
    values = {
        "project_id": pid,
        "document_id": document["id"],
        "key": "regie-de-quartier",
        "stakeholder_id": 1,
        "member_id": 1,
        "deadline_id": 1,
        "user_id": client.get("/api/v1/me").json()["id"],
        "token_id": 1,
        "assignment_id": 1,
        "meeting_id": 1,
        "milestone_id": 1,
        "notification_id": 1,
        "job_id": 1,
        "wid": 1,
    }
    paths = client.get("/openapi.json").json()["paths"]
    seen = 0
    for template, operations in paths.items():
        path = template.format(**values)
        for method in operations:
            if method not in ("post", "put", "patch"):
                continue
            for body in GARBAGE:
                response = client.request(
                    method.upper(), path, json=body, headers={"If-Match": '"x'}
                )
                assert response.status_code < 500, (method, path, body, response.text)
                response = client.request(method.upper(), path, json=body)
                assert response.status_code < 500, (method, path, body, response.text)
                if response.status_code >= 400:
                    assert response.json()["error"]["message"]
                seen += 1
    assert seen >= 8 * 12
    assert client.get(f"/api/v1/projects/{pid}").json()["state"] == "faisabilite"


# --- French typography in every message --------------------------------------------------------

# A plain space (or the wrong no-break one) where French typography wants a no-break space:
# before : (U+00A0), before ; ! ? (U+202F), after « and before » (U+00A0).
_MISSPACED = re.compile("[ \t\u202f]:(?=\\s|$)|[ \t\u00a0][;!?]|«(?!\u00a0)|(?<!\u00a0)»")


def _messages(value: Any) -> list[str]:
    """Every `message` of an error body, the listed ones (fields, unmet, problems) included."""
    if isinstance(value, dict):
        found = [value["message"]] if isinstance(value.get("message"), str) else []
        return found + [m for v in value.values() for m in _messages(v)]
    if isinstance(value, list):
        return [m for v in value for m in _messages(v)]
    return []


def test_every_api_message_is_typeset(client: Any, db: Any) -> None:
    from tests.test_bureau import bureau_user

    pid = create_project(client)["id"]
    url = f"/api/v1/projects/{pid}"
    answers = [
        # 422 of the input model, several fields.
        _error(
            client.post("/api/v1/projects", json={**QUARTIER, "kind": "village", "name": ""}),
            422,
        ),
        # 422 of a service, one field.
        _error(client.patch(url, json={"charge_mission_recruited_on": "31/02/2026"}), 422),
        # 409 of unmet criteria, and of an action impossible from here.
        _error(
            client.post(f"{url}/transitions", json={"action": "lancer_faisabilite"}),
            409,
            "criteres_non_remplis",
        ),
        _error(
            client.post(f"{url}/transitions", json={"action": "attribuer_label"}),
            409,
            "action_impossible",
        ),
        # 404s, the app's and a domain one.
        _error(client.get("/api/v1/projects/999999"), 404),
        _error(client.get("/api/v1/nulle-part"), 404),
    ]
    # A deliberation with two field problems and no quorum: 422 with the quorum beside.
    at_bureau = walk_to(client, create_project(client, name="Régie du Bureau"), "decision_bureau")
    anne, bruno, *_ = (bureau_user(db, n) for n in ("Anne", "Bruno", "Chloé", "Driss"))
    meeting = hold_meeting(client, present=[anne.id, bruno.id])
    decision = {"meeting_id": meeting["id"], "outcome": "refus", "votes": []}
    answers.append(
        _error(client.post(f"/api/v1/projects/{at_bureau['id']}/decisions", json=decision), 422)
    )

    messages = [m for error in answers for m in _messages(error)]
    assert len(messages) > len(answers)  # the listed messages too
    for message in messages:
        assert not _MISSPACED.search(message), repr(message)
    # Every kind of space was needed somewhere: the test looked at typeset sentences.
    text = "".join(messages)
    assert "\u00a0:" in text and "«\u00a0" in text and "\u00a0»" in text and "\u202f;" in text
    # The criteria's sentences are the ones the project lists for that action.
    (action,) = [
        a for a in client.get(url).json()["actions"] if a["action"] == "lancer_faisabilite"
    ]
    assert answers[2]["unmet"] == action["unmet"]
    assert all(not _MISSPACED.search(u["message"]) for u in action["unmet"])


def test_typesetting_leaves_codes_fields_and_figures_alone() -> None:
    from labelflow.web.errors import typeset_body

    body = {
        "error": {
            "code": "quorum_non_atteint",
            "message": "Quorum non atteint : 2 présents ; il en faut 3 !",
            "present": 2,
            "fields": [{"field": "communes.0.insee", "message": "Ligne 1 : « 5951 »."}],
            "problems": [{"code": "x", "message": "Vraiment ?"}],
            "request_id": "ab : cd",  # not a sentence: as it is
        }
    }
    assert typeset_body(body) == {
        "error": {
            "code": "quorum_non_atteint",
            "message": "Quorum non atteint\u00a0: 2 présents\u202f; il en faut 3\u202f!",
            "present": 2,
            "fields": [
                {"field": "communes.0.insee", "message": "Ligne 1\u00a0: «\u00a05951\u00a0»."}
            ],
            "problems": [{"code": "x", "message": "Vraiment\u202f?"}],
            "request_id": "ab : cd",
        }
    }
    assert body["error"]["message"] == "Quorum non atteint : 2 présents ; il en faut 3 !"
