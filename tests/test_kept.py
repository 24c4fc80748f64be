"""The short path of the kept project reads (`web/kept.py`): the project JSON and page it
answers are the routes' own answers, byte for byte and header for header; whatever it does not
answer (no identity, a bad token, an invisible or missing project, an odd address, a view not
kept) the routes answer as they would without it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from labelflow import accounts, cache, dates
from labelflow.db import transaction
from labelflow.models import ApiToken, User, WebSession
from labelflow.web import kept
from tests.conftest import make_user, token_for
from tests.factories import create_project
from tests.test_dashboard import suspend
from tests.test_pages_roles import PASSWORD, login
from tests.test_statements import counted


@pytest.fixture(autouse=True)
def served_caches() -> Iterator[None]:
    """As served: a kept answer is answered, not computed again to be compared."""
    cache.configure(check=False)
    yield
    cache.configure(check=True)


@pytest.fixture
def short_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses the short path answered itself."""
    answered: list[str] = []
    original = kept._kept

    def spied(request: Any, kind: str, project_id: int) -> Any:
        response = original(request, kind, project_id)
        if response is not None:
            answered.append(request.url.path)
        return response

    monkeypatch.setattr(kept, "_kept", spied)
    return answered


def answer(client: TestClient, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    response = client.request(method, path, follow_redirects=False)
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status_code, headers, response.content


def routes_answer(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, path: str, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """The answer without the short path: the routes' alone."""
    with monkeypatch.context() as patch:
        patch.setattr(kept, "_PATHS", ())
        return answer(client, path, method)


def test_the_short_path_answers_the_routes_kept_answers(
    client: Any, db: Engine, app: Any, monkeypatch: pytest.MonkeyPatch, short_answers: list[str]
) -> None:
    """Staff by token and by session, the porteur of the project by session: the JSON, the
    page and the page with a notice, answered by the short path once kept, as the routes
    answer them."""
    porteur = make_user(db, role="porteur", name="Inès Porteuse", password=PASSWORD)
    pid = create_project(client, name="Régie gardée")["id"]
    linked = client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
    assert linked.status_code in (200, 201), linked.text
    suspend(client, pid)  # a history to show, and a notice
    staff = make_user(db, role="staff", name="Paul Suivi", password=PASSWORD)
    viewers = []
    for user in (staff, porteur):
        browser = TestClient(app)
        browser.__enter__()
        assert login(browser, user.email).status_code == 303
        viewers.append(browser)
    by_token = TestClient(app)
    by_token.__enter__()
    by_token.headers["Authorization"] = f"Bearer {token_for(db, staff)}"
    viewers.append(by_token)
    paths = (f"/api/v1/projects/{pid}", f"/projects/{pid}", f"/projects/{pid}?fait=suspendre")
    try:
        for viewer in viewers:
            for path in paths:
                drawn = answer(viewer, path)
                assert drawn[0] == 200, drawn
                short_answers.clear()
                kept_answer = answer(viewer, path)
                assert short_answers == [path.split("?")[0]], path
                assert kept_answer == drawn
                assert kept_answer == routes_answer(monkeypatch, viewer, path)
    finally:
        for viewer in viewers:
            viewer.__exit__(None, None, None)


def test_what_the_short_path_does_not_keep_the_routes_answer(
    client: Any, db: Engine, app: Any, monkeypatch: pytest.MonkeyPatch, short_answers: list[str]
) -> None:
    """No identity, a bad token, another porteur's project, a missing one, an id out of
    range, a trailing slash, a HEAD: the answers are the routes' (401, the login page, 404,
    422), the same with or without the short path, which answered none of them."""
    pid = create_project(client, name="Régie d'une autre")["id"]
    nobody = TestClient(app)  # (the `anonymous` fixture is `client`, its token added)
    outsider = TestClient(app)
    outsider.headers["Authorization"] = f"Bearer {token_for(db, make_user(db, role='porteur'))}"
    forged = TestClient(app)
    forged.headers["Authorization"] = "Bearer pas-un-jeton"
    cases: list[tuple[Any, str, str]] = []
    for base in ("/api/v1/projects/", "/projects/"):
        cases += [
            (nobody, base + str(pid), "GET"),
            (forged, base + str(pid), "GET"),
            (outsider, base + str(pid), "GET"),
            (client, base + "999999", "GET"),
            (client, base + "99999999999", "GET"),
            (client, base + f"{pid}/", "GET"),
            (client, base + str(pid), "HEAD"),
        ]
    for viewer, path, method in cases:
        answer(viewer, path, method)  # whatever is kept, kept
        short_answers.clear()
        status, headers, body = answer(viewer, path, method)
        assert short_answers == [], (path, method)
        assert (status, headers, body) == routes_answer(monkeypatch, viewer, path, method), path
        assert status in (200, 303, 307, 401, 404, 405, 422), (path, method, status)


def test_a_fact_shows_at_once_through_the_short_path(client: Any, short_answers: list[str]) -> None:
    """The kept JSON is answered until a fact: the next answer is drawn again (by the route,
    with what the short path read) and shows it, then kept again."""
    pid = create_project(client, name="Régie suivie")["id"]
    path = f"/api/v1/projects/{pid}"
    client.get(path)
    assert client.get(path).json()["suspended"] is False
    assert short_answers == [path]
    suspend(client, pid)
    short_answers.clear()
    after = client.get(path)
    assert after.status_code == 200 and after.json()["suspended"] is True
    assert short_answers == []  # drawn by the route
    assert client.get(path).json()["suspended"] is True
    assert short_answers == [path]


def test_behind_a_path_prefix_the_short_path_matches_as_the_routes_do(
    client: Any, db: Engine, app: Any, monkeypatch: pytest.MonkeyPatch, short_answers: list[str]
) -> None:
    """Served under a prefix (`labelflow serve` behind a proxy's `/labelflow/`: uvicorn puts the
    prefix in both `root_path` and `path`), the addresses are matched without it, as Starlette's
    routing matches them."""
    pid = create_project(client, name="Régie préfixée")["id"]
    prefixed = TestClient(app, root_path="/labelflow")
    prefixed.headers["Authorization"] = client.headers["Authorization"]
    with prefixed:
        path = f"/labelflow/api/v1/projects/{pid}"
        drawn = answer(prefixed, path)
        assert drawn[0] == 200, drawn
        short_answers.clear()
        assert answer(prefixed, path) == drawn
        assert short_answers == [path]
        assert answer(prefixed, path) == routes_answer(monkeypatch, prefixed, path)


def test_an_error_on_the_short_path_leaves_the_answer_to_the_route(
    client: Any, monkeypatch: pytest.MonkeyPatch, short_answers: list[str]
) -> None:
    """Whatever fails on the short path (here its project statement) is the route's to answer,
    with its own handlers: the project still comes, no 500."""
    pid = create_project(client, name="Régie têtue")["id"]
    path = f"/api/v1/projects/{pid}"
    kept_answer = client.get(path)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("base injoignable")

    monkeypatch.setattr(kept, "visible_view", broken)
    monkeypatch.setattr(kept, "signed_visible_view", broken)
    short_answers.clear()
    again = client.get(path)
    assert short_answers == []
    assert again.status_code == 200 and again.content == kept_answer.content


def signed_in(app: Any, db: Engine, user: Any, via: str) -> TestClient:
    """A client signed in as `user` by an API token or by a browser session."""
    viewer = TestClient(app)
    if via == "token":
        viewer.headers["Authorization"] = f"Bearer {token_for(db, user)}"
    else:
        assert login(viewer, user.email).status_code == 303
    return viewer


@pytest.mark.parametrize("via", ["token", "session"])
def test_a_known_signer_signs_and_reads_in_one_statement(
    app: Any, client: Any, db: Engine, short_answers: list[str], via: str
) -> None:
    """A token or session this process has read valid is checked again in the statement that
    reads the project and its view (`project_view.signed_visible_view`): a kept JSON or page
    costs one statement (besides SQLite's BEGIN), not two."""
    pid = create_project(client, name="Régie signée")["id"]
    viewer = signed_in(app, db, make_user(db, role="staff", password=PASSWORD), via)
    for path, accept in ((f"/api/v1/projects/{pid}", "application/json"),
                         (f"/projects/{pid}", "text/html")):  # fmt: skip
        for _ in range(2):  # drawn; then (a new token's first use written) read anew
            assert viewer.get(path, headers={"Accept": accept}).status_code == 200
        short_answers.clear()
        with counted(db) as statements:
            assert viewer.get(path, headers={"Accept": accept}).status_code == 200
        assert short_answers == [path]
        sent = [s for s in statements if not s.strip().upper().startswith("BEGIN")]
        assert len(sent) == 1, sent


@pytest.mark.parametrize("via", ["token", "session"])
def test_a_known_signer_still_counts_every_change_at_once(
    app: Any, client: Any, db: Engine, short_answers: list[str], via: str
) -> None:
    """The process knows the token or the session, its answer is kept; then the token is
    revoked or the session closed, the account deactivated, given a région or another role,
    each directly in the database (as another process would): the very next request is
    refused (401) or the project hidden (404), and the short path answered none of them."""
    project = create_project(client, name="Régie surveillée")  # Hauts-de-France
    path = f"/api/v1/projects/{project['id']}"
    record = (
        (ApiToken, {"revoked_at": dates.now()})
        if via == "token"
        else (WebSession, {"expires_at": dates.now()})
    )
    changes: list[tuple[Any, dict[str, Any], int]] = [
        (*record, 401),
        (User, {"active": False}, 401),
        (User, {"regions": ["Bretagne"]}, 404),
        (User, {"role": "porteur"}, 404),
    ]
    for model, values, status in changes:
        staff = make_user(db, role="staff", password=PASSWORD)
        viewer = signed_in(app, db, staff, via)
        assert viewer.get(path).status_code == 200
        short_answers.clear()
        assert viewer.get(path).status_code == 200
        assert short_answers == [path]  # known and kept
        with transaction(db) as session:
            key = User.id if model is User else model.user_id
            session.execute(update(model).where(key == staff.id).values(**values))
        short_answers.clear()
        refused = viewer.get(path)
        assert refused.status_code == status, (values, refused.text)
        assert short_answers == [], values
        assert refused.json()["error"]["message"], refused.text  # the routes' French message


def test_a_known_token_due_a_touch_goes_the_long_way(
    client: Any, db: Engine, monkeypatch: pytest.MonkeyPatch, short_answers: list[str]
) -> None:
    """A token's "last used" is written every `TOUCH_EVERY`: when it is due, the known token
    does not sign alone, the long way (`find_token`) writes it."""
    pid = create_project(client, name="Régie utilisée")["id"]
    path = f"/api/v1/projects/{pid}"
    client.get(path)
    client.get(path)

    def last_used() -> Any:
        with transaction(db, write=False) as session:
            return session.get(ApiToken, 1).last_used_at  # the client's token

    before = last_used()
    monkeypatch.setattr(accounts, "TOUCH_EVERY", accounts.TOUCH_EVERY * 0)
    short_answers.clear()
    assert client.get(path).status_code == 200
    assert last_used() > before


def test_a_session_signed_out_replayed_gets_the_login_page(
    app: Any, client: Any, db: Engine, short_answers: list[str]
) -> None:
    """Signed out through the form, the session's cookie replayed (a stolen or an old tab's)
    gets the login page for the project page and a 401 for its JSON, at once: its row is gone,
    the short path knows it no longer signs."""
    from tests.test_auth import csrf_of

    pid = create_project(client, name="Régie quittée")["id"]
    browser = signed_in(app, db, make_user(db, role="staff", password=PASSWORD), "session")
    page, api = f"/projects/{pid}", f"/api/v1/projects/{pid}"
    for path in (page, page, api, api):
        assert browser.get(path).status_code == 200
    assert short_answers == [page, api]
    cookie = browser.cookies.get("labelflow_session")
    assert cookie
    signed_out = browser.post(
        "/logout", data={"csrf_token": csrf_of(browser)}, follow_redirects=False
    )
    assert signed_out.status_code == 303
    replay = TestClient(app)
    replay.cookies.set("labelflow_session", cookie)
    short_answers.clear()
    refused = replay.get(page, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert replay.get(api).status_code == 401
    assert short_answers == []
