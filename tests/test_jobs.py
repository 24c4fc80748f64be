"""The jobs seen by administrators (`GET /api/v1/jobs`, « Relancer », pages « Tâches » and
« Courriels envoyés »), the retries against a real SMTP server (aiosmtpd on loopback), the worker
loop's scheduler lease and periodic work, and requests that never wait for SMTP."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import consequences, dates, events, jobs, mail, notifications, worker
from labelflow.db import transaction
from labelflow.models import Job, Lease, Notification, NotificationPreference, Project, User
from labelflow.runtime import Runtime
from labelflow.settings import Settings
from labelflow.web.app import create_app
from tests.conftest import make_user, token_for
from tests.factories import create_project
from tests.smtp import SmtpServer, _Handler, text_of


def text_of_page(response: Any) -> str:
    """The page as read: entities decoded, French typographic spaces made plain."""
    return unescape(response.text).replace("\u202f", " ").replace("\xa0", " ")


def runtime_of(app: Any) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


def notify(db: Engine, user: User, title: str = "Le projet avance", **extra: Any) -> int:
    """One notification for `user` (and its e-mail job when they want it at once)."""
    with transaction(db) as session:
        [row] = notifications.notify(
            session, kind="transition", user_ids=[user.id], title=title, url="/", **extra
        )
        return row.id or 0


def all_jobs(db: Engine) -> list[Job]:
    with Session(db) as session:
        return list(session.exec(select(Job).order_by(Job.id)).all())  # type: ignore[arg-type]


def only_job(db: Engine) -> Job:
    [job] = all_jobs(db)
    return job


def make_due(db: Engine, job_id: int) -> None:
    """The next attempt is due now (rather than sleeping through the retry delay)."""
    with transaction(db) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.next_attempt_at = dates.now() - timedelta(seconds=1)
        session.add(job)


def abandoned_job(db: Engine, *, kind: str = "courriel_notification", error: str = "550") -> int:
    with transaction(db) as session:
        job = Job(
            kind=kind,
            payload={"notification_id": 999_999},
            dedupe_key=f"test:{time.monotonic_ns()}",
            status=jobs.ABANDONED,
            attempts=1,
            next_attempt_at=dates.now(),
            last_error=error,
            created_at=dates.now(),
            done_at=dates.now(),
        )
        session.add(job)
        session.flush()
        return job.id or 0


@pytest.fixture
def mailbox_settings(settings: Settings) -> Iterator[Settings]:
    """The suite's settings (no SMTP host: the local mailbox), the mailbox emptied around."""

    def empty() -> None:
        if settings.mailbox_dir.is_dir():
            for path in settings.mailbox_dir.iterdir():
                path.unlink()

    empty()
    yield settings
    empty()


# --- the API -------------------------------------------------------------------------------------


