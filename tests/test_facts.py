"""Facts and their subscribers: every fact goes through `events.record_fact`, its subscribers
run in the same transaction, and one that fails undoes the whole request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labelflow import consequences
from labelflow.actors import SYSTEM
from labelflow.errors import Conflict
from labelflow.events import KIND_LABELS, SUBSCRIBERS, Fact, Subscribers, record_fact
from tests.factories import (
    add_stakeholder,
    create_project,
    create_user,
    decide,
    events,
    fire,
    snapshot,
    walk_to,
)


@pytest.fixture
def seen() -> Iterator[list[Fact]]:
    """Every fact recorded during the test, as the subscribers receive it."""
    recorded: list[Fact] = []
    for kind in KIND_LABELS:
        SUBSCRIBERS.subscribe(kind, recorded.append)
    yield recorded
    consequences.install()  # back to the registry of the app


def test_every_kind_of_fact_reaches_its_subscribers(client: Any, seen: list[Fact]) -> None:
    project = create_project(client)
    pid = project["id"]
    client.patch(f"/api/v1/projects/{pid}", json={"name": "Régie de l'Alma-Gare"})
    client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections municipales."})
    client.post(f"/api/v1/projects/{pid}/resume", json={"comment": "Reprise."})
    deadline = client.get(f"/api/v1/projects/{pid}").json()["deadlines"][0]
    moved = client.patch(
        f"/api/v1/projects/{pid}/deadlines/{deadline['id']}",
        json={"due_on": deadline["due_on"], "reason": "Même date, pour l'historique."},
    )
    assert moved.status_code == 200, moved.text
    porteur = create_user(client, "porteur")
    linked = client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur["id"]})
    assert linked.status_code == 201, linked.text
    at_bureau = walk_to(client, project, "decision_bureau")
    decide(client, pid, "attribution")
    fire(client, pid, "attribuer_label")

    kinds = {fact.kind for fact in seen}
    expected = {
        "creation",
        "modification",
        "suspension",
        "reprise",
        "echeance",
        "compte",
        "membre",
        "partie_prenante",
        "membre_ca",
        "attestation",
        "document",
        "consultant",
        "rapport",
        "transition",
        "reunion",
        "decision",
    }
    assert expected <= kinds, expected - kinds
    # The project's facts are its history (a subscriber's own facts, such as the report's PDF,
    # come after the fact that caused them); the others belong to no project.
    history = [e["id"] for e in events(client, pid)]
    assert sorted(f.event.id for f in seen if f.event.project_id == pid) == history
    assert {f.kind for f in seen if f.project is None} == {"compte", "reunion"}
    transitions = [f for f in seen if f.kind == "transition"]
    assert all(f.definition is not None and f.project is not None for f in transitions)
    assert at_bureau["state"] == "decision_bureau"


def test_a_failing_subscriber_fails_the_request_and_nothing_is_kept(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    for college in ("habitants", "collectivite", "bailleur"):
        add_stakeholder(client, pid, college)
    before = snapshot(client, pid)

    def refuse(fact: Fact) -> None:
        raise Conflict("Refusé par un abonné de test.")

    SUBSCRIBERS.subscribe("transition", refuse)
    SUBSCRIBERS.subscribe("partie_prenante", refuse)
    try:
        abandoned = client.post(
            f"/api/v1/projects/{pid}/transitions",
            json={"action": "abandonner", "comment": "Plus de porteur."},
        )
        added = client.post(
            f"/api/v1/projects/{pid}/stakeholders",
            json={"name": "Amicale des locataires", "college": "habitants"},
        )
    finally:
        consequences.install()
    assert abandoned.status_code == 409, abandoned.text
    assert abandoned.json()["error"]["message"] == "Refusé par un abonné de test."
    assert added.status_code == 409, added.text
    assert snapshot(client, pid) == before  # state, version, history and records unchanged


def test_a_fact_recorded_before_the_subscribers_are_installed_is_refused(client: Any) -> None:
    # A forgotten install() would silently skip every consequence: it raises instead.
    registry = Subscribers()
    with pytest.raises(RuntimeError, match="install"):
        registry.publish(
            Fact(session=None, event=None, actor=SYSTEM, project=None, definition=None)
        )  # type: ignore[arg-type]
    consequences.install(registry)
    assert [s.__qualname__ for s in registry.of("transition")][0] == "on_transition"


def test_an_unknown_kind_of_fact_is_a_programming_error(client: Any) -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        record_fact(client.app.state.db, kind="inconnu", actor=SYSTEM)  # type: ignore[arg-type]
