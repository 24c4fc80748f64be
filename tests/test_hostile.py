"""Hostile input from the OpenAPI schema: schemathesis generates requests for every operation
(valid and invalid bodies, parameters, ids) and sends each one as every role — staff admin,
staff, consultant, porteur, Bureau member — against the real app and database; none may get a
server error. Bounded: a few examples per operation, derandomized (the same run every time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import settings as settings_
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine

from labelflow.settings import Settings
from tests.conftest import empty_database, make_user, token_for
from tests.factories import complete_groupe_projet, create_project

ROLES = {
    "staff_admin": {"role": "staff", "is_admin": True},
    "staff": {"role": "staff"},
    "consultant": {"role": "consultant"},
    "porteur": {"role": "porteur"},
    "bureau": {"role": "bureau"},
}
EXAMPLES_PER_OPERATION = 6


@pytest.fixture(scope="module")
def role_headers(app: Any, db: Engine, settings: Settings) -> Iterator[dict[str, dict[str, str]]]:
    """A token per role, and a project the porteur belongs to (ids 1, 2… exist to be hit)."""
    from fastapi.testclient import TestClient

    empty_database(db, settings)
    tokens = {name: token_for(db, make_user(db, name=name, **kind)) for name, kind in ROLES.items()}
    headers = {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}
    with TestClient(app) as client:
        client.headers.update(headers["staff_admin"])
        for _ in range(2):
            project = create_project(client)
            complete_groupe_projet(client, project)
        porteur = client.get("/api/v1/me", headers=headers["porteur"]).json()
        client.post(f"/api/v1/projects/{project['id']}/members", json={"user_id": porteur["id"]})
    yield headers
    empty_database(db, settings)


def test_no_request_gets_a_server_error_whatever_the_role(
    app: Any, role_headers: dict[str, dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    answered: dict[str, set[int]] = {role: set() for role in role_headers}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            for role, headers in role_headers.items():
                response = case.call(headers=headers)
                answered[role].add(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{role} {case.method} {case.formatted_path} "
                        f"query={case.query} body={str(case.body)[:200]} → "
                        f"{response.status_code} {response.text[:300]}"
                    )

        run()
    assert not failures, "\n".join(failures[:30])
    # Every role was signed in (some successes) and refused somewhere (its limits exercised).
    for role, statuses in answered.items():
        assert any(200 <= s < 300 for s in statuses), (role, statuses)
        assert statuses & {401, 403, 404, 409, 422}, (role, statuses)


# --- a rule-based state machine over (role, action, project, concurrent request) ---------------

ACTIONS = [
    "lancer_faisabilite",
    "soumettre_validation",
    "valider_projet",
    "demander_expertise",
    "abandonner",
    "inconnue",
]
STATES = {
    "groupe_projet", "faisabilite", "validation", "prefiguration", "expertise",
    "decision_bureau", "labellisee", "refusee", "abandonnee",
}  # fmt: skip


class Projects(RuleBasedStateMachine):
    """Staff create projects and complete their first step; every role fires actions, alone
    or two at once; after each step: the state is one of the definition's, one event per
    transition that succeeded, the version only grows, and each role lists exactly the
    projects the visibility rule gives it."""

    app: Any
    db: Engine
    settings: Settings
    projects = Bundle("projects")

    def __init__(self) -> None:
        super().__init__()
        from fastapi.testclient import TestClient

        empty_database(self.db, self.settings)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.headers = {
            name: {"Authorization": f"Bearer {token_for(self.db, make_user(self.db, **kind))}"}
            for name, kind in ROLES.items()
        }
        self.porteur_id = self.call("porteur", "GET", "/api/v1/me").json()["id"]
        self.versions: dict[int, int] = {}
        self.moves: dict[int, int] = {}
        self.member_of: set[int] = set()

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)
        empty_database(self.db, self.settings)

    def call(self, role: str, method: str, path: str, **kw: Any) -> Any:
        response = self.client.request(method, path, headers=self.headers[role], **kw)
        assert response.status_code < 500, (role, method, path, response.text)
        return response

    @rule(target=projects, kind=st.sampled_from(["quartier", "territoire"]))
    def create(self, kind: str) -> int:
        created = self.call("staff", "POST", "/api/v1/projects", json=_project_body(kind))
        assert created.status_code == 201, created.text
        pid = int(created.json()["id"])
        self.versions[pid], self.moves[pid] = created.json()["version"], 0
        return pid

    @rule(pid=projects)
    def complete_first_step(self, pid: int) -> None:
        project = self.call("staff", "GET", f"/api/v1/projects/{pid}").json()
        if project["state"] == "groupe_projet":
            # The factory posts with the client's own headers: a staff administrator's.
            self.client.headers.update(self.headers["staff_admin"])
            complete_groupe_projet(self.client, project)
            del self.client.headers["Authorization"]

    @rule(pid=projects)
    def link_porteur(self, pid: int) -> None:
        linked = self.call(
            "staff_admin",
            "POST",
            f"/api/v1/projects/{pid}/members",
            json={"user_id": self.porteur_id},
        )
        assert linked.status_code in (200, 201, 409), linked.text
        self.member_of.add(pid)

    @rule(
        pid=projects,
        role=st.sampled_from(list(ROLES)),
        action=st.sampled_from(ACTIONS),
        concurrent=st.booleans(),
    )
    def fire(self, pid: int, role: str, action: str, concurrent: bool) -> None:
        body = {"action": action, "comment": "Décision du comité."}
        path = f"/api/v1/projects/{pid}/transitions"
        if not concurrent:
            answers = [self.call(role, "POST", path, json=body)]
        else:
            answers = [None, None]

            def post(i: int) -> None:
                answers[i] = self.call(role, "POST", path, json=body)

            threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        won = sum(1 for a in answers if a is not None and a.status_code == 200)
        assert won <= 1, [a.text for a in answers if a is not None]
        if role not in ("staff", "staff_admin"):
            assert won == 0
        self.moves[pid] += won

    @invariant()
    def every_project_agrees_with_its_history(self) -> None:
        for pid, version in self.versions.items():
            project = self.call("staff", "GET", f"/api/v1/projects/{pid}").json()
            assert project["state"] in STATES
            assert project["version"] >= version
            self.versions[pid] = project["version"]
            history = self.call("staff", "GET", f"/api/v1/projects/{pid}/events").json()
            assert sum(1 for e in history if e["kind"] == "transition") == self.moves[pid]

    @invariant()
    def each_role_sees_what_the_visibility_rule_gives_it(self) -> None:
        everyone = set(self.versions)
        expected = {
            "staff_admin": everyone,
            "staff": everyone,
            "porteur": self.member_of,
            "consultant": set(),  # none assigned
            "bureau": {
                pid
                for pid in everyone
                if self.call("staff", "GET", f"/api/v1/projects/{pid}").json()["state"]
                == "decision_bureau"
            },
        }
        for role, ids in expected.items():
            listed = self.call(role, "GET", "/api/v1/projects", params={"limit": 100})
            assert listed.status_code in (200, 403), listed.text
            if listed.status_code == 200:
                assert {p["id"] for p in listed.json()["items"]} == ids, role
            for pid in everyone - ids:
                assert self.call(role, "GET", f"/api/v1/projects/{pid}").status_code == 404


def _project_body(kind: str) -> dict[str, Any]:
    from tests.factories import QUARTIER, TERRITOIRE

    return dict(TERRITOIRE if kind == "territoire" else QUARTIER)


def test_the_state_machine_keeps_the_invariants(app: Any, db: Engine, settings: Settings) -> None:
    Projects.app, Projects.db, Projects.settings = app, db, settings
    run_state_machine_as_test(
        Projects,
        settings=settings_(
            max_examples=8,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
