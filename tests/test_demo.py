"""Demo data: realistic projects over every step and outcome, each one a valid workflow walk."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bench.bulk import generate_bulk
from sqlalchemy import Engine
from sqlmodel import col, select

from labelflow import accounts
from labelflow.db import transaction
from labelflow.demo.load import load_demo
from labelflow.demo.pdfs import make_pdf
from labelflow.demo.people import BUREAU
from labelflow.demo.team import DEMO_DOMAIN, DEMO_PASSWORD, demo_logins
from labelflow.models import Event, User
from labelflow.settings import Settings
from labelflow.workflow import Engine as WorkflowEngine

STEPS = {
    "groupe_projet",
    "faisabilite",
    "validation",
    "prefiguration",
    "expertise",
    "decision_bureau",
}
FINALS = {"labellisee", "refusee", "abandonnee"}
# Steps from the expertise on, and the outcomes of a Bureau decision: a consultant was assigned.
WITH_CONSULTANT = {"expertise", "decision_bureau"}


@pytest.fixture
def demo_ids(client: Any, app: Any, db: Engine) -> list[int]:
    # `client` first: it empties the tables after the test.
    return load_demo(db, app.state.workflows, store=app.state.store)


def _projects(client: Any, ids: list[int]) -> list[dict[str, Any]]:
    projects = []
    for pid in ids:
        response = client.get(f"/api/v1/projects/{pid}")
        assert response.status_code == 200, response.text
        projects.append(response.json())
    return projects


def test_demo_covers_every_step_and_outcome(client: Any, demo_ids: list[int]) -> None:
    projects = _projects(client, demo_ids)
    assert len(projects) >= 12
    states = {p["state"] for p in projects}
    assert states >= STEPS | FINALS
    assert any(p["suspended"] for p in projects)
    kinds = Counter(p["kind"] for p in projects)
    assert 3 <= kinds["territoire"] <= 4 < kinds["quartier"]
    statuses = {d["status"] for p in projects for d in p["deadlines"]}
    assert {"en_retard", "bientot", "a_venir", "tenue", "suspendue"} <= statuses
    assert any(p["overdue"] for p in projects)
    for p in projects:
        assert all(len(c["insee"]) == 5 for c in p["communes"])
        assert p["region"] and p["departement"]


def test_every_demo_project_page_renders(client: Any, demo_ids: list[int]) -> None:
    for pid in demo_ids:
        response = client.get(f"/projects/{pid}", headers={"Accept": "text/html"})
        assert response.status_code == 200, (pid, response.text[:300])


def test_the_labelled_project_has_its_label(client: Any, demo_ids: list[int]) -> None:
    labelled = [p for p in _projects(client, demo_ids) if p["state"] == "labellisee"]
    assert labelled
    for project in labelled:
        assert project["label_number"] and project["label_date"]


def test_bureau_decisions_come_from_meetings_with_votes_and_letters(
    client: Any, demo_ids: list[int]
) -> None:
    meetings = client.get("/api/v1/bureau/meetings").json()
    assert meetings and all(m["bureau_size"] == len(BUREAU) for m in meetings)
    outcomes = {d["outcome"] for m in meetings for d in m["decisions"]}
    assert outcomes == {"attribution", "refus", "ajournement"}
    decided = {d["project_id"] for m in meetings for d in m["decisions"]}
    for pid in decided:
        decisions = client.get(f"/api/v1/projects/{pid}/decisions").json()
        assert all(d["meeting_id"] and d["votes"] for d in decisions)
        docs = client.get(f"/api/v1/projects/{pid}/documents").json()
        letters = [d for d in docs if d["type"] == "courrier_decision"]
        assert len(letters) == len(decisions), pid
        assert client.get(letters[-1]["download_url"]).content.startswith(b"%PDF-")
    # The refusal's deliberation went on without a member who withdrew.
    refused = [
        pid for pid in decided if client.get(f"/api/v1/projects/{pid}").json()["state"] == "refusee"
    ]
    assert refused
    assert client.get(f"/api/v1/projects/{refused[0]}/recusals").json()


def test_one_project_was_deferred_back_to_prefiguration(client: Any, demo_ids: list[int]) -> None:
    deferred = []
    for pid in demo_ids:
        history = client.get(f"/api/v1/projects/{pid}/events").json()
        if any(e["action"] == "ajourner" for e in history):
            deferred.append(client.get(f"/api/v1/projects/{pid}").json())
    assert deferred
    assert any(p["state"] == "prefiguration" for p in deferred)


def test_histories_are_dated_over_the_last_three_years(client: Any, demo_ids: list[int]) -> None:
    now = datetime.now(UTC)
    oldest = now - timedelta(days=3 * 365)
    for pid in demo_ids:
        response = client.get(f"/api/v1/projects/{pid}/events")
        assert response.status_code == 200
        history = response.json()
        assert len(history) >= 3
        moments = [datetime.fromisoformat(e["at"]) for e in history]
        assert all(oldest <= m < now for m in moments), pid
        assert moments == sorted(moments)
        assert history[0]["kind"] == "creation"


def test_every_project_follows_its_workflow(client: Any, app: Any, demo_ids: list[int]) -> None:
    """Replaying the recorded transitions from the initial state reaches the current state."""
    engine: WorkflowEngine = app.state.workflows
    for pid in demo_ids:
        project = client.get(f"/api/v1/projects/{pid}").json()
        key, version = project["workflow_key"], project["workflow_version"]
        definition = engine.definition(key, version)
        history = client.get(f"/api/v1/projects/{pid}/events").json()
        state = history[0]["to_state"]
        assert state == definition.initial_state
        for event in history[1:]:
            if event["kind"] != "transition":
                continue
            assert event["from_state"] == state, (pid, event)
            assert engine.fire(key, version, state, event["action"]) == event["to_state"]
            state = event["to_state"]
        assert state == project["state"], pid


def test_demo_documents_are_real_pdfs(client: Any, demo_ids: list[int]) -> None:
    documents = client.get(f"/api/v1/projects/{demo_ids[0]}/documents").json()
    assert len(documents) >= 5
    content = client.get(documents[0]["download_url"])
    assert content.status_code == 200
    assert content.headers["content-type"] == "application/pdf"
    assert content.content.startswith(b"%PDF-1.4") and content.content.rstrip().endswith(b"%%EOF")


def test_demo_is_deterministic_for_a_seed(client: Any, app: Any, db: Engine) -> None:
    def summary(ids: list[int]) -> list[tuple[Any, ...]]:
        rows = []
        for pid in ids:
            p = client.get(f"/api/v1/projects/{pid}").json()
            events = client.get(f"/api/v1/projects/{pid}/events").json()
            rows.append((p["name"], p["state"], [(e["kind"], e["actor"]) for e in events]))
        return rows

    first = load_demo(db, app.state.workflows, store=app.state.store, count=14, seed=3)
    second = load_demo(db, app.state.workflows, store=app.state.store, count=14, seed=3)
    assert summary(first) == summary(second)


def test_bulk_projects_answer_like_real_ones(client: Any, app: Any, db: Engine) -> None:
    ids = generate_bulk(db, app.state.workflows, count=30, seed=1)
    assert len(ids) == 30
    listing = client.get("/api/v1/projects", params={"limit": 200}).json()
    assert listing["total"] == 30
    for pid in ids[:5]:
        assert client.get(f"/api/v1/projects/{pid}").status_code == 200
        history = client.get(f"/api/v1/projects/{pid}/events").json()
        assert 10 <= len(history) <= 40


def test_make_pdf_escapes_text() -> None:
    pdf = make_pdf("Délibération (version 2)", ["a\\b"])
    assert b"D\xe9lib\xe9ration \\(version 2\\)" in pdf
    assert b"startxref" in pdf


# --- accounts -----------------------------------------------------------------------------------


def _demo_users(db: Engine) -> list[User]:
    with transaction(db, write=False) as session:
        return list(
            session.exec(select(User).where(col(User.email).endswith(f"@{DEMO_DOMAIN}"))).all()
        )


def _sign_in(db: Engine, settings: Settings, email: str) -> User | None:
    with transaction(db) as session:
        return accounts.authenticate(
            session, email=email, password=DEMO_PASSWORD, address="127.0.0.1", settings=settings
        )


def test_demo_has_accounts_of_every_role(
    client: Any, db: Engine, settings: Settings, demo_ids: list[int]
) -> None:
    users = _demo_users(db)
    roles = Counter((u.role, u.is_admin) for u in users)
    assert roles[("staff", True)] == 1
    assert roles[("staff", False)] == 1
    assert roles[("consultant", False)] == 2
    assert roles[("bureau", False)] == len(BUREAU)
    assert roles[("porteur", False)] == len(demo_ids)
    assert all(u.active for u in users)
    assert len({u.email for u in users}) == len(users)
    # Every demo account signs in with the one demo password (one per role checked: Argon2).
    for role in ("staff", "consultant", "porteur", "bureau"):
        user = next(u for u in users if u.role == role)
        signed_in = _sign_in(db, settings, user.email)
        assert signed_in is not None and signed_in.id == user.id


def test_each_porteur_sees_exactly_their_project(
    client: Any, client_as: Any, db: Engine, demo_ids: list[int]
) -> None:
    porteurs = {u.id: u for u in _demo_users(db) if u.role == "porteur"}
    seen: set[int] = set()
    for pid in demo_ids:
        members = client.get(f"/api/v1/projects/{pid}/members").json()
        assert [m["role"] for m in members] == ["porteur"], pid
        porteur = porteurs[members[0]["id"]]
        seen.add(porteur.id or 0)
        as_porteur = client_as(porteur)
        listing = as_porteur.get("/api/v1/projects").json()
        assert [p["id"] for p in listing["items"]] == [pid]
        assert as_porteur.get(f"/api/v1/projects/{pid}").status_code == 200
        other = demo_ids[(demo_ids.index(pid) + 1) % len(demo_ids)]
        assert as_porteur.get(f"/api/v1/projects/{other}").status_code == 404
    assert seen == set(porteurs)


def test_consultants_see_only_their_assigned_projects(
    client: Any, client_as: Any, db: Engine, demo_ids: list[int]
) -> None:
    projects = _projects(client, demo_ids)
    assigned: dict[int, set[int]] = {}
    for p in projects:
        if p["state"] in WITH_CONSULTANT:
            assert p["consultant"] is not None, p["name"]
        if p["state"] in {"labellisee", "refusee", "abandonnee"}:
            assert p["consultant"] is None, p["name"]  # the expertise ended with the project
        if p["consultant"] is not None:
            assigned.setdefault(p["consultant"]["user_id"], set()).add(p["id"])
        elif p["state"] in {"groupe_projet", "faisabilite", "validation"}:
            assert p["consultant"] is None
    consultants = [u for u in _demo_users(db) if u.role == "consultant"]
    assert set(assigned) <= {u.id for u in consultants}
    assert assigned, "au moins un projet a un·e consultant·e"
    for consultant in consultants:
        as_consultant = client_as(consultant)
        listing = as_consultant.get("/api/v1/projects", params={"limit": 200}).json()
        mine = assigned.get(consultant.id or 0, set())
        assert {p["id"] for p in listing["items"]} == mine
        for pid in set(demo_ids) - mine:
            assert as_consultant.get(f"/api/v1/projects/{pid}").status_code == 404


def test_the_expertise_report_is_filed_by_the_assigned_consultant(
    client: Any, demo_ids: list[int]
) -> None:
    reports = 0
    for project in _projects(client, demo_ids):
        report = client.get(f"/api/v1/projects/{project['id']}/report").json()
        if report["id"] is None:
            continue
        reports += 1
        assert report["status"] == "soumis" and not report["missing"]
        if project["consultant"] is not None:
            assert report["consultant_name"] == project["consultant"]["name"]
        annexes = [
            d
            for d in client.get(f"/api/v1/projects/{project['id']}/documents").json()
            if d["type"] == "annexe_expertise"
        ]
        assert [d["uploaded_by"] for d in annexes] == [report["consultant_name"]]
    assert reports >= 4


def test_demo_events_record_real_accounts(client: Any, db: Engine, demo_ids: list[int]) -> None:
    names = {u.id: u.name for u in _demo_users(db)}
    with transaction(db, write=False) as session:
        events = session.exec(select(Event).where(col(Event.project_id).in_(demo_ids))).all()
    assert events
    assert all(e.actor_id in names and names[e.actor_id] == e.actor for e in events)
    roles = {u.id: u.role for u in _demo_users(db)}
    by_role = Counter(roles[e.actor_id] for e in events if e.actor_id is not None)
    assert by_role["staff"] and by_role["porteur"] and by_role["consultant"]


def test_demo_logins_name_one_account_per_role(
    client: Any, db: Engine, settings: Settings, demo_ids: list[int]
) -> None:
    logins = demo_logins(db)
    assert [login.role for login in logins] == ["staff", "consultant", "porteur", "bureau"]
    assert logins[0].email == "camille.roussel@demo.labelflow.fr"
    assert "(admin)" in logins[0].label
    assert logins[2].project  # the porteur's project, still in progress
    assert _sign_in(db, settings, logins[2].email) is not None


def test_no_demo_logins_without_demo_data(client: Any, db: Engine) -> None:
    assert demo_logins(db) == []
