"""The labelling path through the API: both definitions, every way out, history and deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from labelflow import dates
from tests.factories import (
    complete_prefiguration,
    create_project,
    decide,
    events,
    fire,
    submit_report,
    today,
    unmet_codes,
    upload,
    walk_to,
)

STEPS = [
    "groupe_projet",
    "faisabilite",
    "validation",
    "prefiguration",
    "expertise",
    "decision_bureau",
]
MONTHS = {
    "groupe_projet": 6,
    "faisabilite": 8,
    "validation": 3,
    "prefiguration": 14,
    "expertise": 3,
    "decision_bureau": 2,
}


def _open_step_deadline(project: dict[str, Any]) -> dict[str, Any]:
    (deadline,) = [d for d in project["deadlines"] if d["kind"] == "etape" and not d["closed_on"]]
    return deadline


@pytest.mark.parametrize("kind", ["quartier", "territoire"])
def test_walk_to_label(client: Any, kind: str) -> None:
    project = create_project(client, kind=kind)
    assert project["workflow_key"] == f"regie-de-{kind}"
    assert (project["state"], project["step"], project["version"]) == ("groupe_projet", 1, 1)
    project = walk_to(client, project, "decision_bureau")
    assert project["step"] == 6
    assert [a["action"] for a in project["actions"]] == [
        "attribuer_label",
        "refuser_label",
        "ajourner",
        "abandonner",
    ]
    decide(client, project["id"], "attribution")
    project = fire(client, project["id"], "attribuer_label")

    assert project["state"] == "labellisee"
    assert project["step"] is None
    assert project["actions"] == []
    assert project["label_date"] == today()
    prefix = "RQ" if kind == "quartier" else "RT"
    assert project["label_number"] and project["label_number"].startswith(prefix)
    assert all(d["status"] == "tenue" for d in project["deadlines"])

    history = events(client, project["id"])
    transitions = [e for e in history if e["kind"] == "transition"]
    assert [(e["from_state"], e["to_state"]) for e in transitions] == list(
        zip(STEPS, [*STEPS[1:], "labellisee"], strict=True)
    )
    assert history[0]["kind"] == "creation" and history[0]["to_state"] == "groupe_projet"
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    assert [e["id"] for e in history] == sorted(e["id"] for e in history)
    # Every step passed through got its own deadline, due after its target duration.
    steps = {d["state"]: d for d in project["deadlines"] if d["kind"] == "etape"}
    assert list(steps) == STEPS
    for state, deadline in steps.items():
        assert (
            deadline["due_on"]
            == dates.add_months(date.fromisoformat(today()), MONTHS[state]).isoformat()
        )
    (label,) = [d for d in project["deadlines"] if d["kind"] == "label"]
    assert label["due_on"] == dates.add_months(date.fromisoformat(today()), 36).isoformat()


def test_refusal_requires_motivation(client: Any) -> None:
    project = walk_to(client, create_project(client, kind="territoire"), "decision_bureau")
    pid = project["id"]
    error = decide(client, pid, "refus", expect=422)["error"]
    assert error["fields"][0]["field"] == "motivation"
    decide(client, pid, "refus", "Modèle économique trop fragile.")
    response = client.post(f"/api/v1/projects/{pid}/transitions", json={"action": "refuser_label"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "commentaire_requis"
    project = fire(client, pid, "refuser_label", "Modèle économique trop fragile.")
    assert project["state"] == "refusee" and project["step"] is None
    assert project["label_number"] is None
    history = events(client, pid)
    last = [e for e in history if e["kind"] == "transition"][-1]
    # The decision letter is stored with the refusal, right after it.
    assert history[-1]["kind"] == "document" and history[-1]["data"]["type"] == "courrier_decision"
    assert (last["action"], last["from_state"], last["to_state"], last["comment"]) == (
        "refuser_label",
        "decision_bureau",
        "refusee",
        "Modèle économique trop fragile.",
    )


def test_deferral_needs_a_new_pass(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    decide(client, pid, "ajournement", "Renforcer la place des habitants.")
    response = client.post(
        f"/api/v1/projects/{pid}/transitions", json={"action": "ajourner", "comment": "  "}
    )
    assert response.json()["error"]["code"] == "commentaire_requis"
    project = fire(client, pid, "ajourner", "Renforcer la place des habitants.")
    assert (project["state"], project["step"]) == ("prefiguration", 4)
    # A second deadline for the prefiguration step, opened today.
    prefig = [d for d in project["deadlines"] if d["state"] == "prefiguration"]
    assert len(prefig) == 2 and prefig[0]["status"] == "tenue"
    assert _open_step_deadline(project) == prefig[1]
    assert prefig[1]["due_on"] == dates.add_months(date.fromisoformat(today()), 14).isoformat()

    # Everything recorded for the first pass still holds for demander_expertise...
    project = fire(client, pid, "demander_expertise")
    # ...but the report of the first pass does not count for the second one.
    assert unmet_codes(project, "transmettre_bureau") == ["rapport_expertise"]
    fire(client, pid, "transmettre_bureau", expect=409)
    submit_report(client, project)
    project = fire(client, pid, "transmettre_bureau")
    # Nor does the first pass's decision, even with the right outcome.
    assert unmet_codes(project, "ajourner") == ["decision_bureau_ajournement"]
    assert unmet_codes(project, "attribuer_label") == ["decision_bureau_attribution"]
    decide(client, pid, "attribution")
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert unmet_codes(project, "attribuer_label") == []
    assert unmet_codes(project, "ajourner") == ["decision_bureau_ajournement"]
    project = fire(client, pid, "attribuer_label")
    assert project["state"] == "labellisee"
    moves = [
        (e["from_state"], e["to_state"]) for e in events(client, pid) if e["kind"] == "transition"
    ]
    assert moves[-4:] == [
        ("decision_bureau", "prefiguration"),
        ("prefiguration", "expertise"),
        ("expertise", "decision_bureau"),
        ("decision_bureau", "labellisee"),
    ]
    assert len(moves) == 9
    deferral = next(e for e in events(client, pid) if e["action"] == "ajourner")
    assert deferral["comment"] == "Renforcer la place des habitants."


@pytest.mark.parametrize("state", ["groupe_projet", "validation", "expertise", "decision_bureau"])
def test_abandon_from_any_step(client: Any, state: str) -> None:
    project = walk_to(client, create_project(client), state)
    pid = project["id"]
    response = client.post(f"/api/v1/projects/{pid}/transitions", json={"action": "abandonner"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "commentaire_requis"
    project = fire(client, pid, "abandonner", "La collectivité se retire.")
    assert (project["state"], project["step"], project["actions"]) == ("abandonnee", None, [])
    history = events(client, pid)
    last = [e for e in history if e["kind"] == "transition"][-1]
    if state in ("expertise", "decision_bureau"):
        # The consultant's assignment ends with the project, right after the transition.
        assert project["consultant"] is None
        assert history[-1]["kind"] == "consultant" and history[-1]["data"]["op"] == "end"
    assert (last["kind"], last["from_state"], last["to_state"], last["comment"]) == (
        "transition",
        state,
        "abandonnee",
        "La collectivité se retire.",
    )
    # A closed project cannot move again.
    response = client.post(
        f"/api/v1/projects/{pid}/transitions", json={"action": "abandonner", "comment": "Encore"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "action_impossible"


def test_history_has_one_event_per_fact(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    stakeholder = client.post(
        f"/api/v1/projects/{pid}/stakeholders", json={"name": "Amicale", "college": "habitants"}
    ).json()
    client.post(
        f"/api/v1/projects/{pid}/board-members",
        json={"name": "Awa", "college": "habitants", "is_president": True},
    )
    client.post(
        f"/api/v1/projects/{pid}/attestations",
        json={"code": "visite_regie", "date": today(), "comment": "Visite à Lille."},
    )
    document = upload(client, pid, "note_cadrage")
    client.post(
        f"/api/v1/documents/{document['id']}/review",
        json={"status": "rejected", "comment": "Illisible"},
    )
    client.patch(f"/api/v1/projects/{pid}", json={"association_name": "Alma Avenir"})
    client.delete(f"/api/v1/projects/{pid}/stakeholders/{stakeholder['id']}")
    client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections municipales"})
    client.post(f"/api/v1/projects/{pid}/resume", json={"comment": "Nouvelle équipe"})
    history = events(client, pid)
    assert [e["kind"] for e in history] == [
        "creation",
        "partie_prenante",
        "membre_ca",
        "attestation",
        "document",
        "revue",
        "modification",
        "partie_prenante",
        "suspension",
        "reprise",
    ]
    assert history[5]["comment"] == "Illisible"
    assert history[6]["data"]["fields"] == {"association_name": "Alma Avenir"}
    assert history[8]["comment"] == "Élections municipales"
    assert all(e["actor"] for e in history)
    # Every fact bumped the version (the ETag) once.
    response = client.get(f"/api/v1/projects/{pid}")
    assert response.json()["version"] == 10
    assert response.headers["ETag"] == '"10"'


# --- deadlines ---------------------------------------------------------------------------------


def _ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def test_deadline_statuses_and_overdue_filter(client: Any) -> None:
    fresh = create_project(client, name="Régie récente")
    with dates.frozen(_ago(170)):  # groupe_projet (6 months) due in about 10 days
        soon = create_project(client, name="Régie bientôt")
    with dates.frozen(_ago(400)):
        late = create_project(client, name="Régie en retard")
    with dates.frozen(_ago(1200)):
        very_late = create_project(client, name="Régie hors délai")

    def step_status(pid: int) -> str:
        project = client.get(f"/api/v1/projects/{pid}").json()
        return str(_open_step_deadline(project)["status"])

    assert step_status(fresh["id"]) == "a_venir"
    assert step_status(soon["id"]) == "bientot"
    assert step_status(late["id"]) == "en_retard"
    label = [
        d
        for d in client.get(f"/api/v1/projects/{very_late['id']}").json()["deadlines"]
        if d["kind"] == "label"
    ][0]
    assert label["status"] == "en_retard"

    def names(**params: Any) -> set[str]:
        response = client.get("/api/v1/projects", params=params)
        assert response.status_code == 200
        return {p["name"] for p in response.json()["items"]}

    assert names(overdue="true") == {"Régie en retard", "Régie hors délai"}
    assert names(overdue="false") == {"Régie récente", "Régie bientôt"}
    items = {p["name"]: p["overdue"] for p in client.get("/api/v1/projects").json()["items"]}
    assert items == {
        "Régie récente": False,
        "Régie bientôt": False,
        "Régie en retard": True,
        "Régie hors délai": True,
    }
    assert client.get(f"/api/v1/projects/{late['id']}").json()["overdue"] is True

    # A step left on time or late is closed ("tenue") and the next one starts today.
    walk_to(client, late, "faisabilite")
    project = client.get(f"/api/v1/projects/{late['id']}").json()
    first = next(d for d in project["deadlines"] if d["state"] == "groupe_projet")
    assert (first["status"], first["closed_on"]) == ("tenue", today())
    assert (
        _open_step_deadline(project)["due_on"]
        == dates.add_months(date.fromisoformat(today()), 8).isoformat()
    )
    assert names(overdue="true") == {"Régie hors délai"}

    # A suspended project is not overdue: its deadlines are paused.
    response = client.post(f"/api/v1/projects/{very_late['id']}/suspend", json={"comment": "Pause"})
    assert response.status_code == 200
    assert {d["status"] for d in response.json()["deadlines"]} == {"suspendue"}
    assert names(overdue="true") == set()


def test_suspension_pauses_and_shifts_deadlines(client: Any) -> None:
    start = datetime(2025, 3, 1, 9, tzinfo=UTC)
    with dates.frozen(start):
        project = create_project(client)
    pid = project["id"]
    before = {d["id"]: d["due_on"] for d in project["deadlines"]}
    with dates.frozen(start + timedelta(days=20)):
        response = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections"})
        assert response.status_code == 200
        assert response.json()["suspended"] is True
    response = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Encore"})
    assert response.status_code == 409
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert {d["status"] for d in project["deadlines"]} == {"suspendue"}
    assert all(
        a["allowed"] is False and a["unmet"][0]["code"] == "projet_suspendu"
        for a in project["actions"]
    )
    with dates.frozen(start + timedelta(days=65)):
        response = client.post(f"/api/v1/projects/{pid}/resume", json={})
        assert response.status_code == 200
    project = response.json()
    assert project["suspended"] is False
    after = {d["id"]: d["due_on"] for d in project["deadlines"]}
    for did, due in before.items():
        assert date.fromisoformat(after[did]) - date.fromisoformat(due) == timedelta(days=45)
    last = events(client, pid)[-1]
    assert (last["kind"], last["data"]) == ("reprise", {"paused_days": 45})
    response = client.post(f"/api/v1/projects/{pid}/resume", json={})
    assert response.status_code == 409


def test_move_deadline_with_reason(client: Any) -> None:
    with dates.frozen(_ago(30)):
        project = create_project(client)
    pid = project["id"]
    deadline = _open_step_deadline(project)
    new_due = (date.fromisoformat(deadline["due_on"]) + timedelta(days=60)).isoformat()
    url = f"/api/v1/projects/{pid}/deadlines/{deadline['id']}"
    response = client.patch(url, json={"due_on": new_due})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {"field": "reason", "message": "Ce champ est obligatoire."}
    ]
    response = client.patch(url, json={"due_on": new_due, "reason": "Report des élections"})
    assert response.status_code == 200, response.text
    assert response.json()["due_on"] == new_due
    assert response.json()["initial_due_on"] == deadline["due_on"]
    assert response.headers["ETag"] == '"2"'
    last = events(client, pid)[-1]
    assert last["kind"] == "echeance" and last["comment"] == "Report des élections"
    assert (last["data"]["from"], last["data"]["to"]) == (deadline["due_on"], new_due)
    # Moved into the past: the project becomes overdue.
    yesterday = (date.fromisoformat(today()) - timedelta(days=1)).isoformat()
    before_creation = (date.fromisoformat(today()) - timedelta(days=31)).isoformat()
    response = client.patch(url, json={"due_on": before_creation, "reason": "Erreur"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "due_on"
    response = client.patch(url, json={"due_on": yesterday, "reason": "Retard constaté"})
    assert response.status_code == 200
    assert response.json()["status"] == "en_retard"
    assert client.get(f"/api/v1/projects/{pid}").json()["overdue"] is True
    assert [p["id"] for p in client.get("/api/v1/projects?overdue=true").json()["items"]] == [pid]


def test_prefiguration_fields_count_once_patched(client: Any) -> None:
    project = walk_to(client, create_project(client), "prefiguration")
    codes = unmet_codes(project, "demander_expertise")
    assert codes == [
        "document_statuts",
        "document_recepisse_prefecture",
        "champ_rna_number",
        "champ_charge_mission_recruited_on",
        "gouvernance_conseil",
        "consultant_designe",
    ]
    complete_prefiguration(client, project)
    project = client.get(f"/api/v1/projects/{project['id']}").json()
    assert unmet_codes(project, "demander_expertise") == []
    assert project["rna_number"] == "W595012345"
    consultant = project["consultant"]
    assert consultant["name"] == "Claire Martin"
    assert consultant["email"].startswith("consultant") and isinstance(consultant["user_id"], int)
