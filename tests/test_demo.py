"""Demo data: realistic projects over every step and outcome, each one a valid workflow walk."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from bench.bulk import generate_bulk
from sqlalchemy import Engine
from sqlmodel import col, select

from labelflow import accounts, dates
from labelflow.db import transaction
from labelflow.demo.load import load_demo
from labelflow.demo.pdfs import make_pdf
from labelflow.demo.people import BUREAU
from labelflow.demo.team import DEMO_DOMAIN, DEMO_PASSWORD, demo_login_lines, demo_logins
from labelflow.models import Event, User
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.workflow import Engine as WorkflowEngine
from tests.conftest import empty_database, token_for

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


@dataclass
class LoadedDemo:
    """The demo, loaded once for the read-only tests of `TestTheLoadedDemo`."""

    ids: list[int]
    client: Any  # the demo's own administrator (API token)
    as_user: Callable[[User], Any]  # another client, acting as that demo account


@pytest.fixture(scope="class")
def demo(app: Any, db: Engine, settings: Settings) -> Iterator[LoadedDemo]:
    """Loading the demo costs about a second and a half: once for all the tests that only read
    it (they write nothing but API tokens and sign-ins), emptied when they are done."""
    from fastapi.testclient import TestClient

    empty_database(db, settings)
    ids = load_demo(db, app.state.workflows, store=app.state.store)
    opened: list[Any] = []

    def as_user(user: User) -> Any:
        other = TestClient(app)
        other.__enter__()
        other.headers["Authorization"] = f"Bearer {token_for(db, user)}"
        opened.append(other)
        return other

    admin = next(u for u in _demo_users(db) if u.is_admin)
    try:
        yield LoadedDemo(ids=ids, client=as_user(admin), as_user=as_user)
    finally:
        for other in opened:
            other.__exit__(None, None, None)
        empty_database(db, settings)


class _Text(HTMLParser):
    """What a reader sees of a page: its text, not its tags, scripts or text areas."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.skipping += tag in ("script", "style", "textarea")

    def handle_endtag(self, tag: str) -> None:
        self.skipping -= tag in ("script", "style", "textarea")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


# Plain spaces where French typography wants no-break ones, and « (s) » plurals.
_TYPOGRAPHY_FAULTS = re.compile(r"«(?!\u00a0)|(?<!\u00a0)»|[ \t\n][:;!?](?=\s|$)|\(s\)")


