"""Signing in and staying signed in: sessions, anti-forgery, throttling, API tokens, passwords."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from labelflow import dates
from labelflow.models import User
from labelflow.settings import Settings
from labelflow.web.app import create_app
from tests.conftest import make_user, token_for
from tests.factories import create_project, create_user

PASSWORD = "cheval correct agrafe batterie"
SESSION = "labelflow_session"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- helpers ----------------------------------------------------------------------------------


def login_token(web: TestClient, url: str = "/login") -> str:
    page = web.get(url)
    assert page.status_code == 200, page.text
    found = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert found, "the login page carries its anti-forgery field"
    return found.group(1)


def login(web: TestClient, email: str, password: str, next_url: str = "/") -> Any:
    token = login_token(web)
    return web.post(
        "/login",
        data={"email": email, "password": password, "login_token": token, "next": next_url},
    )


def signed_in(web: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; the raw session id from the cookie."""
    response = login(web, email, password)
    assert response.status_code == 303, response.text
    return session_cookie(response)


def session_cookie(response: Any) -> str:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == SESSION:
            return rest.split(";", 1)[0]
    raise AssertionError("no session cookie was set")


def cookie_attributes(response: Any) -> set[str]:
    """The attributes of the session's Set-Cookie header, lower-cased: {"httponly", "path=/"...}."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION}="))
    return {part.strip().lower() for part in header.split(";")[1:]}


def with_session(app: Any, raw: str, base_url: str = "http://testserver") -> TestClient:
    """A browser presenting exactly this session id (and nothing else)."""
    return TestClient(
        app, base_url=base_url, follow_redirects=False, headers={"Cookie": f"{SESSION}={raw}"}
    )


def csrf_of(web: TestClient) -> str:
    """The session's anti-forgery token, as every page's forms carry it."""
    page = web.get("/account")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found and found.group(1)
    return found.group(1)


def is_login_redirect(response: Any) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.fixture
def web(app: Any, anonymous: Any) -> Iterator[TestClient]:
    """A browser: keeps its cookies, does not follow redirects."""
    with TestClient(app, follow_redirects=False) as browser:
        yield browser


@pytest.fixture
def member(db: Engine, anonymous: Any) -> User:
    return make_user(db, role="staff", name="Morgane Martin", password=PASSWORD)


# --- login and the session cookie -------------------------------------------------------------


def test_login_opens_a_session(web: TestClient, member: User) -> None:
    assert is_login_redirect(web.get("/"))
    response = login(web, member.email, PASSWORD, next_url="/projects")
    assert response.status_code == 303
    assert response.headers["location"] == "/projects"
    assert web.get("/projects").status_code == 200
    me = web.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == member.email
    assert "password" not in me.text and "hash" not in me.text


def test_login_refuses_an_outside_next(web: TestClient, member: User) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = login(web, member.email, PASSWORD, next_url=target)
        assert response.headers["location"] == "/", target


def test_login_form_needs_its_token(web: TestClient, member: User) -> None:
    login_token(web)  # the cookie alone is not enough
    response = web.post("/login", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 403
    assert SESSION not in response.headers.get("set-cookie", "")
    forged = web.post(
        "/login",
        data={"email": member.email, "password": PASSWORD, "login_token": "x.y"},
    )
    assert forged.status_code == 403


def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: Any, web: TestClient, member: User, db: Engine
) -> None:
    inactive = make_user(db, role="staff", password=PASSWORD)
    assert client.patch(f"/api/v1/users/{inactive.id}", json={"active": False}).status_code == 200
    answers = []
    for email, password in (
        ("personne@example.org", PASSWORD),
        (member.email, "pas le bon mot de passe"),
        (inactive.email, PASSWORD),
    ):
        response = login(web, email, password)
        body = re.sub(r'name="login_token" value="[^"]+"', "", response.text)
        body = body.replace(email, "EMAIL")
        answers.append((response.status_code, body))
        assert "Adresse e-mail ou mot de passe incorrect." in response.text
        assert SESSION not in response.headers.get("set-cookie", "")
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401


def test_session_cookie_flags(app: Any, web: TestClient, member: User) -> None:
    attributes = cookie_attributes(login(web, member.email, PASSWORD))
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain HTTP (development): a Secure cookie would be lost
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as secure:
        attributes = cookie_attributes(login(secure, member.email, PASSWORD))
    assert {"httponly", "samesite=lax", "path=/", "secure"} <= attributes


def test_session_id_is_renewed_at_login(app: Any, web: TestClient, member: User) -> None:
    # An id planted before sign-in (session fixation) is never adopted.
    web.cookies.set(SESSION, "plante-par-un-tiers")
    first = signed_in(web, member.email)
    assert first != "plante-par-un-tiers"
    second = signed_in(web, member.email)
    assert second != first
    with with_session(app, first) as old, with_session(app, second) as new:
        assert is_login_redirect(old.get("/"))
        assert old.get("/api/v1/me").status_code == 401
        assert new.get("/api/v1/me").status_code == 200


def test_logout_ends_the_session(app: Any, web: TestClient, member: User) -> None:
    raw = signed_in(web, member.email)
    response = web.post("/logout", data={"csrf_token": csrf_of(web)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with with_session(app, raw) as replay:
        assert is_login_redirect(replay.get("/"))
        assert replay.get("/api/v1/me").status_code == 401


def test_logout_needs_the_anti_forgery_token(app: Any, web: TestClient, member: User) -> None:
    raw = signed_in(web, member.email)
    assert web.post("/logout").status_code == 403
    assert web.post("/logout", data={"csrf_token": "faux"}).status_code == 403
    with with_session(app, raw) as same:
        assert same.get("/api/v1/me").status_code == 200


def test_idle_timeout(app: Any, web: TestClient, member: User, settings: Settings) -> None:
    idle = timedelta(minutes=settings.session_idle_minutes)
    with dates.frozen(T0):
        raw = signed_in(web, member.email)
    with with_session(app, raw) as browser:
        # Activity keeps the session alive...
        moment = T0
        for _ in range(3):
            moment += idle - timedelta(minutes=5)
            with dates.frozen(moment):
                assert browser.get("/api/v1/me").status_code == 200
        # ...a pause longer than the idle limit ends it.
        with dates.frozen(moment + idle + timedelta(minutes=1)):
            assert browser.get("/api/v1/me").status_code == 401
            assert is_login_redirect(browser.get("/"))


def test_absolute_timeout(app: Any, web: TestClient, member: User, settings: Settings) -> None:
    absolute = timedelta(hours=settings.session_absolute_hours)
    step = timedelta(minutes=settings.session_idle_minutes) / 2
    with dates.frozen(T0):
        raw = signed_in(web, member.email)
    with with_session(app, raw) as browser:
        moment = T0
        while moment + step < T0 + absolute:
            moment += step
            with dates.frozen(moment):
                assert browser.get("/api/v1/me").status_code == 200, moment
        with dates.frozen(T0 + absolute + timedelta(minutes=1)):
            assert browser.get("/api/v1/me").status_code == 401


def test_deactivation_takes_effect_on_the_next_request(
    app: Any, client: Any, web: TestClient, db: Engine
) -> None:
    user = make_user(db, role="consultant", password=PASSWORD)
    raw = signed_in(web, user.email)
    token = token_for(db, user)
    with with_session(app, raw) as browser, TestClient(app) as api:
        api.headers["Authorization"] = f"Bearer {token}"
        assert browser.get("/api/v1/me").status_code == 200
        assert api.get("/api/v1/me").status_code == 200
        r = client.patch(f"/api/v1/users/{user.id}", json={"active": False})
        assert r.status_code == 200 and r.json()["active"] is False
        assert browser.get("/api/v1/me").status_code == 401
        assert is_login_redirect(browser.get("/"))
        assert api.get("/api/v1/me").status_code == 401
        # Reactivated: the token works again, the closed session does not come back.
        assert client.patch(f"/api/v1/users/{user.id}", json={"active": True}).status_code == 200
        assert api.get("/api/v1/me").status_code == 200
        assert browser.get("/api/v1/me").status_code == 401


def test_removing_a_member_ends_their_access_at_once(
    app: Any, client: Any, web: TestClient, db: Engine
) -> None:
    project = create_project(client)
    porteur = make_user(db, role="porteur", password=PASSWORD)
    url = f"/api/v1/projects/{project['id']}/members"
    assert client.post(url, json={"user_id": porteur.id}).status_code == 201
    raw = signed_in(web, porteur.email)
    with with_session(app, raw) as browser:
        assert browser.get(f"/api/v1/projects/{project['id']}").status_code == 200
        assert browser.get(f"/projects/{project['id']}").status_code == 200
        assert client.delete(f"{url}/{porteur.id}").status_code == 204
        assert browser.get(f"/api/v1/projects/{project['id']}").status_code == 404
        assert browser.get(f"/projects/{project['id']}").status_code == 404


# --- anti-forgery -----------------------------------------------------------------------------


def test_page_form_needs_the_session_token(client: Any, web: TestClient, member: User) -> None:
    project = create_project(client)
    pid = project["id"]
    signed_in(web, member.email)
    form = {"name": "Amicale des locataires", "college": "habitants"}

    def stakeholders() -> int:
        return len(client.get(f"/api/v1/projects/{pid}/stakeholders").json())

    for forged in ({}, {"csrf_token": ""}, {"csrf_token": "pas-le-bon"}):
        response = web.post(f"/projects/{pid}/stakeholders", data={**form, **forged})
        assert response.status_code == 403, forged
        assert "rechargez la page" in response.text
    assert stakeholders() == 0
    response = web.post(f"/projects/{pid}/stakeholders", data={**form, "csrf_token": csrf_of(web)})
    assert response.status_code == 303, response.text
    assert stakeholders() == 1


def test_api_with_a_session_needs_the_csrf_header(
    client: Any, web: TestClient, member: User
) -> None:
    pid = create_project(client)["id"]
    signed_in(web, member.email)
    url = f"/api/v1/projects/{pid}/stakeholders"
    body = {"name": "Amicale des locataires", "college": "habitants"}
    assert web.get(url).status_code == 200  # reading needs no token
    for headers in ({}, {"X-CSRF-Token": "pas-le-bon"}):
        response = web.post(url, json=body, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf"
    assert web.get(url).json() == []
    response = web.post(url, json=body, headers={"X-CSRF-Token": csrf_of(web)})
    assert response.status_code == 201, response.text
    # A bearer token is never sent by a browser on its own: it needs no anti-forgery header.
    assert client.post(url, json=body).status_code == 201


# --- throttling -------------------------------------------------------------------------------


def fail(web: TestClient, email: str) -> Any:
    return login(web, email, "mauvais mot de passe")


def test_failures_per_account_are_throttled(
    web: TestClient, member: User, settings: Settings
) -> None:
    limit = settings.login_max_failures_per_account
    with dates.frozen(T0):
        for _ in range(limit):
            assert fail(web, member.email).status_code == 401
        response = fail(web, member.email)
        assert response.status_code == 429
        retry_after = int(response.headers["Retry-After"])
        assert 0 < retry_after <= settings.login_window_minutes * 60 + 1
        assert "Trop de tentatives" in response.text
        # The right password is refused too while the account is throttled.
        blocked = login(web, member.email, PASSWORD)
        assert blocked.status_code == 429
        assert SESSION not in blocked.headers.get("set-cookie", "")
    # Refused until the moment Retry-After announced, then signed in.
    with dates.frozen(T0 + timedelta(seconds=retry_after - 2)):
        assert login(web, member.email, PASSWORD).status_code == 429
    with dates.frozen(T0 + timedelta(seconds=retry_after)):
        assert login(web, member.email, PASSWORD).status_code == 303


def test_throttling_holds_across_app_processes(
    app: Any, web: TestClient, member: User, settings: Settings, db: Engine
) -> None:
    limit = settings.login_max_failures_per_account
    second_app = create_app(settings, db=db)
    with TestClient(second_app, follow_redirects=False) as other:
        for i in range(limit):
            assert fail(web if i % 2 else other, member.email).status_code == 401
        assert fail(web, member.email).status_code == 429
        response = login(other, member.email, PASSWORD)
        assert response.status_code == 429
        assert "Retry-After" in response.headers


def test_failures_per_address_are_throttled(
    web: TestClient, member: User, settings: Settings
) -> None:
    # One failure for each of many e-mails: no account reaches its own limit, the address does.
    for n in range(settings.login_max_failures_per_address):
        assert fail(web, f"inconnu{n}@example.org").status_code == 401
    response = login(web, member.email, PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def field_error(html: str, field_id: str) -> str:
    """The message shown beside a field of the login form ('' when none)."""
    found = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', html)
    return found.group(1) if found else ""


def test_an_empty_field_is_required_not_a_wrong_password(
    web: TestClient, member: User, settings: Settings
) -> None:
    no_password = login(web, member.email, "")
    assert no_password.status_code == 422
    html = no_password.text
    assert field_error(html, "login-password") == "Ce champ est obligatoire."
    assert field_error(html, "login-email") == ""
    assert "incorrect" not in html
    assert f'value="{member.email}"' in html  # what was typed stays
    password_input = re.search(r'<input id="login-password"[^>]*>', html)
    assert password_input
    assert 'aria-invalid="true"' in password_input.group(0)
    assert 'aria-describedby="login-password-error"' in password_input.group(0)

    nothing = login(web, "  ", "")
    assert nothing.status_code == 422
    assert field_error(nothing.text, "login-email") == "Ce champ est obligatoire."
    assert field_error(nothing.text, "login-password") == "Ce champ est obligatoire."
    no_email = login(web, "", PASSWORD)
    assert field_error(no_email.text, "login-email") == "Ce champ est obligatoire."
    assert field_error(no_email.text, "login-password") == ""

    # Not a failed attempt: far more empty submissions than the limit, and the account signs in.
    for _ in range(settings.login_max_failures_per_account + 2):
        assert login(web, member.email, "").status_code == 422
    assert login(web, member.email, PASSWORD).status_code == 303


def test_the_lockout_says_how_long_and_what_to_do(
    web: TestClient, member: User, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_per_account):
        with dates.frozen(T0):
            fail(web, member.email)
    with dates.frozen(T0):
        locked = fail(web, member.email)
    assert locked.status_code == 429
    message = unescape(locked.text)
    minutes = settings.login_window_minutes
    assert f"la connexion est bloquée pendant {minutes} minutes." in message
    assert "Attendez ce délai avant de réessayer" in message
    assert "demandez à l'équipe nationale" in message and settings.contact_email in message
    assert "réinitialiser votre mot de passe" in message
    assert "(s)" not in message
    with dates.frozen(T0 + timedelta(minutes=minutes, seconds=-30)):
        last_minute = unescape(fail(web, member.email).text)
    assert "bloquée pendant 1 minute." in last_minute


def test_a_new_password_from_the_national_team_lifts_the_lockout(
    client: Any, web: TestClient, member: User, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_per_account):
        fail(web, member.email)
    assert login(web, member.email, PASSWORD).status_code == 429
    new_password = "une toute nouvelle phrase de passe"
    reset = client.patch(f"/api/v1/users/{member.id}", json={"password": new_password})
    assert reset.status_code == 200, reset.text
    assert login(web, member.email, new_password).status_code == 303


def test_api_errors_name_the_bearer_scheme(anonymous: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer lf_inconnu"}, {"Authorization": "Basic eDp5"}):
        response = anonymous.get("/api/v1/projects", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "non_authentifie"
        assert response.json()["error"]["message"]


# --- API tokens -------------------------------------------------------------------------------


def test_token_lifecycle(app: Any, client: Any, db: Engine, staff_user: User) -> None:
    response = client.post("/api/v1/me/tokens", json={"name": "Tableur du réseau"})
    assert response.status_code == 201, response.text
    created = response.json()
    raw = created["token"]
    assert raw.startswith("lf_") and len(raw) > 30
    listed = client.get("/api/v1/me/tokens")
    assert listed.status_code == 200
    assert raw not in listed.text and "token_hash" not in listed.text
    assert created["id"] in [t["id"] for t in listed.json()]
    # Stored hashed: no column of the table holds the token.
    with db.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_tokens")).all()
    assert rows and all(raw not in [str(v) for v in row] for row in rows)
    with TestClient(app) as integration:
        integration.headers["Authorization"] = f"Bearer {raw}"
        me = integration.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["id"] == staff_user.id
        assert client.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 204
        revoked = integration.get("/api/v1/me")
        assert revoked.status_code == 401
        assert revoked.headers["WWW-Authenticate"] == "Bearer"
    entry = next(t for t in client.get("/api/v1/me/tokens").json() if t["id"] == created["id"])
    assert entry["revoked_at"] is not None


def test_a_token_of_someone_else_cannot_be_revoked(
    app: Any, client: Any, client_as: Any, db: Engine
) -> None:
    other = make_user(db, role="consultant")
    other_token = token_for(db, other)
    theirs = client_as(other).get("/api/v1/me/tokens").json()
    assert client.delete(f"/api/v1/me/tokens/{theirs[0]['id']}").status_code == 404
    with TestClient(app) as api:
        api.headers["Authorization"] = f"Bearer {other_token}"
        assert api.get("/api/v1/me").status_code == 200


# --- passwords --------------------------------------------------------------------------------


def test_password_rules(app: Any, client: Any, db: Engine) -> None:
    short = client.post(
        "/api/v1/users",
        json={"email": "court@example.org", "name": "Court", "role": "porteur",
              "password": "onze-carac!"},
    )  # fmt: skip
    assert short.status_code == 422
    error = short.json()["error"]
    assert error["fields"][0]["field"] == "password"
    assert "au moins 12 caractères" in error["fields"][0]["message"]
    assert "onze-carac!" not in short.text
    long_password = "é" + "x" * 198 + "!"
    assert len(long_password) == 200
    created = create_user(client, "porteur", password=long_password)
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash FROM users WHERE id = :id"), {"id": created["id"]}
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert long_password not in stored
    with TestClient(app, follow_redirects=False) as browser:
        assert login(browser, created["email"], long_password).status_code == 303


def test_passwords_never_reach_the_logs(
    app: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "phrase-secrète-qui-ne-doit-jamais-fuiter"
    caplog.set_level(logging.DEBUG)
    created = create_user(client, "bureau", password=secret)
    with TestClient(app, follow_redirects=False) as browser:
        assert login(browser, created["email"], secret).status_code == 303
        assert login(browser, created["email"], secret + "x").status_code == 401
    client.patch(f"/api/v1/users/{created['id']}", json={"password": secret + "-2"})
    assert caplog.records  # something was logged (the capture works)...
    assert secret not in caplog.text  # ...but never the password


# --- public routes and start-up ---------------------------------------------------------------


def test_healthz_needs_no_authentication(anonymous: Any) -> None:
    response = anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_production_refuses_the_default_secret(settings: Settings, db: Engine) -> None:
    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(ValueError, match="LABELFLOW_SECRET_KEY doit être défini"):
        create_app(production, db=db)
    with pytest.raises(ValueError, match="production"):
        create_app(production.model_copy(update={"secret_key": ""}), db=db)
    create_app(production.model_copy(update={"secret_key": "x" * 48}), db=db)
