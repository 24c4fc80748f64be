"""Hostile input from the OpenAPI schema, as every role — staff admin, staff, consultant,
porteur, Bureau member — against the real app and database; none may get a server error:

- schemathesis generates requests for every operation (valid and invalid bodies, parameters,
  ids) and sends each one as every role;
- schemathesis' stateful phase chains operations through the schema's links, with the ids the
  previous answers gave, each answer checked against the schema;
- a Hypothesis state machine fires actions on projects, alone or two at once, and checks the
  invariants of the workflow and of the visibility rule.

Bounded: a few examples per operation, a few scenarios per role, derandomized (the same run
every time).
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import settings as settings_
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_schema_conformance,
    use_after_free,
)
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from labelflow import dates
from labelflow.settings import Settings
from tests.conftest import KEEP_TABLES, empty_database, make_user, token_for
from tests.factories import (
    complete_groupe_projet,
    complete_prefiguration,
    create_project,
    fire,
    walk_to,
)

ROLES = {
    "staff_admin": {"role": "staff", "is_admin": True},
    "staff": {"role": "staff"},
    "consultant": {"role": "consultant"},
    "porteur": {"role": "porteur"},
    "bureau": {"role": "bureau"},
}
EXAMPLES_PER_OPERATION = 6


@dataclass
class Seed:
    """The accounts' tokens and what the database held once seeded (rows and document files),
    to put back before each stateful scenario."""

    headers: dict[str, dict[str, str]]
    rows: dict[str, list[dict[str, Any]]]
    files: Path


@pytest.fixture(scope="module")
def seed(
    app: Any, db: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seed]:
    """A token per role and four projects for them (ids 1, 2… exist to be hit): one whose first
    step is complete, one at « faisabilité » the porteur belongs to, one at « expertise » with
    the consultant's assignment, one before the Bureau, which has a meeting convened."""
    from fastapi.testclient import TestClient

    empty_database(db, settings)
    users = {name: make_user(db, name=name, **kind) for name, kind in ROLES.items()}
    headers = {name: {"Authorization": f"Bearer {token_for(db, u)}"} for name, u in users.items()}
    with TestClient(app) as client:
        client.headers.update(headers["staff_admin"])
        complete_groupe_projet(client, create_project(client))
        followed = create_project(client)
        added = client.post(
            f"/api/v1/projects/{followed['id']}/members", json={"user_id": users["porteur"].id}
        )
        assert added.status_code == 201, added.text
        walk_to(client, followed, "faisabilite")  # the porteur is told: a notification
        expertise = walk_to(client, create_project(client, kind="territoire"), "prefiguration")
        complete_prefiguration(client, expertise, consultant_id=users["consultant"].id)
        fire(client, expertise["id"], "demander_expertise")
        walk_to(client, create_project(client), "decision_bureau")
        convened = client.post(
            "/api/v1/bureau/meetings",
            json={"held_on": (dates.today() + timedelta(days=14)).isoformat()},
        )
        assert convened.status_code == 201, convened.text
    files = tmp_path_factory.mktemp("seeded-documents")
    shutil.copytree(settings.resolved_documents_dir, files, dirs_exist_ok=True)
    yield Seed(headers=headers, rows=table_rows(db), files=files)
    empty_database(db, settings)


def table_rows(db: Engine) -> dict[str, list[dict[str, Any]]]:
    with db.connect() as conn:
        return {
            table.name: [dict(row) for row in conn.execute(table.select()).mappings()]
            for table in SQLModel.metadata.sorted_tables
            if table.name not in KEEP_TABLES
        }


def put_back(seed: Seed, db: Engine, settings: Settings) -> None:
    """The database and the documents as the seed left them (the same ids: PostgreSQL's
    sequences set past them)."""
    empty_database(db, settings)
    with db.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if seed.rows.get(table.name):
                conn.execute(table.insert(), seed.rows[table.name])
                if db.dialect.name == "postgresql" and "id" in table.c:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                            f'(SELECT max(id) FROM "{table.name}"))'
                        )
                    )
    shutil.copytree(seed.files, settings.resolved_documents_dir, dirs_exist_ok=True)


def test_no_request_gets_a_server_error_whatever_the_role(app: Any, seed: Seed) -> None:
    role_headers = seed.headers
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


# --- schemathesis' stateful phase: chains of linked operations, as every role ------------------

# The checks of every answer: no server error; a body and a content type as the schema documents
# them (a refusal's too: each operation's `default` answer is the API's error body); no resource
# gone after it was created, nor found after it was deleted.
STATEFUL_CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    use_after_free,
    ensure_resource_availability,
]
SCENARIOS_PER_ROLE = 25
STEPS_PER_SCENARIO = 8


@pytest.mark.parametrize("role", list(ROLES))
def test_linked_requests_get_no_server_error(
    app: Any, db: Engine, settings: Settings, seed: Seed, role: str
) -> None:
    """schemathesis' stateful phase as `role`: each scenario starts from the seeded database and
    chains operations through the OpenAPI links (`web/openapi.py`) and those schemathesis infers
    — a project listed or created, then its documents, messages, transitions… — with the ids
    the previous answers gave."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    answered: Counter[int] = Counter()
    # The operations on one resource (a path parameter) that succeeded: reached through a link.
    reached: set[str] = set()

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # The same database at every scenario's start, so that Hypothesis replays the same
            # answers for the same draws.
            put_back(seed, db, settings)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": seed.headers[role]}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            answered[response.status_code] += 1
            if case.path_parameters and response.status_code < 300:
                reached.add(f"{case.method} {case.path}")
            case.validate_response(
                response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs, recorder=self.recorder
            )

    Scenario.run(
        settings=settings_(
            max_examples=SCENARIOS_PER_ROLE,
            stateful_step_count=STEPS_PER_SCENARIO,
            phases=[Phase.generate],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The links led into a project the role sees (its id from an earlier answer: the list, a
    # notification, an assignment, the agenda…), and the role's limits were met (refusals).
    assert any("{project_id}" in operation for operation in reached), (reached, answered)
    assert any(400 <= status < 500 for status in answered), answered


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
