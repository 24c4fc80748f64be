"""Changing one's own password on « Mon compte » and through `PUT /api/v1/me/password`: the
current password is required (a wrong one counts as a failed sign-in: the throttle holds), the
rule of account creation applies, every other session of the account ends, API tokens stay."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from labelflow import accounts, dates
from labelflow.french import typeset
from labelflow.models import Event, LoginAttempt, User, WebSession
from labelflow.settings import Settings
from tests.conftest import make_user, token_for
from tests.test_auth import login
from tests.test_pages_roles import csrf, text_of

OLD = "cheval correct agrafe batterie"
NEW = "une autre phrase bien plus longue"
URL = "/api/v1/me/password"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMPTY = "Ce champ ne peut pas être vide."
UNKNOWN = "Ce champ n'est pas reconnu."


@pytest.fixture
def member(db: Engine, anonymous: Any) -> User:
    return make_user(db, role="porteur", name="Awa Diallo", password=OLD)


def browser(app: Any) -> TestClient:
    return TestClient(app, follow_redirects=False)


def signed_in(app: Any, user: User, password: str = OLD) -> TestClient:
    web = browser(app)
    response = login(web, user.email, password)
    assert response.status_code == 303, response.text
    return web


def can_sign_in(app: Any, user: User, password: str) -> bool:
    response = login(browser(app), user.email, password)
    assert response.status_code in (303, 401), response.text
    return response.status_code == 303


def api_as(app: Any, db: Engine, user: User) -> TestClient:
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token_for(db, user)}"
    return client


def failures(db: Engine, user: User) -> int:
    with Session(db) as session:
        rows = session.exec(
            select(LoginAttempt).where(
                LoginAttempt.email == user.email,
                LoginAttempt.success == False,  # noqa: E712
            )
        ).all()
    return len(rows)


def password_facts(db: Engine, user: User) -> list[Event]:
    with Session(db) as session:
        return list(
            session.exec(
                select(Event).where(Event.kind == "compte", Event.action == "mot_de_passe")
            ).all()
        )


def fields_of(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {f["field"]: f["message"] for f in response.json()["error"]["fields"]}


# --- the API ------------------------------------------------------------------------------------


def test_a_wrong_current_password_is_refused_and_changes_nothing(
    app: Any, db: Engine, member: User
) -> None:
    api = api_as(app, db, member)
    other = signed_in(app, member)
    response = api.put(URL, json={"current_password": "pas le bon", "new_password": NEW})
    assert fields_of(response) == {"current_password": "Le mot de passe actuel est incorrect."}
    assert response.json()["error"]["code"] == "requete_invalide"
    # Nothing changed: the old password still signs in, the new one does not, the other
    # session is still open, no fact recorded; the failure itself counts (the throttle).
    assert can_sign_in(app, member, OLD)
    assert not can_sign_in(app, member, NEW)
    assert other.get("/account").status_code == 200
    assert password_facts(db, member) == []
    assert failures(db, member) == 2  # the wrong current password, then the NEW sign-in above


def test_the_new_password_follows_the_rule_of_account_creation(
    app: Any, db: Engine, member: User
) -> None:
    api = api_as(app, db, member)
    too_short = f"Le mot de passe doit compter au moins {accounts.PASSWORD_MIN} caractères."
    for body, expected in (
        ({"current_password": OLD, "new_password": "court"}, {"new_password": too_short}),
        (
            {"current_password": OLD, "new_password": "x" * 1025},
            {"new_password": "Le mot de passe ne peut pas dépasser 1024 caractères."},
        ),
        (
            {"current_password": OLD, "new_password": OLD},
            {"new_password": accounts.SAME_PASSWORD},
        ),
        (
            {"current_password": "faux", "new_password": "court"},
            {"current_password": accounts.WRONG_PASSWORD, "new_password": too_short},
        ),
        ({"current_password": OLD}, {"new_password": "Ce champ est obligatoire."}),
        ({"current_password": "", "new_password": NEW}, {"current_password": EMPTY}),
        ({"current_password": OLD, "new_password": NEW, "x": 1}, {"x": UNKNOWN}),
    ):  # fmt: skip
        response = api.put(URL, json=body)
        assert fields_of(response) == expected, body
    assert can_sign_in(app, member, OLD)
    assert password_facts(db, member) == []


def test_a_changed_password_signs_in_the_old_one_no_longer(
    app: Any, db: Engine, member: User, settings: Settings
) -> None:
    api = api_as(app, db, member)
    elsewhere = signed_in(app, member)
    response = api.put(URL, json={"current_password": OLD, "new_password": NEW})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert not can_sign_in(app, member, OLD)
    assert can_sign_in(app, member, NEW)
    # Changed through an API token: every web session of the account ended, the token stays.
    response = elsewhere.get("/account")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert api.get("/api/v1/me").status_code == 200
    # The fact names the account, never the password.
    (fact,) = password_facts(db, member)
    assert fact.actor_id == member.id and fact.project_id is None
    assert fact.data["user_id"] == member.id
    assert OLD not in str(fact.data) and NEW not in str(fact.data)
    assert not any("password" in key for key in fact.data)


def test_unauthenticated_and_csrf(app: Any, member: User) -> None:
    anonymous = TestClient(app)
    response = anonymous.put(URL, json={"current_password": OLD, "new_password": NEW})
    assert response.status_code == 401
    # A browser session must prove the call comes from our page.
    web = signed_in(app, member)
    response = web.put(URL, json={"current_password": OLD, "new_password": NEW})
    assert response.status_code == 403
    assert can_sign_in(app, member, OLD)


def test_through_a_web_session_it_stays_signed_in_and_the_others_end(
    app: Any, db: Engine, member: User
) -> None:
    here = signed_in(app, member)
    phone = signed_in(app, member)
    someone_else = make_user(db, role="porteur", password=OLD)
    theirs = signed_in(app, someone_else)
    token = csrf(here.get("/account"))
    response = here.put(
        URL,
        json={"current_password": OLD, "new_password": NEW},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 204, response.text
    assert here.get("/account").status_code == 200
    assert phone.get("/account").status_code == 303
    assert theirs.get("/account").status_code == 200  # another account's sessions stay
    with Session(db) as session:
        left = session.exec(select(WebSession).where(WebSession.user_id == member.id)).all()
    assert len(left) == 1


def test_throttling_is_not_bypassed(app: Any, db: Engine, member: User, settings: Settings) -> None:
    api = api_as(app, db, member)
    limit = settings.login_max_failures_per_account
    with dates.frozen(T0):
        for n in range(limit):
            response = api.put(URL, json={"current_password": f"essai {n}", "new_password": NEW})
            assert response.status_code == 422
        # Throttled now: even the right current password is refused, and so is sign-in.
        response = api.put(URL, json={"current_password": OLD, "new_password": NEW})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0
        assert "Trop de tentatives" in response.json()["error"]["message"]
        assert login(browser(app), member.email, OLD).status_code == 429
    # Wrong guesses at sign-in count against the password change too.
    later = T0 + timedelta(minutes=settings.login_window_minutes + 1)
    with dates.frozen(later):
        web = browser(app)
        for _ in range(limit):
            assert login(web, member.email, "mauvais").status_code == 401
        response = api.put(URL, json={"current_password": OLD, "new_password": NEW})
        assert response.status_code == 429
    with dates.frozen(later + timedelta(minutes=settings.login_window_minutes + 1)):
        response = api.put(URL, json={"current_password": OLD, "new_password": NEW})
        assert response.status_code == 204, response.text
        # The failures before the change no longer count.
        assert failures(db, member) == 0


# --- the page ---------------------------------------------------------------------------------


def test_the_form_on_mon_compte(app: Any, db: Engine, member: User) -> None:
    web = signed_in(app, member)
    phone = signed_in(app, member)
    page = web.get("/account")
    assert page.status_code == 200
    html = text_of(page)
    assert '<h2 id="mot-de-passe-title">Mot de passe</h2>' in html
    for field in ("current_password", "new_password", "new_password_again"):
        assert re.search(rf'<label for="password-{field}">', html), field
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html
    token = csrf(page)

    def post(**values: str) -> Any:
        return web.post("/account/password", data={"csrf_token": token, **values})

    # The two entries differ; then a wrong current password: said beside the field, in
    # French, and no password is written back into the page.
    response = post(current_password=OLD, new_password=NEW, new_password_again=NEW + "!")
    assert response.status_code == 422
    assert "Les deux saisies du nouveau mot de passe ne sont pas identiques." in text_of(response)
    response = post(current_password="pas le bon", new_password=NEW, new_password_again=NEW)
    assert response.status_code == 422
    refused = text_of(response)
    assert 'id="password-current_password-error">Le mot de passe actuel est incorrect.' in refused
    assert "pas le bon" not in refused and NEW not in refused
    response = post(current_password=OLD, new_password="court", new_password_again="court")
    assert response.status_code == 422
    assert "Le mot de passe doit compter au moins 12 caractères." in text_of(response)
    response = post()
    assert response.status_code == 422
    assert "Ce champ est obligatoire." in text_of(response)
    assert can_sign_in(app, member, OLD)
    # Without the anti-forgery field: refused.
    response = web.post(
        "/account/password",
        data={"current_password": OLD, "new_password": NEW, "new_password_again": NEW},
    )
    assert response.status_code == 403
    # Done: back on « Mon compte », saying so; this session stays, the phone's ended.
    response = post(current_password=OLD, new_password=NEW, new_password_again=NEW)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account?fait=mot_de_passe_change#mot-de-passe"
    page = web.get(response.headers["location"])
    assert page.status_code == 200
    assert typeset("Votre mot de passe est changé. Vos autres sessions sont fermées.") in text_of(
        page
    )
    assert phone.get("/account").status_code == 303
    assert can_sign_in(app, member, NEW)
    assert not can_sign_in(app, member, OLD)
    assert len(password_facts(db, member)) == 1


def test_the_page_shows_the_throttle(
    app: Any, db: Engine, member: User, settings: Settings
) -> None:
    web = signed_in(app, member)
    token = csrf(web.get("/account"))
    with dates.frozen(T0):
        for _ in range(settings.login_max_failures_per_account):
            response = web.post(
                "/account/password",
                data={
                    "csrf_token": token,
                    "current_password": "faux",
                    "new_password": NEW,
                    "new_password_again": NEW,
                },
            )
            assert response.status_code == 422
        response = web.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current_password": OLD,
                "new_password": NEW,
                "new_password_again": NEW,
            },
        )
        assert response.status_code == 429
        assert "Retry-After" in response.headers
        assert "Trop de tentatives" in text_of(response)
    assert can_sign_in(app, member, OLD)


def test_an_admin_setting_a_password_still_ends_every_session(
    client: Any, app: Any, member: User
) -> None:
    elsewhere = signed_in(app, member)
    response = client.patch(f"/api/v1/users/{member.id}", json={"password": NEW})
    assert response.status_code == 200, response.text
    assert elsewhere.get("/account").status_code == 303
    assert can_sign_in(app, member, NEW)
