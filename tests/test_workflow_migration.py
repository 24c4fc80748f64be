"""Running projects moved to a newer version of their definition: the plan (dry run), applying
it project by project, a renamed state, a project changed meanwhile, the draft report's grid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event
from sqlmodel import Session, select

from labelflow import dates, stats, workflow_migration
from labelflow.actors import SYSTEM
from labelflow.db import transaction
from labelflow.errors import NotFound
from labelflow.models import Project, StepPass, WorkflowVersion
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app
from labelflow.workflow import Engine as WorkflowEngine
from labelflow.workflow import WorkflowError, load_directory
from tests import factories as f
from tests.migration_fixtures import (
    KEY,
    NEXT,
    RENAMED,
    SHIPPED,
    projects_in_every_state,
    write_next_version,
)
from tests.test_cli import run


@pytest.fixture
def forget_new_versions(db: Engine) -> Iterator[None]:
    yield
    with transaction(db) as session:
        session.exec(delete(WorkflowVersion).where(WorkflowVersion.version > SHIPPED))  # type: ignore[call-overload]


@pytest.fixture
def next_app(settings: Settings, db: Engine, tmp_path: Path, forget_new_versions: None) -> Any:
    directory = write_next_version(tmp_path)
    return create_app(settings.model_copy(update={"workflows_dir": directory}), db=db)


def _plan(db: Engine, engine: WorkflowEngine, **kw: Any) -> workflow_migration.MigrationPlan:
    with transaction(db, write=False) as session:
        return workflow_migration.plan_migration(
            session, engine=engine, actor=SYSTEM, key=KEY, to_version=NEXT, **kw
        )


def _apply(
    db: Engine, engine: WorkflowEngine, plan: workflow_migration.MigrationPlan
) -> dict[int, workflow_migration.Outcome]:
    outcomes = workflow_migration.apply_plan(
        plan, engine=engine, actor=SYSTEM, each=lambda: transaction(db)
    )
    return {o.project_id: o for o in outcomes}


def test_dry_run_then_apply_over_projects_in_every_state(
    client: Any, db: Engine, next_app: Any
) -> None:
    made = projects_in_every_state(client)
    ids = {name: p["id"] for name, p in made.items()}
    before = {pid: client.get(f"/api/v1/projects/{pid}").json() for pid in ids.values()}
    engine = next_app.state.workflows

    plan = _plan(db, engine)
    by_id = {p.project_id: p for p in plan.projects}
    assert set(by_id) == set(ids.values())
    # Closed projects keep their version, with the reason.
    for name in ("attribution", "refus", "abandon"):
        assert by_id[ids[name]].refused is not None
        assert "clos" in (by_id[ids[name]].refused or "")
    movable = {p.project_id for p in plan.movable}
    assert movable == {
        ids[n]
        for n in (
            "groupe_projet",
            "faisabilite",
            "suspendu",
            "validation",
            "prefiguration",
            "expertise",
            "decision_bureau",
        )
    }
    # The renamed state follows the migration section; the others keep their key.
    old, new = RENAMED
    assert by_id[ids["faisabilite"]].state_before == old
    assert by_id[ids["faisabilite"]].state_after == new
    assert by_id[ids["suspendu"]].state_after == new
    assert by_id[ids["validation"]].state_after == "validation"
    # Criteria: convention_amo no longer needed at the first step, the charter now is.
    assert [c.code for c in by_id[ids["groupe_projet"]].became_met] == [
        "attestation_convention_amo"
    ]
    assert [c.code for c in by_id[ids["prefiguration"]].became_unmet] == [
        "attestation_charte_signee"
    ]
    assert by_id[ids["validation"]].became_unmet == by_id[ids["validation"]].became_met == []
    # Deadlines: the préfiguration's target shrinks by two months, the label's grows by four.
    pref = {d.kind: d for d in by_id[ids["prefiguration"]].deadlines}
    entered = dates.paris_date(_project_row(db, ids["prefiguration"]).entered_state_at)
    assert pref["etape"].due_after == dates.add_months(entered, 12)
    assert pref["etape"].due_before == dates.add_months(entered, 14)
    created = dates.paris_date(_project_row(db, ids["prefiguration"]).created_at)
    assert pref["label"].due_after == dates.add_months(created, 40)
    # The renamed step's deadlines (open and closed) take the new key.
    renamed = [d for d in by_id[ids["validation"]].deadlines if d.kind == "etape"]
    assert [(d.state_before, d.state_after) for d in renamed] == [(old, new)]
    # The draft report is carried to the new grid; the submitted one is not.
    carry = by_id[ids["expertise"]].report
    assert carry is not None
    assert "vie_de_quartier" in carry["new"] and "pouvoir_d_agir" in carry["dropped"]
    assert "engagement_collectivite" not in carry["carried"]
    assert by_id[ids["decision_bureau"]].report is None

    # The dry run changed nothing.
    for pid, seen in before.items():
        assert client.get(f"/api/v1/projects/{pid}").json()["version"] == seen["version"]

    outcomes = _apply(db, engine, plan)
    assert {pid for pid, o in outcomes.items() if o.status == "migre"} == movable
    with TestClient(next_app, headers=dict(client.headers)) as next_client:
        for pid in movable:
            project = next_client.get(f"/api/v1/projects/{pid}").json()
            assert project["workflow_version"] == NEXT
            assert project["version"] == before[pid]["version"] + 1
            assert project["state"] == by_id[pid].state_after
            history = f.events(next_client, pid)
            fact = history[-1]
            assert fact["kind"] == "migration"
            assert fact["actor"] == SYSTEM.name
            assert fact["data"]["from_version"] == SHIPPED
            assert fact["data"]["to_version"] == NEXT
        for name in ("attribution", "refus", "abandon"):
            closed = next_client.get(f"/api/v1/projects/{ids[name]}").json()
            assert closed["workflow_version"] == SHIPPED
        # The suspended project stays suspended, on its renamed step.
        suspended = next_client.get(f"/api/v1/projects/{ids['suspendu']}").json()
        assert suspended["suspended"] and suspended["state"] == new
        # Its checklist is the new version's: the renamed step's action is there.
        faisabilite = next_client.get(f"/api/v1/projects/{ids['faisabilite']}").json()
        assert [a["action"] for a in faisabilite["actions"]][0] == "soumettre_validation"
        pref_after = next_client.get(f"/api/v1/projects/{ids['prefiguration']}").json()
        due = {(d["kind"], d["state"]): d["due_on"] for d in pref_after["deadlines"]}
        assert due[("etape", "prefiguration")] == dates.add_months(entered, 12).isoformat()
        assert due[("label", None)] == dates.add_months(created, 40).isoformat()
        codes = {u["code"] for a in pref_after["actions"] for u in a["unmet"]}
        assert "attestation_charte_signee" in codes
        validation = next_client.get(f"/api/v1/projects/{ids['validation']}").json()
        assert (
            "etape",
            new,
        ) in {(d["kind"], d["state"]) for d in validation["deadlines"]}
        # The renamed step moves on with the new version's action.
        f.complete_faisabilite(next_client, faisabilite)
        f.fire(next_client, ids["faisabilite"], "soumettre_validation")

        # The consultant's draft now follows the new grid: answers kept, the new criterion shown.
        consultant = f.consultant_client(next_client, ids["expertise"])
        report = consultant.get(f"/api/v1/projects/{ids['expertise']}/report").json()
        criteria = {c["key"]: c for t in report["themes"] for c in t["criteria"]}
        assert "pouvoir_d_agir" not in criteria
        assert criteria["vie_de_quartier"]["new"] is True
        assert criteria["vie_de_quartier"]["assessment"] is None
        assert criteria["majorite_presidence_habitants"]["assessment"] == "satisfaisant"
        assert criteria["majorite_presidence_habitants"]["new"] is False
        page = consultant.get(f"/projects/{ids['expertise']}/report")
        assert "Nouveau critère" in page.text
        # The report Bureau members read keeps the grid it was submitted on.
        bureau = next_client.get(f"/api/v1/projects/{ids['decision_bureau']}/report").json()
        assert "pouvoir_d_agir" in {c["key"] for t in bureau["themes"] for c in t["criteria"]}

    # The passes behind the figures follow the renamed state, and a replay of the histories
    # gives the same.
    def passes() -> list[tuple[int, str]]:
        with Session(db) as session:
            rows = session.exec(select(StepPass.project_id, StepPass.state)).all()
            return sorted((int(pid), state) for pid, state in rows)

    kept = passes()
    assert (ids["validation"], new) in kept and (ids["validation"], old) not in kept
    with transaction(db) as session:
        stats.rebuild_passes(session)
    assert passes() == kept

    # Nothing left to move: a second plan lists only the closed projects.
    again = _plan(db, engine)
    assert {p.project_id for p in again.movable} == set()


def _project_row(db: Engine, project_id: int) -> Project:
    with Session(db) as session:
        project = session.get(Project, project_id)
        assert project is not None
        return project


def test_a_project_changed_during_the_migration_is_skipped_and_reported(
    client: Any, db: Engine, next_app: Any
) -> None:
    first = f.create_project(client, name="Premier")
    changed = f.create_project(client, name="Changé pendant la migration")
    last = f.create_project(client, name="Dernier")
    engine = next_app.state.workflows
    plan = _plan(db, engine)
    assert [p.project_id for p in plan.movable] == [first["id"], changed["id"], last["id"]]

    @contextmanager
    def each() -> Iterator[Session]:
        # Another writer commits a change to the second project just before its turn.
        opened = each.calls  # type: ignore[attr-defined]
        each.calls += 1  # type: ignore[attr-defined]
        if opened == 1:
            r = client.patch(f"/api/v1/projects/{changed['id']}", json={"name": "Renommé"})
            assert r.status_code == 200, r.text
        with transaction(db) as session:
            yield session

    each.calls = 0  # type: ignore[attr-defined]
    outcomes = {
        o.project_id: o
        for o in workflow_migration.apply_plan(plan, engine=engine, actor=SYSTEM, each=each)
    }
    assert outcomes[first["id"]].status == "migre"
    assert outcomes[last["id"]].status == "migre"
    skipped = outcomes[changed["id"]]
    assert skipped.status == "ignore"
    assert "changé depuis le plan" in (skipped.reason or "")
    # Never half-migrated: still on the shipped version, its change kept, no migration fact.
    project = client.get(f"/api/v1/projects/{changed['id']}").json()
    assert project["workflow_version"] == SHIPPED
    assert project["name"] == "Renommé"
    assert "migration" not in {e["kind"] for e in f.events(client, changed["id"])}
    # A new plan takes it.
    retry = _plan(db, engine, project_ids=[changed["id"]])
    assert _apply(db, engine, retry)[changed["id"]].status == "migre"


def test_a_state_the_new_version_lacks_is_refused_with_the_reason(
    client: Any, db: Engine, settings: Settings, tmp_path: Path, forget_new_versions: None
) -> None:
    # No migration section: the renamed state has nowhere to go, its projects stay.
    stuck = f.walk_to(client, f.create_project(client, name="Bloqué"), RENAMED[0])
    fine = f.create_project(client, name="Au départ")
    directory = write_next_version(tmp_path, mapping=False)
    engine = create_app(settings.model_copy(update={"workflows_dir": directory}), db=db)
    plan = _plan(db, engine.state.workflows)
    by_id = {p.project_id: p for p in plan.projects}
    assert by_id[fine["id"]].movable
    assert by_id[stuck["id"]].refused == (
        "L'état « Étude de faisabilité » n'existe pas dans la version 4, et sa section "
        "« migration » ne dit pas où vont ses projets."
    )
    outcomes = _apply(db, engine.state.workflows, plan)
    assert outcomes[stuck["id"]].status == "refuse"
    assert client.get(f"/api/v1/projects/{stuck['id']}").json()["workflow_version"] == SHIPPED


def test_projects_named_must_exist_and_the_version_must_be_known(
    client: Any, db: Engine, next_app: Any
) -> None:
    project = f.create_project(client)
    engine = next_app.state.workflows
    with transaction(db, write=False) as session:
        with pytest.raises(NotFound):
            workflow_migration.plan_migration(
                session, engine=engine, actor=SYSTEM, key=KEY, to_version=NEXT + 5
            )
        with pytest.raises(NotFound):
            workflow_migration.plan_migration(
                session,
                engine=engine,
                actor=SYSTEM,
                key=KEY,
                to_version=NEXT,
                project_ids=[project["id"], 999_999],
            )
    plan = _plan(db, engine, project_ids=[project["id"]])
    assert _apply(db, engine, plan)[project["id"]].status == "migre"
    again = _plan(db, engine, project_ids=[project["id"]])
    assert again.projects[0].refused == f"Le projet suit déjà la version {NEXT}."


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        ({"from": 4, "states": {}}, "doit précéder"),
        ({"from": 3, "states": {"faisabilite": "nulle_part"}}, "inexistant"),
        ({"from": 3, "states": {"faisabilite": "labellisee"}}, "final"),
        ({"from": 3, "states": {"inconnu": "etude_prealable"}}, "pas d'état « inconnu »"),
        ({"from": 3, "states": {"Faisabilité": "etude_prealable"}}, "invalide"),
        ({"from": 3, "etats": {}}, "paramètre inconnu"),
    ],
)
def test_a_wrong_migration_section_is_refused_at_start_up(
    tmp_path: Path, migration: dict[str, Any], expected: str
) -> None:
    directory = write_next_version(tmp_path)
    path = directory / f"{KEY}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["migration"] = migration
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    # Both versions in the folder: the sources are checked against the older one.
    shipped = (PROJECT_ROOT / "workflows" / f"{KEY}.yaml").read_text(encoding="utf-8")
    (directory / f"{KEY}-v{SHIPPED}.yaml").write_text(shipped, encoding="utf-8")
    with pytest.raises(WorkflowError) as refused:
        load_directory(directory)
    assert expected in refused.value.message, refused.value


def test_deadline_chosen_by_a_person_keeps_its_date(client: Any, db: Engine, next_app: Any) -> None:
    project = f.walk_to(client, f.create_project(client), "prefiguration")
    step = next(d for d in project["deadlines"] if d["kind"] == "etape" and d["status"] != "tenue")
    chosen = date(2030, 1, 15)
    r = client.patch(
        f"/api/v1/projects/{project['id']}/deadlines/{step['id']}",
        json={"due_on": chosen.isoformat(), "reason": "Calendrier du conseil municipal."},
    )
    assert r.status_code == 200, r.text
    plan = _plan(db, next_app.state.workflows, project_ids=[project["id"]])
    changes = plan.projects[0].deadlines
    # The label date follows the new target; of the steps, only the renamed one's key changes.
    assert [d.kind for d in changes] == ["label", "etape"]
    assert changes[1].state_before == RENAMED[0] and changes[1].due_after == changes[1].due_before
    _apply(db, next_app.state.workflows, plan)
    with TestClient(next_app, headers=dict(client.headers)) as next_client:
        after = next_client.get(f"/api/v1/projects/{project['id']}").json()
    assert {d["due_on"] for d in after["deadlines"] if d["kind"] == "etape"} >= {chosen.isoformat()}


def test_the_command_line_dry_run_then_apply(
    client: Any, db: Engine, settings: Settings, tmp_path: Path, forget_new_versions: None
) -> None:
    open_project = f.walk_to(client, f.create_project(client, name="En cours"), RENAMED[0])
    closed = f.create_project(client, name="Arrêté")
    f.fire(client, closed["id"], "abandonner", comment="Plus de porteur.")
    env = {
        "LABELFLOW_DATA_DIR": str(tmp_path / "data"),
        "LABELFLOW_DATABASE_URL": settings.database_url,
        "LABELFLOW_WORKFLOWS_DIR": str(write_next_version(tmp_path)),
    }
    args = ("workflow", "migrate", KEY, "--to", str(NEXT))
    dry = run(*args, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert (
        f"n° {open_project['id']} En cours (v3, « Étude de faisabilité ») → v4, « Étude préalable »"
        in dry.stdout
    )
    assert (
        f"n° {closed['id']} Arrêté (v3, « Projet abandonné ») : refusé — Le projet est clos"
        in dry.stdout
    )
    assert "devient rempli : Il manque l'attestation" not in dry.stdout
    assert "Essai à blanc : rien n'a été modifié." in dry.stdout
    assert client.get(f"/api/v1/projects/{open_project['id']}").json()["workflow_version"] == 3

    done = run(*args, "--project", str(open_project["id"]), env=env)
    assert done.returncode == 0, done.stderr
    assert "Migrés : 1 sur 1." in done.stdout
    with Session(db) as session:
        row = session.get(Project, open_project["id"])
        assert row is not None and (row.workflow_version, row.state) == (NEXT, RENAMED[1])

    unknown = run("workflow", "migrate", KEY, "--to", "9", env=env)
    assert unknown.returncode == 2
    assert "n'a pas de version 9" in unknown.stderr


def test_staff_admins_dry_run_then_apply_through_the_api_and_the_page(
    client: Any, db: Engine, next_app: Any
) -> None:
    moving = f.walk_to(client, f.create_project(client, name="Régie qui avance"), RENAMED[0])
    changed = f.create_project(client, name="Régie modifiée entre-temps")
    closed = f.create_project(client, name="Régie arrêtée")
    f.fire(client, closed["id"], "abandonner", comment="Plus de porteur.")
    with TestClient(next_app, headers=dict(client.headers)) as admin:
        url = f"/api/v1/workflows/{KEY}/migrations"
        plan = admin.post(f"{url}/plan", json={"to_version": NEXT})
        assert plan.status_code == 200, plan.text
        body = plan.json()
        assert (body["movable"], body["refused"]) == (2, 1)
        rows = {p["project_id"]: p for p in body["projects"]}
        assert rows[moving["id"]]["state_after"] == RENAMED[1]
        assert rows[moving["id"]]["state_after_label"] == "Étude préalable"
        assert "clos" in rows[closed["id"]]["refused"]
        assert admin.get(f"/api/v1/projects/{moving['id']}").json()["workflow_version"] == SHIPPED

        # The page shows the same dry run, with the form applying it.
        page = admin.get(f"/workflows/{KEY}/migration")
        assert page.status_code == 200
        assert "Essai à blanc" in page.text and "Étude préalable" in page.text
        assert f'value="{moving["id"]}:{rows[moving["id"]]["version"]}"' in page.text
        assert "Devient requis" in page.text or "plus requis" in page.text

        # A project changed after the dry run is skipped; the other one moves.
        r = admin.patch(f"/api/v1/projects/{changed['id']}", json={"name": "Nouveau nom"})
        assert r.status_code == 200, r.text
        applied = admin.post(
            url,
            json={
                "to_version": NEXT,
                "projects": [
                    {"id": pid, "version": rows[pid]["version"]}
                    for pid in (moving["id"], changed["id"])
                ],
            },
        )
        assert applied.status_code == 200, applied.text
        result = applied.json()
        assert (result["migrated"], result["skipped"], result["refused"]) == (1, 1, 0)
        status = {o["project_id"]: o["status"] for o in result["items"]}
        assert status == {moving["id"]: "migre", changed["id"]: "ignore"}
        assert admin.get(f"/api/v1/projects/{moving['id']}").json()["workflow_version"] == NEXT
        assert admin.get(f"/api/v1/projects/{changed['id']}").json()["workflow_version"] == SHIPPED

        # The page's form: applying what it shows.
        page = admin.get(f"/workflows/{KEY}/migration")
        version = admin.get(f"/api/v1/projects/{changed['id']}").json()["version"]
        done = admin.post(
            f"/workflows/{KEY}/migration",
            data={"to_version": str(NEXT), "project": f"{changed['id']}:{version}"},
        )
        assert done.status_code == 200, done.text
        assert "1 projet migré sur 1" in done.text.replace("\u202f", " ").replace("\xa0", " ")
        # Bad input: a clear French 4xx, nothing changed.
        for bad in ({"to_version": NEXT, "projects": []}, {"to_version": 0, "projects": []}):
            assert admin.post(url, json=bad).status_code == 422
        unknown = admin.post(f"{url}/plan", json={"to_version": 99})
        assert unknown.status_code == 404
        assert "n'a pas de version 99" in unknown.json()["error"]["message"].replace("’", "'")
        garbage = admin.post(
            f"/workflows/{KEY}/migration", data={"to_version": str(NEXT), "project": "x:y"}
        )
        assert garbage.status_code == 422
        # Other staff may not.
        staff = f.client_for(admin, f.create_user(admin, role="staff", name="Sacha")["id"])
        assert staff.post(f"{url}/plan", json={"to_version": NEXT}).status_code == 403


def test_a_change_committed_while_its_project_is_being_migrated_wins(
    client: Any, db: Engine, next_app: Any
) -> None:
    """The race inside one project's transaction: another writer commits after the migration
    read the project and before it writes it. PostgreSQL only: SQLite's write transactions are
    serial (`BEGIN IMMEDIATE`), so the other writer would wait for the migration instead."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions: no such race")
    project = f.create_project(client, name="Pris de vitesse")
    engine = next_app.state.workflows
    plan = _plan(db, engine, project_ids=[project["id"]])
    raced: list[int] = []

    def before_update(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE projects") and not raced:
            raced.append(1)
            # A colleague's change, committed on its own connection meanwhile.
            r = client.patch(f"/api/v1/projects/{project['id']}", json={"name": "Plus rapide"})
            assert r.status_code == 200, r.text

    event.listen(db, "before_cursor_execute", before_update)
    try:
        outcome = _apply(db, engine, plan)[project["id"]]
    finally:
        event.remove(db, "before_cursor_execute", before_update)
    assert raced and outcome.status == "ignore"
    after = client.get(f"/api/v1/projects/{project['id']}").json()
    assert (after["name"], after["workflow_version"]) == ("Plus rapide", SHIPPED)
    assert "migration" not in {e["kind"] for e in f.events(client, project["id"])}


def test_a_process_started_before_the_new_version_serves_the_migrated_projects(
    client: Any, db: Engine, next_app: Any
) -> None:
    # `client` is a process started on the shipped files; another one (`next_app`, or the
    # command line) recorded the next version and moved the project to it.
    project = f.walk_to(client, f.create_project(client, name="Migré ailleurs"), RENAMED[0])
    engine = next_app.state.workflows
    assert _apply(db, engine, _plan(db, engine))[project["id"]].status == "migre"

    seen = client.get(f"/api/v1/projects/{project['id']}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["workflow_version"] == NEXT
    assert seen.json()["state"] == RENAMED[1]
    assert client.get(f"/projects/{project['id']}").status_code == 200
    # And it drives it by the new version's rules, from the renamed state.
    moved = f.fire(client, project["id"], "abandonner", comment="Le porteur se retire.")
    assert moved["state"] == "abandonnee"
