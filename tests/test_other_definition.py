"""A third definition, with other state and action keys, walked to the label: the consultant,
the report and the Bureau find their steps from the definition's criteria, not from names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col

from labelflow.db import transaction
from labelflow.models import WorkflowVersion
from labelflow.settings import Settings
from labelflow.web.app import create_app
from labelflow.workflow_store import sync_definitions
from tests.conftest import make_user, token_for
from tests.factories import (
    assign_independent_consultant,
    attest,
    bureau_members,
    client_for,
    create_project,
    create_user,
    decide,
    fire,
    submit_report,
    upload,
)

OTHER_WORKFLOWS = Path(__file__).parent / "workflows_other"


@pytest.fixture
def other(settings: Settings, db: Engine, anonymous: Any) -> Iterator[TestClient]:
    """A staff client of an app that knows only the test definition (same database)."""
    app = create_app(settings.model_copy(update={"workflows_dir": OTHER_WORKFLOWS}), db=db)
    with TestClient(app) as client:
        staff = make_user(db, role="staff", is_admin=True, name="Dominique Test")
        client.headers["Authorization"] = f"Bearer {token_for(db, staff)}"
        yield client
    # The snapshot of the test definition goes too: the next tests find the database as it was.
    with transaction(db) as session:
        session.exec(
            sa.delete(WorkflowVersion).where(col(WorkflowVersion.key) == "parcours-d-essai")
        )


def _types(client: TestClient, pid: int) -> list[str]:
    return [d["type"] for d in client.get(f"/api/v1/projects/{pid}/documents").json()]


def test_a_definition_with_other_keys_reaches_the_label(other: TestClient) -> None:
    project = create_project(other)
    pid = project["id"]
    assert (project["workflow_key"], project["state"]) == ("parcours-d-essai", "amorce")
    upload(other, pid, "note")
    fire(other, pid, "ouvrir_etude")
    attest(other, pid, "rencontre")
    fire(other, pid, "conclure_etude")
    fire(other, pid, "acter_accord")

    # The consultant is assigned before the action that requires one ("association" here).
    consultant = create_user(other, "consultant", name="Alex Expert")
    assign_independent_consultant(other, pid, consultant["id"])
    moved = fire(other, pid, "appeler_expert")
    assert moved["state"] == "visite"
    assert {d["state"] for d in moved["deadlines"] if d["status"] != "tenue"} == {"visite", None}

    # The report is written at the step its action leaves, then goes with the project.
    submit_report(other, moved)
    at_bureau = fire(other, pid, "remettre_dossier")
    assert at_bureau["state"] == "arbitrage"
    assert "rapport_expertise" in _types(other, pid)

    # Bureau members see the projects at the Bureau's step of *this* definition.
    member = client_for(other, bureau_members(other)[0]["id"])
    assert member.get(f"/api/v1/projects/{pid}").status_code == 200
    member_list = member.get("/api/v1/projects").json()
    assert [p["id"] for p in member_list["items"]] == [pid]

    decide(other, pid, "attribution")
    labelled = fire(other, pid, "reconnaitre")
    assert labelled["state"] == "reconnue"
    assert labelled["label_number"].startswith("PE-")
    assert "courrier_decision" in _types(other, pid)
    # A closed project ends the consultant's assignment: they no longer see it.
    assert labelled["consultant"] is None
    assert client_for(other, consultant["id"]).get(f"/api/v1/projects/{pid}").status_code == 404
    assert member.get(f"/api/v1/projects/{pid}").status_code == 404


def test_a_key_whose_file_is_gone_is_no_longer_offered(other: TestClient, app: Any) -> None:
    """The test definition stays in the database while its app runs; the main app, whose
    folder has no such file, keeps offering only its own definitions to new projects."""
    keys = {d["key"] for d in other.get("/api/v1/workflows").json()}
    assert keys == {"parcours-d-essai"}
    from_files = {
        d.key for d in sync_definitions(app.state.db, app.state.settings.workflows_dir).latest()
    }
    assert from_files == {"regie-de-quartier", "regie-de-territoire"}


def test_a_deferral_goes_back_to_the_step_the_definition_names(other: TestClient) -> None:
    pid = create_project(other)["id"]
    upload(other, pid, "note")
    fire(other, pid, "ouvrir_etude")
    attest(other, pid, "rencontre")
    fire(other, pid, "conclure_etude")
    fire(other, pid, "acter_accord")
    consultant = create_user(other, "consultant")
    assign_independent_consultant(other, pid, consultant["id"])
    submit_report(other, fire(other, pid, "appeler_expert"))
    fire(other, pid, "remettre_dossier")
    decide(other, pid, "ajournement", motivation="Consolider le modèle économique.")
    back = fire(other, pid, "renvoyer", comment="Consolider le modèle économique.")
    assert back["state"] == "association"
    assert back["label_number"] is None
    assert "courrier_decision" in _types(other, pid)
