"""The porteur's checklist: every criterion kind reported while unmet, and cleared once met."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from labelflow.french import typeset
from tests.factories import (
    add_stakeholder,
    attest,
    complete_prefiguration,
    create_project,
    decide,
    fire,
    hold_meeting,
    submit_report,
    today,
    unmet_codes,
    upload,
    walk_to,
)

TOMORROW = (date.today() + timedelta(days=2)).isoformat()


def _get(client: Any, pid: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/projects/{pid}")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _refused(client: Any, pid: int, action: str, comment: str | None = None) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{pid}/transitions", json={"action": action, "comment": comment}
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "criteres_non_remplis"
    return error  # type: ignore[no-any-return]


def _assert_same_in_409(client: Any, pid: int, action: str) -> list[str]:
    """The 409's list is the one the project page shows for that action."""
    entry = next(a for a in _get(client, pid)["actions"] if a["action"] == action)
    assert entry["allowed"] is False
    error = _refused(client, pid, action)
    assert error["unmet"] == entry["unmet"]
    for item in error["unmet"]:
        assert item["message"] and item["message"][0].isupper()
    return [u["code"] for u in error["unmet"]]


@pytest.mark.parametrize(
    ("kind", "third"), [("quartier", "bailleur"), ("territoire", "partenaire")]
)
def test_groupe_projet_checklist(client: Any, kind: str, third: str) -> None:
    project = create_project(client, kind=kind)
    pid = project["id"]
    assert _assert_same_in_409(client, pid, "lancer_faisabilite") == [
        "partie_prenante_habitants",
        "partie_prenante_collectivite",
        f"partie_prenante_{third}",
        "document_note_cadrage",
        "attestation_portage_collectivite",
        "attestation_convention_amo",
    ]
    messages = {
        u["code"]: u["message"] for u in _refused(client, pid, "lancer_faisabilite")["unmet"]
    }
    assert "Collectivité" in messages["partie_prenante_collectivite"]
    assert messages["document_note_cadrage"] == typeset("Il manque la pièce « Note de cadrage ».")

    # Engaged in the future, or with no engagement date: not engaged yet.
    add_stakeholder(client, pid, "habitants", engaged_on=TOMORROW)
    add_stakeholder(client, pid, "collectivite", engaged_on=None)
    # A stakeholder of the other definition's collège does not count either.
    add_stakeholder(client, pid, "partenaire" if third == "bailleur" else "bailleur")
    stakeholders = client.get(f"/api/v1/projects/{pid}/stakeholders").json()
    assert [s["engaged"] for s in stakeholders] == [False, False, True]
    assert unmet_codes(_get(client, pid), "lancer_faisabilite")[:3] == [
        "partie_prenante_habitants",
        "partie_prenante_collectivite",
        f"partie_prenante_{third}",
    ]

    add_stakeholder(client, pid, "habitants")
    assert unmet_codes(_get(client, pid), "lancer_faisabilite")[:2] == [
        "partie_prenante_collectivite",
        f"partie_prenante_{third}",
    ]
    add_stakeholder(client, pid, "collectivite")
    add_stakeholder(client, pid, third)
    attest(client, pid, "portage_collectivite")
    assert unmet_codes(_get(client, pid), "lancer_faisabilite") == [
        "document_note_cadrage",
        "attestation_convention_amo",
    ]
    upload(client, pid, "note_cadrage")
    attest(client, pid, "convention_amo")
    project = _get(client, pid)
    entry = next(a for a in project["actions"] if a["action"] == "lancer_faisabilite")
    assert (entry["allowed"], entry["unmet"]) == (True, [])
    assert fire(client, pid, "lancer_faisabilite")["state"] == "faisabilite"


def test_faisabilite_and_validation_checklists(client: Any) -> None:
    project = walk_to(client, create_project(client, kind="territoire"), "faisabilite")
    pid = project["id"]
    assert _assert_same_in_409(client, pid, "soumettre_validation") == [
        "document_etude_faisabilite",
        "attestation_visite_regie",
    ]
    attest(client, pid, "visite_regie")
    upload(client, pid, "etude_faisabilite")
    fire(client, pid, "soumettre_validation")
    assert _assert_same_in_409(client, pid, "valider_projet") == [
        "document_deliberation_collectivite",
        "document_engagement_partenaires",
        "document_validation_habitants",
    ]
    upload(client, pid, "engagement_partenaires")
    assert unmet_codes(_get(client, pid), "valider_projet") == [
        "document_deliberation_collectivite",
        "document_validation_habitants",
    ]


def test_rejected_document_does_not_count_until_replaced(client: Any) -> None:
    project = walk_to(client, create_project(client), "faisabilite")
    pid = project["id"]
    attest(client, pid, "visite_regie")
    study = upload(client, pid, "etude_faisabilite")
    assert unmet_codes(_get(client, pid), "soumettre_validation") == []
    response = client.post(
        f"/api/v1/documents/{study['id']}/review",
        json={"status": "rejected", "comment": "Le modèle économique manque."},
    )
    assert response.status_code == 200
    assert response.json()["review_status"] == "rejected"
    error = _refused(client, pid, "soumettre_validation")
    assert error["unmet"] == [
        {
            "code": "document_etude_faisabilite",
            "message": typeset(
                "La pièce « Étude de faisabilité » a été refusée : "
                "une nouvelle version est attendue."
            ),
            "by": "porteur",
        }
    ]
    second = upload(
        client,
        pid,
        "etude_faisabilite",
        filename="etude-v2.pdf",
        content=b"%PDF-1.4\nversion 2\n%%EOF\n",
    )
    listed = {d["id"]: d for d in client.get(f"/api/v1/projects/{pid}/documents").json()}
    assert listed[study["id"]]["superseded_by_id"] == second["id"]
    assert listed[second["id"]]["superseded_by_id"] is None
    assert unmet_codes(_get(client, pid), "soumettre_validation") == []
    # A superseded document can no longer be reviewed.
    response = client.post(f"/api/v1/documents/{study['id']}/review", json={"status": "accepted"})
    assert response.status_code == 409
    # An accepted one counts, of course.
    response = client.post(f"/api/v1/documents/{second['id']}/review", json={"status": "accepted"})
    assert response.json()["review_status"] == "accepted"
    assert fire(client, pid, "soumettre_validation")["state"] == "validation"