def test_admins_list_jobs_newest_first_and_filter_by_status(
    client: Any, db: Engine, staff_user: User
) -> None:
    first = notify(db, staff_user, "première")
    notify(db, staff_user, "deuxième")
    dead = abandoned_job(db)
    body = client.get("/api/v1/jobs").json()
    assert body["total"] == 3 and body["limit"] == 50 and body["offset"] == 0
    assert [j["id"] for j in body["items"]][0] == dead
    item = body["items"][-1]
    assert set(item) == {
        "id",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "done_at",
    }
    assert item["kind"] == "courriel_notification" and item["status"] == "en_attente"
    assert datetime.fromisoformat(item["created_at"]).utcoffset() is not None
    abandoned = client.get("/api/v1/jobs", params={"status": "abandonnee"}).json()
    assert [j["id"] for j in abandoned["items"]] == [dead] and abandoned["total"] == 1
    assert abandoned["items"][0]["last_error"] == "550"
    page = client.get("/api/v1/jobs", params={"limit": 1, "offset": 2}).json()
    assert page["total"] == 3 and [j["id"] for j in page["items"]] == [
        next(j.id for j in all_jobs(db) if j.payload.get("notification_id") == first)
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "echec"}, "status"),
        ({"status": "FAITE"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_filters_are_refused_in_french(client: Any, params: dict[str, Any], field: str) -> None:
    response = client.get("/api/v1/jobs", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "requete_invalide"
    assert [f["field"] for f in error["fields"]] == [field]
    if field == "status":
        assert "Valeur non reconnue" in error["fields"][0]["message"]
        assert "abandonnee" in error["fields"][0]["message"]


def test_retry_puts_an_abandoned_job_back_and_refuses_the_others(
    client: Any, db: Engine, staff_user: User
) -> None:
    dead = abandoned_job(db)
    response = client.post(f"/api/v1/jobs/{dead}/retry")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == dead and body["status"] == "en_attente" and body["attempts"] == 0
    assert body["done_at"] is None
    assert datetime.fromisoformat(body["next_attempt_at"]) <= dates.now()
    # Now pending: a second retry is refused, and changes nothing.
    again = client.post(f"/api/v1/jobs/{dead}/retry")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "tache_non_abandonnee"
    assert "Seule une tâche abandonnée peut être relancée" in error["message"]
    assert "en attente" in error["message"]
    assert only_job(db).status == jobs.PENDING
    missing = client.post("/api/v1/jobs/987654/retry")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Cette tâche est introuvable."
    assert client.post("/api/v1/jobs/0/retry").status_code == 422
    assert client.post(f"/api/v1/jobs/{2**31}/retry").status_code == 422


def test_only_admins_see_the_jobs(
    anonymous: Any, client_as: Callable[[User], Any], db: Engine
) -> None:
    dead = abandoned_job(db)
    assert anonymous.get("/api/v1/jobs").status_code == 401
    for role in ("staff", "consultant", "porteur", "bureau"):
        other = client_as(make_user(db, role=role))
        listing = other.get("/api/v1/jobs")
        assert listing.status_code == 403, role
        assert listing.json()["error"]["message"] == "Votre rôle ne permet pas cette action."
        assert other.post(f"/api/v1/jobs/{dead}/retry").status_code == 403
        assert other.get("/taches").status_code == 403
        assert other.post(f"/taches/{dead}/relancer").status_code == 403
        assert other.get("/courriels").status_code == 403
    assert only_job(db).status == jobs.ABANDONED
    page = anonymous.get("/taches", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


# --- retries against a real SMTP server ----------------------------------------------------------


def test_retries_follow_the_schedule_then_abandon_and_a_resend_delivers_once(
    client: Any, app: Any, db: Engine, settings: Settings, staff_user: User, smtp_server: Any
) -> None:
    notify(db, staff_user, "Pièce refusée")
    mail_settings = smtp_server.settings(settings)
    smtp_server.stop()  # connection refused: temporary
    job_id = only_job(db).id or 0
    for attempt, delay in enumerate(jobs.RETRY_DELAYS, start=1):
        before = dates.now()
        assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 1
        job = only_job(db)
        assert job.status == jobs.PENDING and job.attempts == attempt
        assert job.last_error and "serveur SMTP injoignable" in job.last_error
        assert before + delay <= job.next_attempt_at <= dates.now() + delay
        # Not due before its delay: the worker leaves it.
        assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 0
        make_due(db, job_id)
    assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 1
    job = only_job(db)
    assert job.status == jobs.ABANDONED and job.attempts == len(jobs.RETRY_DELAYS) + 1
    assert job.done_at is not None
    listed = client.get("/api/v1/jobs", params={"status": "abandonnee"}).json()["items"]
    assert [j["id"] for j in listed] == [job_id]
    assert "injoignable" in listed[0]["last_error"]
    # Abandoned: the worker never takes it again on its own.
    smtp_server.start()
    assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 0
    assert smtp_server.messages == []
    assert client.post(f"/api/v1/jobs/{job_id}/retry").status_code == 200
    assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 1
    assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 0
    [message] = smtp_server.messages
    assert message["Subject"] == "Pièce refusée"
    assert smtp_server.envelopes[0][1] == [staff_user.email]
    assert "Bonjour Camille Roussel" in text_of(message)
    job = only_job(db)
    assert job.status == jobs.DONE and job.attempts == 1 and job.last_error is None


def test_a_4xx_answer_is_retried_and_a_5xx_one_abandons_at_once(
    client: Any, app: Any, db: Engine, settings: Settings, staff_user: User, smtp_server: Any
) -> None:
    mail_settings = smtp_server.settings(settings)
    notify(db, staff_user, "Message reçu")
    smtp_server.answer(451)
    jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app))
    job = only_job(db)
    assert job.status == jobs.PENDING and job.attempts == 1
    assert job.last_error and "451" in job.last_error
    smtp_server.answer(550)
    make_due(db, job.id or 0)
    jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app))
    job = only_job(db)
    assert job.status == jobs.ABANDONED and job.attempts == 2
    assert job.last_error and "le serveur SMTP a répondu 550" in job.last_error
    assert smtp_server.messages == []
    with Session(db) as session:
        [notification] = session.exec(select(Notification)).all()
        assert notification.emailed_at is None  # the handler's writes were undone
    page = client.get("/taches", params={"status": "abandonnee"})
    assert page.status_code == 200
    text = text_of_page(page)
    assert "le serveur SMTP a répondu 550 : Refuse" in text
    assert f"n° {job.id} · Courriel d'une notification" in text
    assert 'aria-label="Relancer la tâche n° ' in text


