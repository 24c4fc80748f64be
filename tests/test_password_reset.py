"""« Mot de passe oublié ? »: the same answer for every address, a link by e-mail (a real SMTP
server) that works once within the hour, stored hashed, throttled like sign-in; the new password
ends every session of the account."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from labelflow import accounts, dates, jobs
from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import AccountToken, Job, User
from labelflow.settings import Settings
from labelflow.web.account.present import RESET_ASKED
from tests.conftest import make_user
from tests.smtp import SmtpServer, text_of
from tests.test_auth import PASSWORD, is_login_redirect, login, signed_in, with_session

NEW_PASSWORD = "une toute nouvelle phrase de passe"
SESSION = "labelflow_session"


# --- helpers (test_invitation.py uses them too) -------------------------------------------------


def deliver(db: Engine, app: Any, settings: Settings, smtp_server: SmtpServer) -> int:
    """Run the due jobs as the worker does, against the test's SMTP server."""
    return jobs.run_due(db, settings=smtp_server.settings(settings), runtime=app.state.runtime)


def link_in(message: EmailMessage, settings: Settings, path: str) -> str:
    """The secret of the link to `path` in the message's text (and the same link in its HTML)."""
    found = re.search(
        re.escape(f"{settings.base_url}{path}") + r"([A-Za-z0-9_-]+)", text_of(message)
    )
    assert found, text_of(message)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert f'href="{settings.base_url}{path}{found.group(1)}"' in str(html.get_content())  # type: ignore[attr-defined]
    return found.group(1)