def test_governance_checklist(client: Any) -> None:
    project = walk_to(client, create_project(client), "prefiguration")
    pid = project["id"]
    url = f"/api/v1/projects/{pid}/board-members"

    def governance() -> list[str]:
        return [
            c
            for c in unmet_codes(_get(client, pid), "demander_expertise")
            if c.startswith("gouvernance")
        ]

    assert governance() == ["gouvernance_conseil"]
    members = [
        client.post(url, json={"name": n, "college": c, "is_president": p}).json()
        for n, c, p in [("Élu", "collectivite", True), ("Awa", "habitants", False)]
    ]
    assert governance() == ["gouvernance_majorite_habitants", "gouvernance_presidence_habitants"]
    messages = {
        u["code"]: u["message"] for u in _refused(client, pid, "demander_expertise")["unmet"]
    }
    assert "(1 sur 2 membres)" in messages["gouvernance_majorite_habitants"]
    client.post(url, json={"name": "Léa", "college": "habitants"})
    assert governance() == ["gouvernance_presidence_habitants"]
    # Only one president at a time.
    response = client.post(url, json={"name": "Sam", "college": "habitants", "is_president": True})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "is_president"
    assert client.delete(f"{url}/{members[0]['id']}").status_code == 204
    assert governance() == ["gouvernance_presidence_habitants"]
    client.post(url, json={"name": "Sam", "college": "habitants", "is_president": True})
    assert governance() == []


def test_prefiguration_checklist_and_expertise_report(client: Any) -> None:
    project = walk_to(client, create_project(client), "prefiguration")
    pid = project["id"]
    # A report document uploaded before entering `expertise` counts for nothing.
    upload(client, pid, "rapport_expertise")
    codes = _assert_same_in_409(client, pid, "demander_expertise")
    assert codes == [
        "document_statuts",
        "document_recepisse_prefecture",
        "champ_rna_number",
        "champ_charge_mission_recruited_on",
        "gouvernance_conseil",
        "consultant_designe",
    ]
    complete_prefiguration(client, project)
    fire(client, pid, "demander_expertise")
    assert _assert_same_in_409(client, pid, "transmettre_bureau") == ["rapport_expertise"]
    # A document no longer stands for the report: the structured report, once submitted, does
    # (its own rules: tests/test_reports.py).
    upload(client, pid, "rapport_expertise")
    assert _assert_same_in_409(client, pid, "transmettre_bureau") == ["rapport_expertise"]
    submit_report(client, _get(client, pid))
    assert unmet_codes(_get(client, pid), "transmettre_bureau") == []
    assert fire(client, pid, "transmettre_bureau")["state"] == "decision_bureau"


def test_bureau_decision_checklist(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    for action, outcome in [
        ("attribuer_label", "attribution"),
        ("refuser_label", "refus"),
        ("ajourner", "ajournement"),
    ]:
        assert unmet_codes(project, action) == [f"decision_bureau_{outcome}"]
    error = _refused(client, pid, "attribuer_label")
    assert error["unmet"][0]["message"] == (
        "Aucune décision du Bureau n'est enregistrée pour ce dossier."
    )
    decide(client, pid, "refus", "Pas de majorité d'habitants au CA.")
    # A decision with another outcome does not count.
    error = _refused(client, pid, "attribuer_label")
    assert error["unmet"] == [
        {
            "code": "decision_bureau_attribution",
            "message": typeset("La décision enregistrée par le Bureau est : refus."),
            "by": "bureau",
        }
    ]
    project = _get(client, pid)
    assert unmet_codes(project, "refuser_label") == []
    assert unmet_codes(project, "ajourner") == ["decision_bureau_ajournement"]
    # The latest decision of the pass is the one that counts.
    decide(client, pid, "attribution")
    project = _get(client, pid)
    assert unmet_codes(project, "attribuer_label") == []
    assert unmet_codes(project, "refuser_label") == ["decision_bureau_refus"]
    decisions = client.get(f"/api/v1/projects/{pid}/decisions").json()
    assert [d["outcome"] for d in decisions] == ["refus", "attribution"]
    assert decisions[0]["motivation"] == "Pas de majorité d'habitants au CA."


def test_decision_meeting_date_is_checked(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    url = f"/api/v1/projects/{project['id']}/decisions"
    tomorrow = (date.fromisoformat(today()) + timedelta(days=1)).isoformat()
    long_ago = (date.fromisoformat(today()) - timedelta(days=10)).isoformat()
    # A meeting cannot be in the future...
    error = hold_meeting(client, held_on=tomorrow, expect=422)["error"]
    assert error["fields"][0]["field"] == "held_on"
    # ...and one held before the project reached the Bureau cannot deliberate on it.
    earlier = hold_meeting(client, held_on=long_ago)
    error = decide(client, project["id"], "attribution", meeting=earlier, expect=422)["error"]
    assert error["fields"][0]["field"] == "meeting_id"
    assert "précède l'arrivée du projet" in error["message"]
    assert client.get(url).json() == []
