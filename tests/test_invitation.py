"""Invitations: an account created without a password (page or API) is e-mailed a link to choose
it (a real SMTP server), single use, valid 7 days; a password given (API or CLI) sends none."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import accounts, dates
from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import AccountToken, Job, User
from labelflow.settings import PROJECT_ROOT, Settings
from tests.smtp import SmtpServer, text_of
from tests.test_access_matrix import open_web_session
from tests.test_auth import login
from tests.test_password_reset import (
    NEW_PASSWORD,
    deliver,
    every_stored_value,
    link_in,
    page_text,
    plain,
    set_password_with_link,
)
from tests.test_reminders import cli_env

NEW_ACCOUNT = {"email": "nadia.benali@example.org", "name": "Nadia Benali", "role": "porteur"}


def account_mail_jobs(db: Engine) -> list[Job]:
    with Session(db) as session:
        return list(session.exec(select(Job).where(Job.kind == accounts.ACCOUNT_EMAIL_JOB)).all())


def test_an_account_created_by_the_api_gets_its_invitation(
    app: Any, client: Any, db: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    created = client.post("/api/v1/users", json=NEW_ACCOUNT)
    assert created.status_code == 201, created.text
    assert deliver(db, app, settings, smtp_server) == 1
    [message] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == [NEW_ACCOUNT["email"]]
    assert message["Subject"] == "Votre compte labelflow : choisissez votre mot de passe"
    text = plain(text_of(message))
    assert "Bonjour Nadia Benali" in text
    assert f"Votre identifiant est votre adresse e-mail : {NEW_ACCOUNT['email']}" in text
    assert "valable 7 jours" in text and "Merci de ne pas y répondre" in text
    secret = link_in(message, settings, "/invitation/")
    assert secret not in every_stored_value(db)
    with Session(db) as session:
        [token] = session.exec(select(AccountToken)).all()
        assert token.purpose == "invitation"
        assert token.expires_at - token.created_at == timedelta(days=7)
    # The person opens the link, chooses a password and is signed in.
    with TestClient(app, follow_redirects=False) as web:
        url = f"/invitation/{secret}"
        page = web.get(url)
        assert page.status_code == 200
        assert "<h1>Choisir votre mot de passe</h1>" in page.text
        assert "Nadia Benali" in page.text
        done = set_password_with_link(web, url)
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert web.get("/api/v1/me").json()["email"] == NEW_ACCOUNT["email"]
        # Once only.
        again = web.get(url)
        assert again.status_code == 400
        assert plain(accounts.LINK_INVALID) in page_text(again)
        assert "form_token" not in again.text
    api = client.post(
        "/api/v1/auth/invitation/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert api.status_code == 400 and api.json()["error"]["code"] == "lien_invalide"
    with TestClient(app, follow_redirects=False) as fresh:
        assert login(fresh, NEW_ACCOUNT["email"], NEW_PASSWORD).status_code == 303
    # Stored hashed only.
    with Session(db) as session:
        user = session.exec(select(User).where(User.email == NEW_ACCOUNT["email"])).one()
        assert user.password_hash and NEW_PASSWORD not in every_stored_value(db)


def test_an_account_created_on_the_admin_page_is_invited(
    app: Any, db: Engine, settings: Settings, staff_user: User, smtp_server: SmtpServer
) -> None:
    cookie, csrf = open_web_session(db, settings, staff_user)
    with TestClient(
        app, follow_redirects=False, headers={"Cookie": f"labelflow_session={cookie}"}
    ) as admin:
        page = admin.get("/users")
        assert "la personne reçoit par courriel une invitation" in page_text(page)
        created = admin.post("/users", data={**NEW_ACCOUNT, "csrf_token": csrf})
        assert created.status_code == 303, created.text
        assert created.headers["location"].endswith("?fait=invite")
        notice = admin.get(created.headers["location"])
        assert "un courriel d'invitation lui a été envoyé" in page_text(notice)
    assert deliver(db, app, settings, smtp_server) == 1
    secret = link_in(smtp_server.messages[0], settings, "/invitation/")
    # Expired (a week has passed): refused, on the page and by the API.
    with transaction(db) as session:
        token = session.exec(select(AccountToken)).one()
        token.expires_at = dates.now() - timedelta(minutes=1)
        session.add(token)
    with TestClient(app, follow_redirects=False) as web:
        page = web.get(f"/invitation/{secret}")
        assert page.status_code == 400
        assert plain(accounts.LINK_INVALID) in page_text(page)
        api = web.post(
            "/api/v1/auth/invitation/confirm",
            json={"token": secret, "new_password": NEW_PASSWORD},
        )
        assert api.status_code == 400
        assert api.json()["error"] == {
            "code": "lien_invalide",
            "message": typeset(accounts.LINK_INVALID),
        }


def test_the_api_confirms_an_invitation_once_and_only_for_its_purpose(
    app: Any, client: Any, db: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    assert client.post("/api/v1/users", json=NEW_ACCOUNT).status_code == 201
    deliver(db, app, settings, smtp_server)
    secret = link_in(smtp_server.messages[0], settings, "/invitation/")
    # An invitation is not a password-reset link.
    wrong = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    short = client.post(
        "/api/v1/auth/invitation/confirm", json={"token": secret, "new_password": "court"}
    )
    assert short.status_code == 422
    assert short.json()["error"]["fields"][0]["field"] == "new_password"
    missing = client.post("/api/v1/auth/invitation/confirm", json={"token": secret})
    assert missing.status_code == 422
    ok = client.post(
        "/api/v1/auth/invitation/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert ok.status_code == 204, ok.text
    again = client.post(
        "/api/v1/auth/invitation/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert again.status_code == 400


def test_a_password_given_or_a_refused_creation_sends_no_invitation(
    app: Any,
    client: Any,
    db: Engine,
    settings: Settings,
    database_url: str,
    smtp_server: SmtpServer,
) -> None:
    with_password = {**NEW_ACCOUNT, "password": NEW_PASSWORD}
    assert client.post("/api/v1/users", json=with_password).status_code == 201
    # The same address again (409), a bad role (422): refused, nothing queued.
    assert client.post("/api/v1/users", json=NEW_ACCOUNT).status_code == 409
    bad = {**NEW_ACCOUNT, "email": "autre@example.org", "role": "directeur"}
    assert client.post("/api/v1/users", json=bad).status_code == 422
    # The command line sets a password (read or generated): no invitation either.
    result = subprocess.run(
        [sys.executable, "-m", "labelflow.cli", "users", "create", "cli@example.org"]
        + ["--name", "Compte CLI", "--role", "staff", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        env=cli_env(database_url=database_url, data_dir=str(settings.data_dir)),
    )
    assert result.returncode == 0, result.stderr
    assert account_mail_jobs(db) == []
    with Session(db) as session:
        assert session.exec(select(AccountToken)).all() == []
    deliver(db, app, settings, smtp_server)
    assert smtp_server.messages == []


def test_unknown_links_show_a_french_page(app: Any, anonymous: Any) -> None:
    for url in ("/invitation/inconnu", "/mot-de-passe/inconnu", "/invitation/" + "x" * 150):
        page = anonymous.get(url)
        assert page.status_code == 400, url
        assert plain(accounts.LINK_INVALID) in page_text(page)
        assert re.search(r'<a href="/mot-de-passe-oublie">', page.text)