def typography_faults(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    text = "".join(parser.parts)
    return [text[max(0, m.start() - 40) : m.end() + 10] for m in _TYPOGRAPHY_FAULTS.finditer(text)]


def _projects(client: Any, ids: list[int]) -> list[dict[str, Any]]:
    projects = []
    for pid in ids:
        response = client.get(f"/api/v1/projects/{pid}")
        assert response.status_code == 200, response.text
        projects.append(response.json())
    return projects


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


def test_no_demo_logins_without_demo_data(client: Any, db: Engine) -> None:
    assert demo_logins(db) == []


class TestTheLoadedDemo:
    """What the loaded demo shows; read-only, so one load serves every test of the class."""

    def test_demo_covers_every_step_and_outcome(self, demo: LoadedDemo) -> None:
        client = demo.client
        demo_ids = demo.ids
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

    def test_every_demo_project_page_renders(self, demo: LoadedDemo) -> None:
        client = demo.client
        demo_ids = demo.ids
        for pid in demo_ids:
            response = client.get(f"/projects/{pid}", headers={"Accept": "text/html"})
            assert response.status_code == 200, (pid, response.text[:300])

    def test_the_labelled_project_has_its_label(self, demo: LoadedDemo) -> None:
        client = demo.client
        demo_ids = demo.ids
        labelled = [p for p in _projects(client, demo_ids) if p["state"] == "labellisee"]
        assert labelled
        for project in labelled:
            assert project["label_number"] and project["label_date"]

    def test_bureau_decisions_come_from_meetings_with_votes_and_letters(
        self, demo: LoadedDemo
    ) -> None:
        client = demo.client
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
            pid
            for pid in decided
            if client.get(f"/api/v1/projects/{pid}").json()["state"] == "refusee"
        ]
        assert refused
        assert client.get(f"/api/v1/projects/{refused[0]}/recusals").json()

    def test_one_project_was_deferred_back_to_prefiguration(self, demo: LoadedDemo) -> None:
        client = demo.client
        demo_ids = demo.ids
        deferred = []
        for pid in demo_ids:
            history = client.get(f"/api/v1/projects/{pid}/events").json()
            if any(e["action"] == "ajourner" for e in history):
                deferred.append(client.get(f"/api/v1/projects/{pid}").json())
        assert deferred
        assert any(p["state"] == "prefiguration" for p in deferred)

    def test_histories_are_dated_over_the_last_three_years(self, demo: LoadedDemo) -> None:
        client = demo.client
        demo_ids = demo.ids
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

    def test_every_project_follows_its_workflow(self, demo: LoadedDemo, app: Any) -> None:
        """Replaying the recorded transitions from the initial state reaches the current state."""
        client = demo.client
        demo_ids = demo.ids
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

    def test_demo_documents_are_real_pdfs(self, demo: LoadedDemo) -> None:
        client = demo.client
        demo_ids = demo.ids
        documents = client.get(f"/api/v1/projects/{demo_ids[0]}/documents").json()
        assert len(documents) >= 5
        content = client.get(documents[0]["download_url"])
        assert content.status_code == 200
        assert content.headers["content-type"] == "application/pdf"
        assert content.content.startswith(b"%PDF-1.4") and content.content.rstrip().endswith(
            b"%%EOF"
        )

    def test_demo_has_accounts_of_every_role(
        self, demo: LoadedDemo, db: Engine, settings: Settings
    ) -> None:
        demo_ids = demo.ids
        users = _demo_users(db)
        roles = Counter((u.role, u.is_admin) for u in users)
        assert roles[("staff", True)] == 1
        assert roles[("staff", False)] == 2  # one national, one regional
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

    def test_each_porteur_sees_exactly_their_project(self, demo: LoadedDemo, db: Engine) -> None:
        client = demo.client
        demo_ids = demo.ids
        client_as = demo.as_user
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
        self, demo: LoadedDemo, db: Engine
    ) -> None:
        client = demo.client
        demo_ids = demo.ids
        client_as = demo.as_user
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
        self, demo: LoadedDemo
    ) -> None:
        client = demo.client
        demo_ids = demo.ids
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

    def test_demo_events_record_real_accounts(self, demo: LoadedDemo, db: Engine) -> None:
        demo_ids = demo.ids
        names = {u.id: u.name for u in _demo_users(db)}
        with transaction(db, write=False) as session:
            events = session.exec(select(Event).where(col(Event.project_id).in_(demo_ids))).all()
        assert events
        assert all(e.actor_id in names and names[e.actor_id] == e.actor for e in events)
        roles = {u.id: u.role for u in _demo_users(db)}
        by_role = Counter(roles[e.actor_id] for e in events if e.actor_id is not None)
        assert by_role["staff"] and by_role["porteur"] and by_role["consultant"]

    def test_bureau_meetings_fall_on_working_days(self, demo: LoadedDemo) -> None:
        meetings = demo.client.get("/api/v1/bureau/meetings").json()
        held = [date.fromisoformat(m["held_on"]) for m in meetings]
        assert held and all(dates.is_working_day(day) for day in held), held

    def test_pages_follow_french_typography(self, demo: LoadedDemo, db: Engine) -> None:
        """No « (s) », and no-break spaces inside « » and before ; : ! ? on every page of the
        main flows, for every role."""
        html = {"Accept": "text/html"}
        urls = ["/", "/projects", "/projects/new", "/bureau", "/bureau/meetings", "/users"]
        urls += ["/workflows", "/workflows/regie-de-quartier", "/account", "/login"]
        for pid in demo.ids:
            urls += [f"/projects/{pid}", f"/projects/{pid}/history", f"/projects/{pid}/report"]
        users = _demo_users(db)
        clients = [demo.client] + [
            demo.as_user(next(u for u in users if u.role == role))
            for role in ("consultant", "porteur", "bureau")
        ]
        seen = 0
        for client in clients:
            for url in [*urls, "/assignments"]:
                response = client.get(url, headers=html)
                if response.status_code != 200:
                    continue
                seen += 1
                assert typography_faults(response.text) == [], url
        assert seen > 3 * len(demo.ids)

    def test_demo_logins_name_one_account_per_role(
        self, demo: LoadedDemo, db: Engine, settings: Settings
    ) -> None:
        logins = demo_logins(db)
        assert [login.role for login in logins] == [
            "staff",
            "consultant",
            "porteur",
            "bureau",
            "staff",
        ]
        # The regional team's login, and the région it sees.
        assert (logins[4].label, logins[4].project) == ("Équipe régionale", "Hauts-de-France")
        assert logins[0].email == "camille.roussel@demo.labelflow.fr"
        assert "(admin)" in logins[0].label
        assert logins[2].project  # the porteur's project, still in progress
        assert _sign_in(db, settings, logins[2].email) is not None

    def test_the_readme_logins_are_the_printed_ones_and_sign_in(
        self, demo: LoadedDemo, app: Any, db: Engine
    ) -> None:
        """The README's demo block is what `serve --demo` prints, and each of its pairs signs in
        through the login form, as a first visitor copying it would."""
        from fastapi.testclient import TestClient

        block = _readme_demo_block()
        defaults = Settings.model_fields
        where = f"http://{defaults['host'].default}:{defaults['port'].default}"
        assert block[0] == f"labelflow est disponible sur {where}"  # as `make run` prints it
        assert block[1:] == demo_login_lines(demo_logins(db))
        pairs = re.findall(r"^  .+?  (\S+@\S+) / (\S+)", "\n".join(block), re.M)
        assert len(pairs) == 5, block
        for email, password in pairs:
            with TestClient(app, follow_redirects=False) as browser:
                form = browser.get("/login")
                token = re.search(r'name="login_token" value="([^"]+)"', form.text)
                assert token, "the login form carries its anti-forgery field"
                signed = browser.post(
                    "/login",
                    data={"email": email, "password": password, "login_token": token.group(1)},
                )
                assert signed.status_code == 303, (email, signed.text)
                assert browser.get("/api/v1/me").json()["email"] == email
                assert browser.get("/").status_code == 200


def _readme_demo_block() -> list[str]:
    """The lines of the first code block under the README's « Demo logins » heading."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Demo logins", 1)[1]
    found = re.search(r"^```\n(.*?)^```", section, re.M | re.S)
    assert found, "no code block under « Demo logins »"
    return found.group(1).rstrip("\n").split("\n")
