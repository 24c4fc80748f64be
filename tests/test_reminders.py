"""Deadline reminders: each stage on its day, once, never for a suspended project, a new series
for a moved due date, the rest sent after a failed pass, overlapping passes (threads and two
`labelflow remind` processes) sending each reminder once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from labelflow import dates, deadlines, jobs, notifications, reminders
from labelflow.db import transaction, write_engine
from labelflow.models import Deadline, Job, Notification, Project, ReminderSent, User
from labelflow.runtime import attach
from labelflow.settings import PROJECT_ROOT, Settings
from tests.conftest import make_user
from tests.factories import complete_prefiguration, create_project, fire, walk_to
from tests.smtp import text_of

# Far enough from the real today that no other deadline of the project is in the horizon.
DUE = dates.today() + timedelta(days=400)


def run_pass(app: Any, db: Engine, today: date) -> int:
    with transaction(db) as session:
        attach(session, app.state.runtime)
        return reminders.remind(session, today=today)


def step_deadline(db: Engine, project_id: int) -> Deadline:
    with Session(db) as session:
        return session.exec(
            select(Deadline).where(
                Deadline.project_id == project_id,
                Deadline.kind == "etape",
                col(Deadline.closed_on).is_(None),
            )
        ).one()


def set_due(db: Engine, deadline_id: int, due_on: date) -> None:
    with transaction(db) as session:
        deadline = session.get(Deadline, deadline_id)
        assert deadline is not None
        deadline.due_on = due_on
        session.add(deadline)


def far_label_dates(db: Engine) -> None:
    """Keep the label dates out of the way (they have their own test)."""
    with transaction(db) as session:
        for d in session.exec(select(Deadline).where(Deadline.kind == "label")):
            d.due_on = DUE + timedelta(days=3000)
            session.add(d)


def reminder_rows(db: Engine) -> list[Notification]:
    with Session(db) as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.kind == "rappel")
                .order_by(col(Notification.id))
            ).all()
        )


def titles_for(db: Engine, user_id: int | None) -> list[str]:
    return [n.title for n in reminder_rows(db) if n.user_id == user_id]


@pytest.fixture
def porteur(client: Any, db: Engine) -> User:
    return make_user(db, role="porteur", name="Paule Porteur")


def project_with_porteur(client: Any, porteur: User, **fields: Any) -> dict[str, Any]:
    project = create_project(client, **fields)
    r = client.post(f"/api/v1/projects/{project['id']}/members", json={"user_id": porteur.id})
    assert r.status_code == 201, r.text
    return project


def test_each_stage_on_its_day_and_once(
    client: Any, app: Any, db: Engine, staff_user: User, porteur: User
) -> None:
    project = project_with_porteur(client, porteur)
    far_label_dates(db)
    deadline = step_deadline(db, project["id"])
    set_due(db, deadline.id or 0, DUE)
    expected = {
        -31: None,
        -30: "Échéance dans 30 jours : étape « Groupe projet »",
        -29: None,
        -1: None,
        0: "Échéance aujourd'hui : étape « Groupe projet »",
        1: None,
        6: None,
        7: "Échéance dépassée de 7 jours : étape « Groupe projet »",
        8: None,
        36: None,
        37: "Échéance dépassée de 37 jours : étape « Groupe projet »",
        38: None,
        66: None,
        67: "Échéance dépassée de 67 jours : étape « Groupe projet »",
    }
    seen: list[str] = []
    for offset, title in expected.items():
        today = DUE + timedelta(days=offset)
        sent = run_pass(app, db, today)
        assert sent == (1 if title else 0), (offset, sent)
        # The same day again: nothing more.
        assert run_pass(app, db, today) == 0
        if title:
            seen.append(title)
        # The porteur and the chargé·e de suivi (the project's creator) get each one.
        assert titles_for(db, porteur.id) == seen
        assert titles_for(db, staff_user.id) == seen
    rows = reminder_rows(db)
    assert {n.project_id for n in rows} == {project["id"]}
    assert {n.url for n in rows} == {f"/projects/{project['id']}#echeances"}
    assert rows[0].body == f"Échéance prévue le {dates.french_date(DUE)}."
    with Session(db) as session:
        kinds = session.exec(select(ReminderSent.kind).order_by(col(ReminderSent.id))).all()
        assert kinds == ["bientot", "echeance", "retard_7", "retard_37", "retard_67"]
        # Each notification is e-mailed by a job written with it.
        assert len(session.exec(select(Job)).all()) == len(rows)


def test_a_pass_that_missed_days_sends_only_the_latest_stage(
    client: Any, app: Any, db: Engine, porteur: User
) -> None:
    project = project_with_porteur(client, porteur)
    far_label_dates(db)
    deadline = step_deadline(db, project["id"])
    set_due(db, deadline.id or 0, DUE)
    # No pass on the bientôt day: the next one, ten days before, still sends it.
    assert run_pass(app, db, DUE - timedelta(days=10)) == 1
    # No pass on the due date: three days later, the due-date reminder says so.
    assert run_pass(app, db, DUE + timedelta(days=3)) == 1
    # Nothing for 50 days: one reminder (the 37-day one, that is due), not 7 and 37.
    assert run_pass(app, db, DUE + timedelta(days=50)) == 1
    assert titles_for(db, porteur.id) == [
        "Échéance dans 10 jours : étape « Groupe projet »",
        "Échéance dépassée de 3 jours : étape « Groupe projet »",
        "Échéance dépassée de 50 jours : étape « Groupe projet »",
    ]
    assert run_pass(app, db, DUE + timedelta(days=66)) == 0
    assert run_pass(app, db, DUE + timedelta(days=67)) == 1


def test_a_suspended_project_is_not_reminded_until_resumed(
    client: Any, app: Any, db: Engine, porteur: User
) -> None:
    project = project_with_porteur(client, porteur)
    far_label_dates(db)
    deadline = step_deadline(db, project["id"])
    set_due(db, deadline.id or 0, DUE)
    r = client.post(f"/api/v1/projects/{project['id']}/suspend", json={"comment": "Pause."})
    assert r.status_code == 200, r.text
    for offset in (-30, 0, 7):
        assert run_pass(app, db, DUE + timedelta(days=offset)) == 0
    assert reminder_rows(db) == []
    r = client.post(f"/api/v1/projects/{project['id']}/resume", json={"comment": "Reprise."})
    assert r.status_code == 200, r.text
    assert run_pass(app, db, DUE + timedelta(days=7)) == 1
    assert titles_for(db, porteur.id) == ["Échéance dépassée de 7 jours : étape « Groupe projet »"]


def test_a_moved_due_date_starts_a_new_series(
    client: Any, app: Any, db: Engine, porteur: User
) -> None:
    project = project_with_porteur(client, porteur)
    far_label_dates(db)
    deadline = step_deadline(db, project["id"])
    set_due(db, deadline.id or 0, DUE)
    assert run_pass(app, db, DUE - timedelta(days=30)) == 1
    assert run_pass(app, db, DUE) == 1
    moved = DUE + timedelta(days=60)
    r = client.patch(
        f"/api/v1/projects/{project['id']}/deadlines/{deadline.id}",
        json={"due_on": moved.isoformat(), "reason": "Le groupe projet a besoin de temps."},
    )
    assert r.status_code == 200, r.text
    # The old series stops (nothing overdue by 7 days), the new one starts.
    assert run_pass(app, db, DUE + timedelta(days=7)) == 0
    assert run_pass(app, db, moved - timedelta(days=30)) == 1
    assert run_pass(app, db, moved) == 1
    assert titles_for(db, porteur.id) == [
        "Échéance dans 30 jours : étape « Groupe projet »",
        "Échéance aujourd'hui : étape « Groupe projet »",
        "Échéance dans 30 jours : étape « Groupe projet »",
        "Échéance aujourd'hui : étape « Groupe projet »",
    ]


def test_the_label_date_and_closed_deadlines(
    client: Any, app: Any, db: Engine, porteur: User
) -> None:
    project = project_with_porteur(client, porteur)
    with Session(db) as session:
        label = session.exec(
            select(Deadline).where(Deadline.project_id == project["id"], Deadline.kind == "label")
        ).one()
    step = step_deadline(db, project["id"])
    set_due(db, label.id or 0, DUE)
    set_due(db, step.id or 0, DUE)
    with transaction(db) as session:
        closed = session.get(Deadline, step.id)
        assert closed is not None
        closed.closed_on = dates.today()
        session.add(closed)
    assert run_pass(app, db, DUE) == 1
    assert titles_for(db, porteur.id) == ["Échéance aujourd'hui : date cible du label"]


def test_the_report_deadline_reminds_the_consultant_too(
    client: Any, app: Any, db: Engine, staff_user: User
) -> None:
    consultant = make_user(db, role="consultant", name="Claude Consultant")
    project = walk_to(client, create_project(client), "prefiguration")
    complete_prefiguration(client, project, consultant_id=consultant.id)
    # A step before the expertise: not the consultant's.
    far_label_dates(db)
    prefiguration = step_deadline(db, project["id"])
    set_due(db, prefiguration.id or 0, DUE)
    assert run_pass(app, db, DUE) == 1
    assert titles_for(db, consultant.id) == []
    project = fire(client, project["id"], "demander_expertise")
    assert project["state"] == "expertise"
    expertise = step_deadline(db, project["id"])
    set_due(db, expertise.id or 0, DUE + timedelta(days=100))
    assert run_pass(app, db, DUE + timedelta(days=100)) == 1
    assert titles_for(db, consultant.id) == ["Échéance aujourd'hui : étape « Expertise sur site »"]
    assert titles_for(db, staff_user.id)[-1] == titles_for(db, consultant.id)[-1]


def test_the_due_soon_setting_moves_the_first_reminder_and_the_status(
    client: Any, app: Any, db: Engine, porteur: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deadlines, "DUE_SOON_DAYS", 10)
    project = project_with_porteur(client, porteur)
    far_label_dates(db)
    deadline = step_deadline(db, project["id"])
    soon = dates.today() + timedelta(days=10)
    set_due(db, deadline.id or 0, soon + timedelta(days=1))
    statuses = {
        d["kind"]: d["status"]
        for d in client.get(f"/api/v1/projects/{project['id']}").json()["deadlines"]
    }
    assert statuses["etape"] == "a_venir"
    assert client.get("/api/v1/projects", params={"due_soon": "true"}).json()["total"] == 0
    assert run_pass(app, db, dates.today()) == 0
    # A day later (a day passing, not an edit behind the facts' back: the view is cached).
    with dates.frozen(dates.now() + timedelta(days=1)):
        statuses = {
            d["kind"]: d["status"]
            for d in client.get(f"/api/v1/projects/{project['id']}").json()["deadlines"]
        }
        assert statuses["etape"] == "bientot"
        assert run_pass(app, db, dates.today()) == 1
    assert titles_for(db, porteur.id) == ["Échéance dans 10 jours : étape « Groupe projet »"]


def test_a_failing_project_leaves_its_reminders_for_the_next_pass(
    client: Any, app: Any, db: Engine, porteur: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [project_with_porteur(client, porteur, name=f"Régie n° {i}")["id"] for i in (1, 2, 3)]
    far_label_dates(db)
    for project_id in ids:
        set_due(db, step_deadline(db, project_id).id or 0, DUE)
    real_notify = notifications.notify

    def failing(session: Session, **kwargs: Any) -> Any:
        if kwargs["project"].id == ids[1]:
            raise RuntimeError("le serveur a perdu la connexion")
        return real_notify(session, **kwargs)

    monkeypatch.setattr(notifications, "notify", failing)
    failures: list[int] = []
    with transaction(db) as session:
        attach(session, app.state.runtime)
        assert reminders.remind(session, today=DUE, failures=failures) == 2
    assert failures == [ids[1]]
    assert {n.project_id for n in reminder_rows(db)} == {ids[0], ids[2]}
    with Session(db) as session:
        assert len(session.exec(select(ReminderSent)).all()) == 2
    monkeypatch.setattr(notifications, "notify", real_notify)
    assert run_pass(app, db, DUE) == 1
    assert run_pass(app, db, DUE) == 0
    rows = reminder_rows(db)
    assert sorted(n.project_id or 0 for n in rows if n.user_id == porteur.id) == ids


def test_two_overlapping_passes_send_each_reminder_once(
    client: Any, app: Any, db: Engine, porteur: User
) -> None:
    ids = [project_with_porteur(client, porteur, name=f"Régie n° {i}")["id"] for i in (1, 2, 3)]
    far_label_dates(db)
    for project_id in ids:
        set_due(db, step_deadline(db, project_id).id or 0, DUE)
    first = Session(write_engine(db), expire_on_commit=False)
    attach(first, app.state.runtime)
    assert reminders.remind(first, today=DUE) == 3  # not committed yet
    second: list[int] = []
    thread = threading.Thread(target=lambda: second.append(run_pass(app, db, DUE)))
    thread.start()
    time.sleep(0.5)  # the second pass is waiting for the first one's transaction
    assert thread.is_alive()
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert second == [0]
    assert len(titles_for(db, porteur.id)) == 3


def cli_env(**values: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LABELFLOW_")}
    return {**clean, **{f"LABELFLOW_{k.upper()}": v for k, v in values.items()}}


def _remind_process(database_url: str, data_dir: str, day: date) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labelflow.cli", "remind", "--date", day.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=PROJECT_ROOT,
        env=cli_env(database_url=database_url, data_dir=data_dir, due_soon_days="10"),
    )


def test_two_remind_commands_at_once_send_each_reminder_once(
    client: Any, db: Engine, database_url: str, settings: Settings, porteur: User
) -> None:
    ids = [project_with_porteur(client, porteur, name=f"Régie n° {i}")["id"] for i in range(6)]
    far_label_dates(db)
    for project_id in ids:
        set_due(db, step_deadline(db, project_id).id or 0, DUE)
    # LABELFLOW_DUE_SOON_DAYS=10: ten days before is the first reminder.
    day = DUE - timedelta(days=10)
    processes = [_remind_process(database_url, str(settings.data_dir), day) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    counts = sorted(int(out.strip().rsplit(" ", 1)[-1].rstrip(".")) for out, _err in outputs)
    assert counts[1] == 6 - counts[0]
    said = f"Rappels d'échéance notifiés le {dates.french_date(day)} : "
    assert all(out.startswith(said) for out, _err in outputs), outputs
    rows = reminder_rows(db)
    assert sorted(n.project_id or 0 for n in rows if n.user_id == porteur.id) == sorted(ids)
    assert {n.title for n in rows} == {"Échéance dans 10 jours : étape « Groupe projet »"}
    with Session(db) as session:
        assert len(session.exec(select(ReminderSent)).all()) == 6
        projects = session.exec(select(Project)).all()
        assert len(projects) == 6


def test_remind_refuses_a_bad_date(tmp_path: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "labelflow.cli", "remind", "--date", "31/02/2027"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        cwd=PROJECT_ROOT,
        env=cli_env(data_dir=str(tmp_path)),
    )
    assert result.returncode == 2, result
    assert result.stderr.startswith("--date : Date impossible"), result.stderr
    assert not (tmp_path / "labelflow.db").exists()  # refused before touching the database


def test_a_reminder_is_e_mailed_in_french(
    client: Any,
    app: Any,
    db: Engine,
    settings: Settings,
    staff_user: User,
    porteur: User,
    smtp_server: Any,
) -> None:
    project = project_with_porteur(client, porteur)
    far_label_dates(db)
    set_due(db, step_deadline(db, project["id"]).id or 0, DUE)
    assert run_pass(app, db, DUE + timedelta(days=7)) == 1
    jobs.run_due(db, settings=smtp_server.settings(settings), runtime=app.state.runtime)
    by_address = {
        env[1][0]: m for env, m in zip(smtp_server.envelopes, smtp_server.messages, strict=True)
    }
    assert set(by_address) == {porteur.email, staff_user.email}
    message = by_address[porteur.email]
    assert message["Subject"] == (
        "Régie de quartier de l'Alma — Échéance dépassée de 7 jours : étape « Groupe projet »"
    )
    text = " ".join(text_of(message).replace("\u202f", " ").replace("\xa0", " ").split())
    assert f"Échéance prévue le {dates.french_date(DUE)}." in text
    assert f"{settings.base_url}/projects/{project['id']}#echeances" in text