def form_token(web: TestClient, url: str) -> str:
    page = web.get(url)
    assert page.status_code == 200, page.text
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def page_text(response: Any) -> str:
    """The page's text, French typography's narrow spaces made plain."""
    text = unescape(re.sub(r"<[^>]+>", " ", response.text))
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def plain(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def set_password_with_link(
    web: TestClient, url: str, password: str = NEW_PASSWORD, confirm: str | None = None
) -> Any:
    token = form_token(web, url)
    return web.post(
        url,
        data={
            "new_password": password,
            "new_password_confirm": password if confirm is None else confirm,
            "form_token": token,
        },
    )


def every_stored_value(db: Engine) -> str:
    """Every value of every row of every table, as text (to look for a secret in it)."""
    parts = []
    with db.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


@pytest.fixture
def web(app: Any, anonymous: Any) -> Iterator[TestClient]:
    """A browser: keeps its cookies, does not follow redirects."""
    with TestClient(app, follow_redirects=False) as browser:
        yield browser


@pytest.fixture
def member(db: Engine, anonymous: Any) -> User:
    return make_user(db, role="porteur", name="Morgane Martin", password=PASSWORD)


def ask(anonymous: Any, email: str) -> Any:
    return anonymous.post("/api/v1/auth/password-reset", json={"email": email})


# --- the tests ----------------------------------------------------------------------------------


def test_the_login_page_links_to_the_reset_page(web: TestClient) -> None:
    page = web.get("/login")
    assert '<a href="/mot-de-passe-oublie">Mot de passe oublié' in page.text
    form = web.get("/mot-de-passe-oublie")
    assert form.status_code == 200
    assert '<label for="reset-email">Adresse e-mail</label>' in form.text
    assert "<h1>Mot de passe oublié</h1>" in form.text


def test_reset_by_the_pages_works_once_and_ends_every_session(
    app: Any,
    db: Engine,
    settings: Settings,
    web: TestClient,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    # Two sessions of the account, elsewhere.
    other = TestClient(app, follow_redirects=False)
    old_session = signed_in(other, member.email)
    assert with_session(app, old_session).get("/").status_code == 200
    token = form_token(web, "/mot-de-passe-oublie")
    answer = web.post(
        "/mot-de-passe-oublie", data={"email": member.email.upper(), "form_token": token}
    )
    assert answer.status_code == 200
    assert plain(RESET_ASKED) in page_text(answer)
    assert deliver(db, app, settings, smtp_server) == 1
    [message] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == [member.email]
    assert message["Subject"] == "Réinitialisation de votre mot de passe labelflow"
    text = plain(text_of(message))
    assert "Bonjour Morgane Martin" in text and "valable une heure" in text
    assert "Merci de ne pas y répondre" in text
    secret = link_in(message, settings, "/mot-de-passe/")
    url = f"/mot-de-passe/{secret}"
    page = web.get(url)
    assert page.status_code == 200
    assert member.email in page.text
    assert '<label for="set-password">Nouveau mot de passe</label>' in page.text
    done = set_password_with_link(web, url)
    assert done.status_code == 303 and done.headers["location"] == "/"
    # Signed in with the new password; the session from before is over.
    assert web.get("/").status_code == 200
    assert is_login_redirect(with_session(app, old_session).get("/"))
    # The link served once.
    again = web.get(url)
    assert again.status_code == 400
    assert plain(accounts.LINK_INVALID) in page_text(again)
    assert set_password_with_link_refused(web, url)
    api = web.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": PASSWORD}
    )
    assert api.status_code == 400 and api.json()["error"]["code"] == "lien_invalide"
    # The new password signs in, the old one no longer.
    fresh = TestClient(app, follow_redirects=False)
    assert login(fresh, member.email, PASSWORD).status_code == 401
    assert login(fresh, member.email, NEW_PASSWORD).status_code == 303
    other.close()
    fresh.close()


def set_password_with_link_refused(web: TestClient, url: str) -> bool:
    """A used link's page has no form to send."""
    return "form_token" not in web.get(url).text


def test_reset_by_the_api_and_the_link_is_not_stored_in_clear(
    app: Any,
    db: Engine,
    settings: Settings,
    anonymous: Any,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    answer = ask(anonymous, member.email)
    assert answer.status_code == 202
    assert answer.json() == {"message": RESET_ASKED}
    assert deliver(db, app, settings, smtp_server) == 1
    secret = link_in(smtp_server.messages[0], settings, "/mot-de-passe/")
    stored = every_stored_value(db)
    assert secret not in stored
    with Session(db) as session:
        [token] = session.exec(select(AccountToken)).all()
        assert token.purpose == "reinitialisation" and token.token_hash == accounts.digest(secret)
        assert token.expires_at - token.created_at == timedelta(hours=1)
        [job] = session.exec(select(Job).where(Job.kind == accounts.ACCOUNT_EMAIL_JOB)).all()
        # Once sent, the job keeps nothing to rebuild the link from.
        assert job.status == jobs.DONE and job.payload == {"token_id": token.id}
    # A short password is refused and leaves the link usable.
    short = anonymous.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": "court"}
    )
    assert short.status_code == 422
    assert short.json()["error"]["fields"][0]["field"] == "new_password"
    assert "12 caractères" in short.json()["error"]["fields"][0]["message"]
    ok = anonymous.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert ok.status_code == 204, ok.text
    again = anonymous.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert again.status_code == 400
    assert again.json()["error"] == {
        "code": "lien_invalide",
        "message": typeset(accounts.LINK_INVALID),
    }
    with Session(db) as session:
        user = session.get(User, member.id)
        assert user is not None and user.password_hash
        assert NEW_PASSWORD not in every_stored_value(db)


def test_an_unknown_or_inactive_address_gets_the_same_answer_and_no_mail(
    app: Any,
    client: Any,
    db: Engine,
    settings: Settings,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    gone = make_user(db, role="porteur", name="Ancien compte", password=PASSWORD)
    r = client.patch(f"/api/v1/users/{gone.id}", json={"active": False})
    assert r.status_code == 200
    answers = [ask(client, e) for e in ("personne@example.org", gone.email, "pas une adresse")]
    known = ask(client, member.email)
    assert {a.status_code for a in [*answers, known]} == {202}
    assert {a.text for a in answers} == {known.text}
    deliver(db, app, settings, smtp_server)
    assert [env[1] for env in smtp_server.envelopes] == [[member.email]]
    with Session(db) as session:
        assert [t.user_id for t in session.exec(select(AccountToken)).all()] == [member.id]
    empty = client.post("/api/v1/auth/password-reset", json={"email": " "})
    assert empty.status_code == 422


def test_requests_are_throttled_the_same_for_every_address(
    anonymous: Any, member: User, settings: Settings
) -> None:
    limit = settings.login_max_failures_per_account
    for email in (member.email, "personne@example.org"):
        answers = [ask(anonymous, email) for _ in range(limit)]
        assert {a.status_code for a in answers} == {202}
    refused = [ask(anonymous, e) for e in (member.email, "personne@example.org")]
    assert [r.status_code for r in refused] == [429, 429]
    bodies = [r.json()["error"] for r in refused]
    assert bodies[0] == {**bodies[1], "retry_after": bodies[0]["retry_after"]}
    assert bodies[0]["code"] == "trop_de_tentatives"
    assert "Trop de demandes de réinitialisation" in bodies[0]["message"]
    for r in refused:
        assert 1 <= int(r.headers["Retry-After"]) <= settings.login_window_minutes * 60 + 1
    # Per network address too: other addresses from the same client are refused at the limit.
    per_address = settings.login_max_failures_per_address
    statuses = [ask(anonymous, f"n{i}@example.org").status_code for i in range(per_address)]
    # (The 2 × limit requests above counted for this address; the refused ones did not.)
    assert statuses == [202] * (per_address - 2 * limit) + [429] * (2 * limit)


def test_the_reset_page_is_throttled_and_checks_its_form(
    web: TestClient, member: User, settings: Settings
) -> None:
    expired = web.post("/mot-de-passe-oublie", data={"email": member.email, "form_token": "x"})
    assert expired.status_code == 403
    empty = web.post(
        "/mot-de-passe-oublie",
        data={"email": "", "form_token": form_token(web, "/mot-de-passe-oublie")},
    )
    assert empty.status_code == 422
    assert 'aria-invalid="true"' in empty.text
    for _ in range(settings.login_max_failures_per_account):
        token = form_token(web, "/mot-de-passe-oublie")
        ok = web.post("/mot-de-passe-oublie", data={"email": member.email, "form_token": token})
        assert ok.status_code == 200
    token = form_token(web, "/mot-de-passe-oublie")
    refused = web.post("/mot-de-passe-oublie", data={"email": member.email, "form_token": token})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "Trop de demandes de réinitialisation" in page_text(refused)


def test_an_expired_link_is_refused_and_a_late_mail_is_not_sent(
    app: Any,
    db: Engine,
    settings: Settings,
    web: TestClient,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    assert ask(web, member.email).status_code == 202
    assert deliver(db, app, settings, smtp_server) == 1
    secret = link_in(smtp_server.messages[0], settings, "/mot-de-passe/")
    assert ask(web, member.email).status_code == 202  # a second request, not yet delivered
    with transaction(db) as session:
        for token in session.exec(select(AccountToken)):
            token.expires_at = dates.now() - timedelta(seconds=1)
            session.add(token)
    # The second e-mail's link expired before the worker ran: no e-mail.
    assert deliver(db, app, settings, smtp_server) == 1
    assert len(smtp_server.messages) == 1
    page = web.get(f"/mot-de-passe/{secret}")
    assert page.status_code == 400
    assert "Recevoir un nouveau lien" in page.text
    api = web.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert api.status_code == 400 and api.json()["error"]["code"] == "lien_invalide"
    unknown = web.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "inconnu", "new_password": NEW_PASSWORD},
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "lien_invalide"


def test_a_new_request_replaces_the_previous_link(
    app: Any,
    db: Engine,
    settings: Settings,
    web: TestClient,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    for _ in range(2):
        assert ask(web, member.email).status_code == 202
        deliver(db, app, settings, smtp_server)
    first, second = (link_in(m, settings, "/mot-de-passe/") for m in smtp_server.messages)
    assert first != second
    assert web.get(f"/mot-de-passe/{first}").status_code == 400
    assert web.get(f"/mot-de-passe/{second}").status_code == 200


def test_the_page_refuses_mismatched_short_or_forged_passwords(
    app: Any,
    db: Engine,
    settings: Settings,
    web: TestClient,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    assert ask(web, member.email).status_code == 202
    deliver(db, app, settings, smtp_server)
    url = "/mot-de-passe/" + link_in(smtp_server.messages[0], settings, "/mot-de-passe/")
    differ = set_password_with_link(web, url, confirm=NEW_PASSWORD + "x")
    assert differ.status_code == 422
    assert "Les deux mots de passe ne correspondent pas." in page_text(differ)
    short = set_password_with_link(web, url, password="court")
    assert short.status_code == 422
    assert "au moins 12 caractères" in page_text(short)
    forged = web.post(
        url, data={"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    )
    assert forged.status_code == 403
    # None of these used the link up.
    assert set_password_with_link(web, url).status_code == 303


def test_a_reset_forgets_the_failed_sign_ins(
    app: Any,
    db: Engine,
    settings: Settings,
    web: TestClient,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    browser = TestClient(app, follow_redirects=False)
    for _ in range(settings.login_max_failures_per_account):
        assert login(browser, member.email, "mauvais mot de passe").status_code == 401
    assert login(browser, member.email, PASSWORD).status_code == 429
    assert ask(web, member.email).status_code == 202
    deliver(db, app, settings, smtp_server)
    url = "/mot-de-passe/" + link_in(smtp_server.messages[0], settings, "/mot-de-passe/")
    assert set_password_with_link(web, url).status_code == 303
    assert login(browser, member.email, NEW_PASSWORD).status_code == 303
    browser.close()


def test_two_requests_with_the_same_link_at_once_use_it_once(
    app: Any,
    db: Engine,
    settings: Settings,
    anonymous: Any,
    member: User,
    smtp_server: SmtpServer,
) -> None:
    assert ask(anonymous, member.email).status_code == 202
    deliver(db, app, settings, smtp_server)
    secret = link_in(smtp_server.messages[0], settings, "/mot-de-passe/")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def confirm(password: str) -> None:
        with TestClient(app) as browser:
            barrier.wait()
            r = browser.post(
                "/api/v1/auth/password-reset/confirm",
                json={"token": secret, "new_password": password},
            )
            statuses.append(r.status_code)

    threads = [threading.Thread(target=confirm, args=(f"{NEW_PASSWORD} n° {i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [204, 400, 400, 400]
    with Session(db) as session:
        [token] = session.exec(select(AccountToken)).all()
        assert token.used_at is not None


def test_garbage_gets_a_french_4xx_and_changes_nothing(web: TestClient, member: User) -> None:
    bodies: list[Any] = [
        {"email": "a\u0000b@example.org"},
        {"email": member.email, "extra": 1},
        {"email": ["x"]},
        {"token": "\u0000", "new_password": NEW_PASSWORD},
        {"token": "x" * 201, "new_password": NEW_PASSWORD},
        {"token": "x", "new_password": "y" * 5000},
        [],
    ]
    for path in (
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/auth/invitation/confirm",
    ):
        for body in bodies:
            r = web.post(path, json=body)
            assert 400 <= r.status_code < 500, (path, body, r.text)
            assert r.json()["error"]["message"]
    token = form_token(web, "/mot-de-passe-oublie")
    page = web.post("/mot-de-passe-oublie", data={"email": "a\u0000@x.org", "form_token": token})
    assert page.status_code == 200
    long_link = web.get("/mot-de-passe/" + "x" * 300)
    assert long_link.status_code == 422, long_link.status_code
    assert "text/html" in long_link.headers["content-type"], long_link.headers