class CountingHandler(_Handler):
    """Counts the SMTP sessions opened (one EHLO each)."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses


def test_a_pass_sends_over_one_connection_and_survives_a_closed_one(
    app: Any, db: Engine, settings: Settings, staff_user: User
) -> None:
    server = SmtpServer()
    counting = CountingHandler()
    server.handler = counting
    server.start()
    try:
        mail_settings = server.settings(settings)
        for i in range(3):
            notify(db, staff_user, f"n° {i}")
        loop = worker.Worker(
            db,
            settings=mail_settings,
            runtime=runtime_of(app),
            name="w",
            periodic=jobs.PeriodicWork(),  # no periodic job in the count
        )
        assert loop.tick() == 3
        assert len(server.messages) == 3 and counting.sessions == 1
        # The server closes the connection a worker keeps (a restart): the next e-mail opens
        # another one, and nothing fails.
        notify(db, staff_user, "n° 3")
        assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 1
        assert counting.sessions == 2
        server.stop()
        server.start()
        notify(db, staff_user, "n° 4")
        assert jobs.run_due(db, settings=mail_settings, runtime=runtime_of(app)) == 1
        assert counting.sessions == 3
        assert [str(m["Subject"]) for m in server.messages] == [f"n° {i}" for i in range(5)]
        assert all(j.status == jobs.DONE and j.attempts == 1 for j in all_jobs(db))
    finally:
        mail.close_connections()
        server.stop()


# --- the pages ------------------------------------------------------------------------------


def test_the_jobs_page_lists_filters_and_resends(
    client: Any, app: Any, db: Engine, settings: Settings, staff_user: User, mailbox_settings: Any
) -> None:
    notify(db, staff_user, "en attente")
    dead = abandoned_job(db, error="le serveur SMTP a répondu 554 : boîte inconnue")
    page = client.get("/taches")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Tâches</h1>" in html
    assert "retentée de plus en plus tard (1 min, 5 min, 30 min, 2 h, 6 h, 24 h)" in text_of_page(
        page
    )
    assert '<label for="filter-status">Statut</label>' in html
    text = text_of_page(page)
    assert "2 tâches, les plus récentes d'abord" in text
    assert "Abandonnées : 1" in text and "En attente : 1" in text and "Faites : 0" in text
    assert 'href="/taches?status=abandonnee"' in html
    assert "boîte inconnue" in text
    # One « Relancer », for the abandoned job only.
    assert html.count(">Relancer</button>") == 1
    assert f'action="/taches/{dead}/relancer"' in html
    assert 'href="/api/v1/jobs"' in html
    # A job taken by a worker says until when it is that worker's.
    pending_id = next(j.id for j in all_jobs(db) if j.status == jobs.PENDING)
    with transaction(db) as session:
        running = session.get(Job, pending_id)
        assert running is not None
        running.status, running.locked_by = jobs.RUNNING, "vm:1:abc"
        running.locked_until = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
        session.add(running)
    in_flight = text_of_page(client.get("/taches", params={"status": "en_cours"}))
    assert "reprise possible par un autre worker après le 2 décembre 2026 à 10:30" in in_flight
    with transaction(db) as session:
        running = session.get(Job, pending_id)
        assert running is not None
        running.status, running.locked_by, running.locked_until = jobs.PENDING, None, None
        session.add(running)
    assert client.get("/taches", params={"offset": -1}).status_code == 422
    filtered = client.get("/taches", params={"status": "faite"})
    assert "Aucune tâche avec ce statut." in text_of_page(filtered)
    assert '<option value="faite" selected>' in filtered.text
    # An unknown filter shows everything, like the other lists.
    assert "2 tâches" in text_of_page(client.get("/taches", params={"status": "inconnu"}))

    done = client.post(
        f"/taches/{dead}/relancer", params={"status": "abandonnee"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/taches?fait=relancee&status=abandonnee"
    after = client.get(done.headers["location"])
    assert "La tâche est relancée" in text_of_page(after)
    assert ">Relancer</button>" not in after.text
    assert next(j for j in all_jobs(db) if j.id == dead).status == jobs.PENDING

    refused = client.post(f"/taches/{dead}/relancer")
    assert refused.status_code == 409
    assert "Seule une tâche abandonnée peut être relancée" in text_of_page(refused)
    assert client.post("/taches/987654/relancer").status_code == 404


def test_the_jobs_page_pages_through_many_jobs(client: Any, db: Engine, staff_user: User) -> None:
    with transaction(db) as session:
        jobs.enqueue_many(session, [jobs.NewJob("courriel_notification", {}) for _ in range(55)])
    first = client.get("/taches")
    assert first.text.count('<tr id="tache-') == 50
    assert 'href="/taches?offset=50" rel="next"' in first.text
    second = client.get("/taches", params={"offset": 50})
    assert second.text.count('<tr id="tache-') == 5
    assert 'href="/taches?offset=0" rel="prev"' in second.text
    assert 'rel="next"' not in second.text


def test_admins_read_the_local_mailbox_newest_first(
    client: Any, app: Any, db: Engine, settings: Settings, staff_user: User, mailbox_settings: Any
) -> None:
    other = make_user(db, role="porteur", name="Awa Diallo", email="awa@example.org")
    project_id = create_project(client)["id"]
    with transaction(db) as session:
        project = session.get(Project, project_id)
        notifications.notify(
            session,
            kind="document_refuse",
            user_ids=[other.id],
            title="Pièce à corriger : statuts",
            url=f"/projects/{project_id}",
            project=project,
            body="Motif : la page 2 manque.",
        )
    jobs.run_due(db, settings=settings, runtime=runtime_of(app))
    notify(db, staff_user, "Seconde notification")
    jobs.run_due(db, settings=settings, runtime=runtime_of(app))
    page = client.get("/courriels")
    assert page.status_code == 200
    text = text_of_page(page)
    assert "<h1>Courriels envoyés</h1>" in page.text
    assert "2 courriels, les plus récents d'abord" in text
    assert "Un serveur SMTP est configuré" not in text
    subjects = re.findall(r'<a href="/courriels/([^"]+)">([^<]+)</a>', page.text)
    assert [unescape(s).replace("\xa0", " ") for _, s in subjects] == [
        "Seconde notification",
        "Régie de quartier de l'Alma — Pièce à corriger : statuts",
    ]
    assert "awa@example.org" in text and "Awa Diallo" in text
    name = subjects[1][0]
    message = client.get(f"/courriels/{name}")
    assert message.status_code == 200
    shown = text_of_page(message)
    assert "Bonjour Awa Diallo" in shown and "Motif : la page 2 manque." in shown
    assert f"{settings.base_url}/projects/{project_id}" in shown
    assert "ne pas y répondre" in shown
    assert "<dt>À</dt><dd>Awa Diallo &lt;awa@example.org&gt;</dd>" in message.text
    # Only the mailbox's own files: no other name, no way out of the folder.
    for bad in ("20261202T101010123456-deadbeef.eml", "..%2Flabelflow.db", "notes.txt"):
        assert client.get(f"/courriels/{bad}").status_code in (404, 422), bad
    assert client.get("/courriels/" + "9" * 80).status_code == 422


def test_the_mailbox_page_says_when_mail_goes_out_for_real(
    db: Engine, settings: Settings, staff_user: User, smtp_server: SmtpServer
) -> None:
    real = create_app(smtp_server.settings(settings), db=db)
    with TestClient(real) as browser:
        browser.headers["Authorization"] = f"Bearer {token_for(db, staff_user)}"
        page = browser.get("/courriels")
    consequences.install()  # as the suite's app installed them
    assert page.status_code == 200
    text = text_of_page(page)
    assert "Un serveur SMTP est configuré (127.0.0.1)" in text
    assert "cette boîte locale reste vide" in text
    assert "Aucun courriel pour l'instant." not in text


def test_admins_have_the_links_in_the_header(
    client: Any, client_as: Callable[[User], Any], db: Engine
) -> None:
    home = client.get("/").text
    assert '<a href="/taches">Tâches</a>' in home
    assert '<a href="/courriels">Courriels envoyés</a>' in home
    assert 'href="/taches" aria-current="page"' in client.get("/taches").text
    staff = client_as(make_user(db, role="staff")).get("/").text
    assert 'href="/taches"' not in staff and 'href="/courriels"' not in staff


# --- the worker loop: the scheduler's lease, periodic work -------------------------------------


def test_one_scheduler_at_a_time_and_a_successor_takes_over(
    db: Engine, settings: Settings, staff_user: User
) -> None:
    first = worker.Worker(db, settings=settings, runtime=None, poll_seconds=0.2, name="w1")
    second = worker.Worker(db, settings=settings, runtime=None, poll_seconds=0.2, name="w2")
    assert first.schedule() is True
    assert second.schedule() is False
    assert first.schedule() is True  # renewed
    with Session(db) as session:
        lease = session.get(Lease, jobs.SCHEDULER_LEASE)
        assert lease is not None and lease.holder == "w1"
    # The holder dies without a word: its lease runs out, the other takes it.
    time.sleep(first.lease_ttl.total_seconds() + 0.1)
    assert second.schedule() is True
    assert first.schedule() is False
    # A holder that stops gives it up at once.
    second.release()
    assert first.schedule() is True


def test_periodic_slots_run_once_even_with_two_schedulers(
    db: Engine, settings: Settings, staff_user: User
) -> None:
    ran: list[str] = []
    lock = threading.Lock()

    def handler(ctx: jobs.JobContext) -> None:
        with lock:
            ran.append(ctx.payload["slot"])

    periodic = jobs.PeriodicWork()
    # A slot every 0.3 s: several slots go by while both loops run.
    periodic.register("essai", lambda moment: str(int(moment.timestamp() / 0.3)))
    jobs.HANDLERS.register("essai", handler)
    stop = threading.Event()
    workers = [
        worker.Worker(
            db,
            settings=settings,
            runtime=None,
            poll_seconds=0.05,
            name=f"w{i}",
            periodic=periodic,
        )
        for i in range(2)
    ]
    try:
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        consequences.install()  # the handlers as they were
    assert not any(t.is_alive() for t in threads)
    assert len(ran) >= 4
    assert len(ran) == len(set(ran)), ran
    with Session(db) as session:
        rows = session.exec(select(Job).where(Job.kind == "essai")).all()
        done = {r.payload["slot"] for r in rows if r.status == jobs.DONE and r.attempts == 1}
        assert done == set(ran)
        # A slot enqueued just before both stopped waits for the next worker.
        assert all(r.status == jobs.PENDING for r in rows if r.payload["slot"] not in done)
        assert len(rows) - len(done) <= 2
        # Both stopped: the lease was given up.
        assert session.get(Lease, jobs.SCHEDULER_LEASE) is None


def test_the_daily_digest_is_scheduled_at_8_paris_time(
    app: Any, db: Engine, settings: Settings, staff_user: User, smtp_server: SmtpServer
) -> None:
    with transaction(db) as session:
        session.add(
            NotificationPreference(user_id=staff_user.id, kind="transition", mode="quotidien")
        )
    notify(db, staff_user, "Étape 2")
    notify(db, staff_user, "Étape 3")
    assert all_jobs(db) == []  # a digest person gets no e-mail at once
    # The digests alone (the hourly reminder pass would run at each of these hours too).
    digests = jobs.PeriodicWork()
    digests.register(notifications.DIGESTS_JOB, jobs.daily_at(notifications.DIGEST_HOUR))
    loop = worker.Worker(
        db,
        settings=smtp_server.settings(settings),
        runtime=runtime_of(app),
        name="w",
        periodic=digests,
    )
    tomorrow = dates.today() + timedelta(days=1)

    def paris(hour: int, minute: int) -> datetime:
        return datetime.combine(tomorrow, dt_time(hour, minute), tzinfo=dates.PARIS)

    with dates.frozen(paris(7, 59)):  # not yet
        assert loop.tick() == 0
    assert all_jobs(db) == [] and smtp_server.messages == []
    with dates.frozen(paris(8, 0)):
        assert loop.tick() == 2  # the planning job, then the digest it enqueued
        assert loop.tick() == 0  # the same slot: nothing more
    with dates.frozen(paris(17, 0)):
        assert loop.tick() == 0
    everything = worker.Worker(db, settings=settings, runtime=runtime_of(app), name="w")
    with dates.frozen(paris(17, 0)):
        assert everything.tick() == 1  # the hourly reminder pass, nothing due for it
        assert everything.tick() == 0  # once per hour
    assert ("rappels", f"rappels:{tomorrow.isoformat()}T17") in {
        (j.kind, j.dedupe_key) for j in all_jobs(db)
    }
    kinds = sorted((j.kind, j.dedupe_key) for j in all_jobs(db) if j.kind != "rappels")
    assert kinds == [
        ("resume_quotidien", f"digest:{staff_user.id}:{tomorrow.isoformat()}"),
        ("resumes", f"resumes:{tomorrow.isoformat()}"),
    ]
    [message] = smtp_server.messages
    body = text_of(message)
    assert "Étape 2" in body and "Étape 3" in body


def test_a_worker_told_to_stop_hands_back_what_it_has_not_begun(
    db: Engine, settings: Settings, staff_user: User
) -> None:
    stop = threading.Event()
    ran: list[int] = []

    def handler(ctx: jobs.JobContext) -> None:
        ran.append(ctx.job.id or 0)
        stop.set()  # SIGTERM arrives during the first job

    jobs.HANDLERS.register("essai", handler)
    try:
        with transaction(db) as session:
            jobs.enqueue_many(session, [jobs.NewJob("essai", {"n": i}) for i in range(5)])
        loop = worker.Worker(
            db, settings=settings, runtime=None, name="w", periodic=jobs.PeriodicWork()
        )
        assert loop.tick(stop) == 1
    finally:
        consequences.install()
    rows = all_jobs(db)
    assert [r.status for r in rows] == [jobs.DONE] + [jobs.PENDING] * 4
    assert [r.attempts for r in rows] == [1, 0, 0, 0, 0]
    assert all(r.locked_by is None and r.locked_until is None for r in rows)
    # Due at once for the next worker, which runs them all.
    other = worker.Worker(
        db, settings=settings, runtime=None, name="w2", periodic=jobs.PeriodicWork()
    )
    jobs.HANDLERS.register("essai", lambda ctx: ran.append(ctx.job.id or 0))
    try:
        assert other.tick() == 4
    finally:
        consequences.install()
    assert sorted(ran) == [r.id for r in rows]


def test_schedules_give_paris_slots() -> None:
    morning = jobs.daily_at(8)
    assert morning(datetime(2026, 7, 1, 5, 59, tzinfo=UTC)) is None  # 7:59 (UTC+2)
    assert morning(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)) == "2026-07-01"
    assert morning(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) is None  # 0:30 on 1 January
    assert morning(datetime(2027, 1, 1, 7, 0, tzinfo=UTC)) == "2027-01-01"
    assert jobs.hourly(datetime(2026, 12, 2, 9, 15, tzinfo=UTC)) == "2026-12-02T10"


def test_a_tick_that_fails_does_not_stop_the_loop(
    db: Engine, settings: Settings, staff_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("la base de données ne répond pas")
        return 0

    monkeypatch.setattr(jobs, "run_due", flaky)
    stop = threading.Event()
    loop = worker.Worker(db, settings=settings, runtime=None, poll_seconds=0.05)
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert len(calls) >= 3 and not thread.is_alive()


# --- a request never waits for SMTP ----------------------------------------------------------


@pytest.fixture
def blackhole() -> Iterator[socket.socket]:
    """A port that accepts TCP connections and never says a word (an SMTP server hung)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def test_a_request_that_notifies_never_talks_to_smtp(
    db: Engine, settings: Settings, staff_user: User, blackhole: socket.socket
) -> None:
    port = blackhole.getsockname()[1]
    hung = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 3.0,
        }
    )
    served = create_app(hung, db=db)

    def notify_staff(fact: events.Fact) -> None:
        notifications.notify(
            fact.session,
            kind="transition",
            user_ids=[staff_user.id],
            title="Nouveau projet",
            url="/",
            project=fact.project,
        )

    events.SUBSCRIBERS.subscribe("creation", notify_staff)
    try:
        with TestClient(served) as browser:
            browser.headers["Authorization"] = f"Bearer {token_for(db, make_user(db))}"
            started = time.monotonic()
            create_project(browser)
            elapsed = time.monotonic() - started
    finally:
        consequences.install()
    assert elapsed < hung.smtp_timeout_seconds / 2
    with pytest.raises(BlockingIOError):
        blackhole.accept()  # nobody connected during the request
    job = only_job(db)
    assert job.status == jobs.PENDING and job.attempts == 0
    # The worker is the one who waits, and it records why.
    started = time.monotonic()
    jobs.run_due(db, settings=hung, runtime=runtime_of(served))
    assert time.monotonic() - started >= hung.smtp_timeout_seconds - 0.5
    job = only_job(db)
    assert job.status == jobs.PENDING and job.last_error
    assert "injoignable" in job.last_error


def test_mailbox_listing_ignores_foreign_files(tmp_path: Any) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".tmp-abc.eml").write_text("x")
    assert mail.list_mailbox(tmp_path) == ([], 0)
    assert mail.list_mailbox(tmp_path / "absent") == ([], 0)
