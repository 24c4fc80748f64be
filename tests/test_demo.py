"""Demo data: realistic projects over every step and outcome, each one a valid workflow walk."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from labelflow.demo import generate_bulk, load_demo, make_pdf
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
