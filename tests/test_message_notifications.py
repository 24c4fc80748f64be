"""A message reaches the other side of its audience, by e-mail through a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import jobs
from labelflow.models import Notification, User
from labelflow.settings import Settings
from tests.smtp import SmtpServer, text_of
from tests.test_messages import consultant_on, porteur_of, post


def deliver(app: Any, db: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    jobs.run_due(db, settings=smtp_server.settings(settings), runtime=app.state.runtime)


def recipients(smtp_server: SmtpServer) -> list[str]:
    return sorted(address for _, tos in smtp_server.envelopes for address in tos)


def test_each_audience_reaches_the_other_side(
    client: Any,
    app: Any,
    db: Engine,
    settings: Settings,
    staff_user: User,
    smtp_server: SmtpServer,
    client_as: Callable[[User], Any],
) -> None:
    project, consultant = consultant_on(client, db)
    pid = project["id"]
    porteur = porteur_of(client, db, pid)
    deliver(app, db, settings, smtp_server)  # what the setting up told (steps, assignment)
    smtp_server.clear()

    post(client, pid, body="Pouvez-vous envoyer les statuts ?", audience="projet")
    deliver(app, db, settings, smtp_server)
    assert recipients(smtp_server) == [porteur.email]  # not the staff member who wrote
    [message] = smtp_server.messages
    assert project["name"] in message["Subject"]
    body = text_of(message)
    assert "Nouveau message de Camille Roussel" in body
    assert f"{settings.base_url}/projects/{pid}#messages" in body
    assert "ne pas y répondre" in body

    smtp_server.clear()
    post(client_as(porteur), pid, body="Les voici.", audience="projet")
    deliver(app, db, settings, smtp_server)
    assert recipients(smtp_server) == [staff_user.email]  # the chargé·e de suivi (its creator)

    smtp_server.clear()
    post(client, pid, body="Le dossier est prêt.", audience="expertise")
    deliver(app, db, settings, smtp_server)
    assert recipients(smtp_server) == [consultant.email]

    smtp_server.clear()
    post(client_as(consultant), pid, body="Visite le 12.", audience="expertise")
    post(client, pid, body="Note pour nous.", audience="interne")  # the writer is the only staff
    deliver(app, db, settings, smtp_server)
    assert recipients(smtp_server) == [staff_user.email]


def test_a_refused_message_tells_nobody(
    client: Any, app: Any, db: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    project, _ = consultant_on(client, db)
    porteur_of(client, db, project["id"])
    deliver(app, db, settings, smtp_server)  # what the setting up told (steps, assignment)
    smtp_server.clear()
    with Session(db) as session:
        told = len(session.exec(select(Notification)).all())
    post(client, project["id"], expect=422, body="   ", audience="projet")
    post(client, project["id"], expect=422, body="x", audience="partout")
    deliver(app, db, settings, smtp_server)
    assert smtp_server.messages == []
    with Session(db) as session:
        assert len(session.exec(select(Notification)).all()) == told
