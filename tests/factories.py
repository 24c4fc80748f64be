"""Plain-function factories that go through the real API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()

QUARTIER = {
    "name": "Régie de quartier de l'Alma",
    "kind": "quartier",
    "communes": [{"insee": "59512", "name": "Roubaix"}],
    "region": "Hauts-de-France",
    "departement": "Nord",
    "initiator": "habitants",
    "qpv": ["Alma-Gare"],
}
TERRITOIRE = {
    "name": "Régie de territoire du Pays de Bray",
    "kind": "territoire",
    "communes": [
        {"insee": "76276", "name": "Forges-les-Eaux"},
        {"insee": "76312", "name": "Gournay-en-Bray"},
    ],
    "region": "Normandie",
    "departement": "Seine-Maritime",
    "initiator": "collectivite",
}


def create_project(client: Any, **overrides: Any) -> dict[str, Any]:
    body = {**(TERRITOIRE if overrides.get("kind") == "territoire" else QUARTIER), **overrides}
    response = client.post("/api/v1/projects", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def upload(
    client: Any,
    project_id: int,
    doc_type: str,
    content: bytes = PDF,
    filename: str = "piece.pdf",
    media_type: str = "application/pdf",
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{project_id}/documents",
        data={"type": doc_type},
        files={"file": (filename, content, media_type)},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def add_stakeholder(
    client: Any,
    project_id: int,
    college: str,
    name: str | None = None,
    engaged_on: str | None = YESTERDAY,
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{project_id}/stakeholders",
        json={"name": name or f"Partie {college}", "college": college, "engaged_on": engaged_on},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def attest(client: Any, project_id: int, code: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{project_id}/attestations",
        json={"code": code, "date": YESTERDAY, "comment": "Constaté lors du comité de suivi."},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def fire(
    client: Any, project_id: int, action: str, comment: str | None = None, expect: int = 200
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{project_id}/transitions", json={"action": action, "comment": comment}
    )
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def complete_groupe_projet(client: Any, project: dict[str, Any]) -> None:
    pid = project["id"]
    third = "bailleur" if project["kind"] == "quartier" else "partenaire"
    for college in ("habitants", "collectivite", third):
        add_stakeholder(client, pid, college)
    upload(client, pid, "note_cadrage")
    attest(client, pid, "portage_collectivite")
    attest(client, pid, "convention_amo")


def complete_faisabilite(client: Any, project: dict[str, Any]) -> None:
    upload(client, project["id"], "etude_faisabilite")
    attest(client, project["id"], "visite_regie")


def complete_validation(client: Any, project: dict[str, Any]) -> None:
    pid = project["id"]
    upload(client, pid, "deliberation_collectivite")
    upload(
        client,
        pid,
        "engagement_bailleur" if project["kind"] == "quartier" else "engagement_partenaires",
    )
    upload(client, pid, "validation_habitants")


def complete_prefiguration(client: Any, project: dict[str, Any]) -> None:
    pid = project["id"]
    upload(client, pid, "statuts")
    upload(client, pid, "recepisse_prefecture")
    r = client.patch(
        f"/api/v1/projects/{pid}",
        json={
            "rna_number": "W595012345",
            "charge_mission_recruited_on": YESTERDAY,
            "association_name": "Association de préfiguration",
        },
    )
    assert r.status_code == 200, r.text
    for i, college in enumerate(
        ["habitants", "habitants", "habitants", "collectivite", "bailleur"]
    ):
        r = client.post(
            f"/api/v1/projects/{pid}/board-members",
            json={"name": f"Membre {i}", "college": college, "is_president": i == 0},
        )
        assert r.status_code == 201, r.text
    consultant = create_user(client, role="consultant", name="Claire Martin")
    r = client.put(f"/api/v1/projects/{pid}/consultant", json={"user_id": consultant["id"]})
    assert r.status_code == 200, r.text


def walk_to(client: Any, project: dict[str, Any], state: str) -> dict[str, Any]:
    """Record what each step needs and move the project forward until it reaches `state`."""
    steps = [
        ("groupe_projet", complete_groupe_projet, "lancer_faisabilite"),
        ("faisabilite", complete_faisabilite, "soumettre_validation"),
        ("validation", complete_validation, "valider_projet"),
        ("prefiguration", complete_prefiguration, "demander_expertise"),
        ("expertise", lambda c, p: upload(c, p["id"], "rapport_expertise"), "transmettre_bureau"),
    ]
    current = project
    for source, complete, action in steps:
        if current["state"] == state:
            return current
        assert current["state"] == source, current["state"]
        complete(client, current)
        current = fire(client, current["id"], action)
    assert current["state"] == state
    return current


def today() -> str:
    """Today in Paris, the date the service itself uses."""
    from labelflow import dates

    return dates.today().isoformat()


def decide(
    client: Any, project_id: int, outcome: str, motivation: str | None = None, expect: int = 201
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{project_id}/decisions",
        json={"meeting_on": today(), "outcome": outcome, "motivation": motivation},
    )
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def events(client: Any, project_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/projects/{project_id}/events")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def snapshot(client: Any, project_id: int) -> tuple[dict[str, Any], int, list[Any]]:
    """What a user can see of a project: its JSON, its history length, its records."""
    project = client.get(f"/api/v1/projects/{project_id}")
    assert project.status_code == 200, project.text
    records = [
        client.get(f"/api/v1/projects/{project_id}/{sub}").json()
        for sub in ("stakeholders", "board-members", "attestations", "documents", "decisions")
    ]
    return project.json(), len(events(client, project_id)), records


def unmet_codes(project: dict[str, Any], action: str) -> list[str]:
    entry = next(a for a in project["actions"] if a["action"] == action)
    return [u["code"] for u in entry["unmet"]]


_user_seq = iter(range(1, 10**6))


def create_user(client: Any, role: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """An account created through the accounts API (the client must be a staff admin)."""
    n = next(_user_seq)
    body = {"email": f"{role}{n}@example.org", "name": name or f"{role.title()} {n}", "role": role}
    response = client.post("/api/v1/users", json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
