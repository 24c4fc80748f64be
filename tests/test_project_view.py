"""The project's JSON and page, cached in each process under the tokens the facts change
(`project_view`, `cache`): every kind of fact, committed through this process's app, shows at
once in the JSON and the page of another server process on the same database — run with its
cache check off, so that a stale view would be served as it is — and a day passing shows in
both without any fact. The statements per request: `tests/test_statements.py`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from labelflow import dates
from labelflow.french import typeset
from labelflow.settings import Settings
from tests.conftest import make_user, token_for
from tests.factories import (
    add_stakeholder,
    assign,
    client_for,
    create_project,
    declare,
    fire,
    unmet_codes,
    upload,
    walk_to,
)
from tests.serving import LABELFLOW, free_port, running


@pytest.fixture
def other_process(
    database_url: str, settings: Settings, tmp_path: Path, anonymous: Any
) -> Iterator[str]:
    """`labelflow serve` on the tests' database, its cache check off (a stale view is served)."""
    env = {
        **os.environ,
        "LABELFLOW_DATABASE_URL": database_url,
        "LABELFLOW_DATA_DIR": str(settings.data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
        "LABELFLOW_CACHE_CHECK": "false",
        "PYTHONUNBUFFERED": "1",
    }
    port = free_port()
    argv = [LABELFLOW, "serve", "--port", str(port)]
    with running(argv, port=port, env=env, log_path=tmp_path / "serve.log", ready_within=120) as b:
        yield b


class Seen:
    """The project as the other process serves it (each read twice: the second from its cache)."""

    def __init__(self, http: httpx.Client, project_id: int) -> None:
        self.http, self.url = http, f"/projects/{project_id}"

    def json(self) -> dict[str, Any]:
        for _ in range(2):
            response = self.http.get("/api/v1" + self.url)
            assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def page(self) -> str:
        for _ in range(2):
            response = self.http.get(self.url)
            assert response.status_code == 200, response.text
        return unescape(response.text)


def test_every_fact_shows_at_once_in_another_process(
    client: Any, db: Engine, other_process: str
) -> None:
    project = create_project(client, name="Régie des Tilleuls")
    pid = project["id"]
    owner = client.get("/api/v1/me").json()
    with httpx.Client(
        base_url=other_process, headers={"Authorization": client.headers["Authorization"]}
    ) as http:
        seen = Seen(http, pid)
        assert seen.json()["state"] == "groupe_projet"
        assert "Collectif des Tilleuls" not in seen.page()

        # A record: the page lists it, the checklist counts it.
        assert "habitants" in str(unmet_codes(seen.json(), "lancer_faisabilite"))
        add_stakeholder(client, pid, "habitants", name="Collectif des Tilleuls")
        assert "Collectif des Tilleuls" in seen.page()
        assert "stakeholders_habitants" not in unmet_codes(seen.json(), "lancer_faisabilite")

        # A document added, then refused: the checklist follows both.
        before = unmet_codes(seen.json(), "lancer_faisabilite")
        document = upload(client, pid, "note_cadrage", filename="note-des-tilleuls.pdf")
        assert "note-des-tilleuls.pdf" in seen.page()
        after = unmet_codes(seen.json(), "lancer_faisabilite")
        assert len(after) == len(before) - 1
        review = client.post(
            f"/api/v1/documents/{document['id']}/review",
            json={"status": "rejected", "comment": "Note illisible"},
        )
        assert review.status_code == 200, review.text
        assert "Note illisible" in seen.page()
        assert unmet_codes(seen.json(), "lancer_faisabilite") == before

        # A transition.
        walk_to(client, client.get(f"/api/v1/projects/{pid}").json(), "faisabilite")
        assert seen.json()["state"] == "faisabilite"
        assert "Étape 2/6" in seen.page()

        # A deadline moved.
        step = next(
            d for d in seen.json()["deadlines"] if d["kind"] == "etape" and not d["closed_on"]
        )
        new_due = (date.fromisoformat(step["due_on"]) + timedelta(days=45)).isoformat()
        moved = client.patch(
            f"/api/v1/projects/{pid}/deadlines/{step['id']}",
            json={"due_on": new_due, "reason": "Report des élections municipales"},
        )
        assert moved.status_code == 200, moved.text
        assert new_due in [d["due_on"] for d in seen.json()["deadlines"]]
        assert "Report des élections municipales" in seen.page()

        # A message posted by a porteur, then read by the viewer elsewhere.
        porteur = make_user(db, role="porteur", name="Nadia Porteuse")
        linked = client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
        assert linked.status_code in (200, 201), linked.text
        assert "Nadia Porteuse" in seen.page()
        from_porteur = httpx.Client(
            base_url=other_process, headers={"Authorization": f"Bearer {token_for(db, porteur)}"}
        )
        with from_porteur:
            posted = from_porteur.post(
                f"/api/v1/projects/{pid}/messages", json={"body": "Où en est notre dossier ?"}
            )
        assert posted.status_code == 201, posted.text
        view = seen.json()
        assert (view["unread_messages"], view["awaiting_reply_from"]) == (1, "equipe")
        assert "Où en est notre dossier" in seen.page()
        # The page read it: the JSON says so at once.
        assert seen.json()["unread_messages"] == 0
        assert client.post(f"/api/v1/projects/{pid}/messages/read").status_code == 204

        # The chargé·e de suivi renamed (an account's fact, no project's).
        assert seen.json()["staff_owner"]["name"] == owner["name"]
        renamed = client.patch(f"/api/v1/users/{owner['id']}", json={"name": "Camille Roussel-Ba"})
        assert renamed.status_code == 200, renamed.text
        assert seen.json()["staff_owner"]["name"] == "Camille Roussel-Ba"
        assert "Camille Roussel-Ba" in seen.page()

        # A consultant assigned (at the step where one may be).
        walk_to(client, client.get(f"/api/v1/projects/{pid}").json(), "prefiguration")
        consultant = make_user(db, role="consultant", name="Bastien Expert")
        assert seen.json()["consultant"] is None
        assignment = assign(client, pid, consultant.id or 0)
        assert "Bastien Expert" in seen.page()  # solicited, pending their declaration
        declare(client_for(client, consultant.id or 0), assignment["id"])
        assert seen.json()["consultant"]["name"] == "Bastien Expert"

        # A suspension.
        suspended = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Pause"})
        assert suspended.status_code == 200, suspended.text
        assert seen.json()["suspended"] is True
        assert typeset("Le projet est suspendu") in seen.page()


def test_a_day_passing_makes_a_deadline_overdue_without_any_fact(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    step = next(d for d in project["deadlines"] if d["kind"] == "etape")
    due = date.fromisoformat(step["due_on"])
    for _ in range(2):  # the second from the cache
        view = client.get(f"/api/v1/projects/{pid}").json()
        page = client.get(f"/projects/{pid}").text
    assert view["overdue"] is False and "En retard" not in page
    with dates.frozen(datetime.combine(due + timedelta(days=1), time(12), tzinfo=UTC)):
        view = client.get(f"/api/v1/projects/{pid}").json()
        page = client.get(f"/projects/{pid}").text
    assert view["overdue"] is True
    assert [d["status"] for d in view["deadlines"] if d["id"] == step["id"]] == ["en_retard"]
    assert "En retard" in page


def test_a_transition_shows_in_the_next_request_of_the_same_process(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    assert client.get(f"/api/v1/projects/{pid}").json()["suspended"] is False
    before = unescape(client.get(f"/projects/{pid}").text)
    fire(client, pid, "abandonner", comment="Le groupe projet s'est dissous.")
    view = client.get(f"/api/v1/projects/{pid}").json()
    assert view["state"] == "abandonnee"
    badge = f'<span class="badge badge--muted">{view["state_label"]}</span>'
    assert badge not in before
    assert badge in unescape(client.get(f"/projects/{pid}").text)
