"""Plain-function factories that go through the real API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from labelflow import dates

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# The service's dates are Paris dates (`dates.today()`), whatever the machine's time zone.
YESTERDAY = (dates.today() - timedelta(days=1)).isoformat()

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


def complete_prefiguration(
    client: Any, project: dict[str, Any], consultant_id: int | None = None
) -> None:
    """What `demander_expertise` needs; the consultant (by default a new account, Claire
    Martin) is assigned and declares no link with any stakeholder."""
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
    if consultant_id is None:
        consultant_id = create_user(client, role="consultant", name="Claire Martin")["id"]
    assign_independent_consultant(client, pid, consultant_id)


def assign(client: Any, project_id: int, user_id: int, expect: int = 200) -> dict[str, Any]:
    """Staff ask a consultant to carry out the expertise (pending their declaration)."""
    response = client.put(f"/api/v1/projects/{project_id}/consultant", json={"user_id": user_id})
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def declare(
    consultant: Any,
    assignment_id: int,
    links: dict[str, str] | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    """The consultant (their own client) declares about every stakeholder listed for the
    pending assignment: a link with those named in `links` ({name: details}), none otherwise."""
    links = links or {}
    mine = consultant.get("/api/v1/me/assignments")
    assert mine.status_code == 200, mine.text
    pending = next(a for a in mine.json() if a["id"] == assignment_id)
    body = {
        "declarations": [
            {
                "stakeholder_id": s["id"],
                "has_link": s["name"] in links,
                "details": links.get(s["name"]),
            }
            for s in pending["stakeholders"]
        ]
    }
    response = consultant.post(f"/api/v1/assignments/{assignment_id}/declaration", json=body)
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def assign_independent_consultant(client: Any, project_id: int, user_id: int) -> dict[str, Any]:
    """Assign a consultant who then declares no link: the assignment is active."""
    assignment = assign(client, project_id, user_id)
    done = declare(client_for(client, user_id), assignment["id"])
    assert done["status"] == "active", done
    return done


def client_for(client: Any, user_id: int) -> Any:
    """A client of the same app acting as account `user_id` (a fresh API token)."""
    from fastapi.testclient import TestClient

    from labelflow import accounts
    from labelflow.db import transaction
    from labelflow.models import User

    with transaction(client.app.state.db) as session:
        user = session.get(User, user_id)
        assert user is not None
        raw, _token = accounts.create_token(session, user=user, name="factories")
    other = TestClient(client.app)
    other.headers["Authorization"] = f"Bearer {raw}"
    return other


def consultant_client(client: Any, project_id: int) -> Any:
    """A client acting as the consultant in charge of the project's expertise."""
    project = client.get(f"/api/v1/projects/{project_id}").json()
    assert project["consultant"], "no consultant in charge of this project"
    return client_for(client, project["consultant"]["user_id"])


def report_body(
    report: dict[str, Any],
    assessment: str = "satisfaisant",
    recommendation: str | None = "favorable",
    skip: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A full report for the grid of `report` (as GET .../report answers it)."""
    return {
        "assessments": {
            c["key"]: {"assessment": assessment, "comment": f"Observé sur place : {c['label']}."}
            for theme in report["themes"]
            for c in theme["criteria"]
            if c["key"] not in skip
        },
        "visit_dates": [YESTERDAY],
        "people_met": "La présidente, le chargé de mission, deux salariés en insertion.",
        "recommendation": recommendation,
        "recommendations_text": "Consolider les marchés avec le bailleur.",
    }


def submit_report(
    client: Any,
    project: dict[str, Any],
    assessment: str = "satisfaisant",
    recommendation: str = "favorable",
) -> dict[str, Any]:
    """The assigned consultant fills every criterion of the report and submits it."""
    pid = project["id"]
    consultant = consultant_client(client, pid)
    report = consultant.get(f"/api/v1/projects/{pid}/report")
    assert report.status_code == 200, report.text
    saved = consultant.put(
        f"/api/v1/projects/{pid}/report",
        json=report_body(report.json(), assessment, recommendation),
        headers={"If-Match": str(report.json()["version"])},
    )
    assert saved.status_code == 200, saved.text
    submitted = consultant.post(f"/api/v1/projects/{pid}/report/submit")
    assert submitted.status_code == 200, submitted.text
    return submitted.json()  # type: ignore[no-any-return]


def walk_to(client: Any, project: dict[str, Any], state: str) -> dict[str, Any]:
    """Record what each step needs and move the project forward until it reaches `state`."""
    steps = [
        ("groupe_projet", complete_groupe_projet, "lancer_faisabilite"),
        ("faisabilite", complete_faisabilite, "soumettre_validation"),
        ("validation", complete_validation, "valider_projet"),
        ("prefiguration", complete_prefiguration, "demander_expertise"),
        ("expertise", submit_report, "transmettre_bureau"),
    ]
    current = project
    sources = [source for source, _complete, _action in steps]
    if current["state"] in sources:  # already under way: start from where it stands
        steps = steps[sources.index(current["state"]) :]
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
    return dates.today().isoformat()


BUREAU_SIZE = 3
VOTE_FOR = {"attribution": "pour", "refus": "contre", "ajournement": "abstention"}


def bureau_members(client: Any, count: int = BUREAU_SIZE) -> list[dict[str, Any]]:
    """The active Bureau accounts, created up to `count` (the client must be a staff admin)."""
    members = [
        u for u in client.get("/api/v1/users", params={"role": "bureau"}).json() if u["active"]
    ]
    while len(members) < count:
        members.append(create_user(client, "bureau", name=f"Membre du Bureau {len(members) + 1}"))
    return members


def hold_meeting(
    client: Any,
    present: list[int] | None = None,
    chair: int | None = None,
    held_on: str | None = None,
    expect: int = 201,
) -> dict[str, Any]:
    """A Bureau meeting today, every active member present unless `present` says otherwise."""
    if present is None:
        present = [u["id"] for u in bureau_members(client)]
    response = client.post(
        "/api/v1/bureau/meetings",
        json={
            "held_on": held_on or today(),
            "attendee_ids": present,
            "chair_id": chair or (present[0] if present else 1),
        },
    )
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def decide(
    client: Any,
    project_id: int,
    outcome: str,
    motivation: str | None = None,
    expect: int = 201,
    *,
    meeting: dict[str, Any] | None = None,
    votes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A valid Bureau decision: a meeting with every member present (unless `meeting` is given)
    and each non-recused attendee voting for `outcome` (unless `votes` are given)."""
    meeting = meeting or hold_meeting(client)
    if votes is None:
        recused = {
            r["user_id"]
            for r in client.get(f"/api/v1/projects/{project_id}/recusals").json()
            if r["current"]
        }
        votes = [
            {"user_id": a["user_id"], "vote": VOTE_FOR[outcome]}
            for a in meeting["attendees"]
            if a["user_id"] not in recused
        ]
    response = client.post(
        f"/api/v1/projects/{project_id}/decisions",
        json={
            "meeting_id": meeting["id"],
            "outcome": outcome,
            "motivation": motivation,
            "votes": votes,
        },
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
