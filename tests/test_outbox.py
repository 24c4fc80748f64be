"""The outbox core: a notification written with its fact's transaction, e-mailed by the worker."""

from __future__ import annotations

import email
from email import policy
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import consequences, jobs, mail, notifications
from labelflow.db import transaction
from labelflow.models import Job, Notification, Project, User
from labelflow.pdf import make_environment
from labelflow.runtime import Runtime
from labelflow.settings import PROJECT_ROOT, Settings
from tests.factories import create_project
from tests.smtp import text_of


def runtime_for(app: Any) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


def mailbox(settings: Settings) -> list[email.message.EmailMessage]:
    folder = settings.mailbox_dir
    if not folder.is_dir():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


@pytest.fixture
def clean_mailbox(settings: Settings) -> Any:
    for p in settings.mailbox_dir.glob("*.eml") if settings.mailbox_dir.is_dir() else []:
        p.unlink()
    yield
    for p in settings.mailbox_dir.glob("*.eml") if settings.mailbox_dir.is_dir() else []:
        p.unlink()


def test_notify_then_the_worker_mails_it_once(
    client: Any, app: Any, db: Engine, settings: Settings, staff_user: User, clean_mailbox: Any
) -> None:
    project_id = create_project(client)["id"]
    with transaction(db) as session:
        project = session.get(Project, project_id)
        assert project is not None
        rows = notifications.notify(
            session,
            kind="transition",
            user_ids=[staff_user.id, None],
            title="Le projet est passé à l'étape 2",
            url=f"/projets/{project_id}",
            project=project,
        )
        assert len(rows) == 1
    ran = jobs.run_due(db, settings=settings, runtime=runtime_for(app))
    assert ran == 1
    assert jobs.run_due(db, settings=settings, runtime=runtime_for(app)) == 0
    [message] = mailbox(settings)
    assert message["To"].addresses[0].addr_spec == staff_user.email
    assert "Régie de quartier de l'Alma" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{settings.base_url}/projets/{project_id}" in text
    assert "ne pas y répondre" in text
    with Session(db) as session:
        [job] = session.exec(select(Job)).all()
        assert job.status == jobs.DONE and job.attempts == 1
        [notification] = session.exec(select(Notification)).all()
        assert notification.emailed_at is not None


def test_a_rolled_back_fact_notifies_nobody(client: Any, db: Engine, staff_user: User) -> None:
    project_id = create_project(client)["id"]
    with pytest.raises(RuntimeError), transaction(db) as session:
        project = session.get(Project, project_id)
        assert project is not None
        notifications.notify(
            session,
            kind="transition",
            user_ids=[staff_user.id],
            title="x",
            url="/",
            project=project,
        )
        raise RuntimeError("the request failed after the fact")
    with Session(db) as session:
        assert session.exec(select(Notification)).all() == []
        assert session.exec(select(Job)).all() == []


def test_the_actor_is_not_told_and_dedupe_keys_collapse(db: Engine, staff_user: User) -> None:
    with transaction(db) as session:
        rows = notifications.notify(
            session,
            kind="message",
            user_ids=[staff_user.id],
            title="x",
            url="/",
            actor_id=staff_user.id,
        )
        assert rows == []
        jobs.enqueue(session, kind="k", payload={}, dedupe_key="same")
        jobs.enqueue(session, kind="k", payload={}, dedupe_key="same")
    with Session(db) as session:
        assert len(session.exec(select(Job)).all()) == 1


def test_email_templates_render_in_french() -> None:
    env = make_environment(PROJECT_ROOT / "templates")
    item = notifications.EmailItem("Pièce refusée", "Motif : illisible", "http://x/p/1", "Régie A")
    context = {"user": {"name": "A"}, "item": item, "base_url": "http://x"}
    rendered = mail.render(env, "notification", context)
    assert rendered.subject == "Régie A — Pièce refusée"
    assert "Bonjour A" in rendered.text and '<a href="http://x/p/1">' in rendered.html


def test_smtp_down_then_up_delivers_once(
    client: Any, app: Any, db: Engine, settings: Settings, staff_user: User, smtp_server: Any
) -> None:
    project_id = create_project(client)["id"]
    with transaction(db) as session:
        project = session.get(Project, project_id)
        notifications.notify(
            session,
            kind="transition",
            user_ids=[staff_user.id],
            title="t",
            url="/",
            project=project,
        )
    mail_settings = smtp_server.settings(settings)
    smtp_server.stop()
    jobs.run_due(db, settings=mail_settings, runtime=runtime_for(app))
    with Session(db) as session:
        [job] = session.exec(select(Job)).all()
        assert job.status == jobs.PENDING and job.attempts == 1
        assert job.last_error and "injoignable" in job.last_error
        job.next_attempt_at = job.created_at  # the retry is due now
        session.add(job)
        session.commit()
    smtp_server.start()
    jobs.run_due(db, settings=mail_settings, runtime=runtime_for(app))
    jobs.run_due(db, settings=mail_settings, runtime=runtime_for(app))
    assert len(smtp_server.messages) == 1
    assert smtp_server.envelopes[0][1] == [staff_user.email]
    assert "ne pas y répondre" in text_of(smtp_server.messages[0])


def test_a_job_talking_to_the_outside_holds_no_write_lock(
    anonymous: Any, db: Engine, settings: Settings
) -> None:
    """While an e-mail is being sent, requests can still write (SQLite has one writer)."""
    seen: list[str] = []

    def handler(ctx: jobs.JobContext) -> jobs.Finish:
        ctx.session.get(Job, ctx.job.id)  # it reads what it sends, as the e-mail handlers do
        # Another connection writes while this job is in the middle of its outside exchange.
        with transaction(db) as other:
            jobs.enqueue(other, kind="autre", payload={}, dedupe_key="written-meanwhile")
        seen.append("outside done")

        def finish(session: Session) -> None:
            seen.append("recorded")

        return finish

    jobs.HANDLERS.register("test_dehors", handler, outside=True)
    try:
        with transaction(db) as session:
            jobs.enqueue(session, kind="test_dehors", payload={})
        ran = jobs.run_due(db, settings=settings, limit=1)
    finally:
        consequences.install()
    assert ran == 1 and seen == ["outside done", "recorded"]
    with Session(db) as session:
        statuses = {j.kind: j.status for j in session.exec(select(Job)).all()}
    assert statuses == {"test_dehors": jobs.DONE, "autre": jobs.PENDING}
