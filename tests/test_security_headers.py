"""Every answer carries the hardening headers, errors included; /docs needs no CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from labelflow.settings import Settings
from labelflow.web.app import create_app
from tests.factories import QUARTIER, create_project

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HARDENING = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
HTML = {"Accept": "text/html"}


def assert_hardened(response: Any, *, cached: bool = False) -> None:
    for name, value in HARDENING.items():
        assert response.headers.get_list(name) == [value], name
    if cached:
        assert "no-store" not in response.headers.get("cache-control", "")
    else:
        assert response.headers.get_list("cache-control") == ["no-store"]


def test_json_answer(client: Any) -> None:
    response = client.get("/api/v1/workflows")
    assert response.status_code == 200
    assert_hardened(response)


def test_html_page(client: Any) -> None:
    response = client.get("/projects", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_hardened(response)


def test_health_check(client: Any) -> None:
    assert_hardened(client.get("/healthz"))


@pytest.mark.parametrize(
    ("path", "headers", "content_type"),
    [
        ("/api/v1/projects/999999", {}, "application/json"),
        ("/nulle-part", HTML, "text/html"),
        ("/api/v1/nulle-part", {}, "application/json"),
    ],
)
def test_not_found(client: Any, path: str, headers: dict[str, str], content_type: str) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(content_type)
    assert_hardened(response)


def test_method_not_allowed(client: Any) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert_hardened(response)


def test_body_too_large(client: Any) -> None:
    project = create_project(client)
    response = client.post(
        f"/api/v1/projects/{project['id']}/documents",
        content=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413
    assert_hardened(response)


def test_validation_error(client: Any) -> None:
    response = client.post("/api/v1/projects", json={})
    assert response.status_code == 422
    assert_hardened(response)


def test_validation_error_on_a_form_page(client: Any) -> None:
    response = client.post("/projects", data={}, headers=HTML)
    assert response.status_code == 422
    assert_hardened(response)


def test_redirects(client: Any) -> None:
    created = client.post(
        "/projects",
        data={
            "name": "Régie du Pile",
            "kind": "quartier",
            "communes": "59512 Roubaix",
            "region": "Hauts-de-France",
            "departement": "Nord",
            "qpv": "Le Pile",
            "initiator": "habitants",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert_hardened(created)
    slash = client.get("/projects/", follow_redirects=False)
    assert slash.status_code in (307, 308)
    assert_hardened(slash)


def test_static_files_are_hardened_but_cacheable(client: Any) -> None:
    response = client.get("/static/labelflow.css")
    assert response.status_code == 200
    assert_hardened(response, cached=True)


@pytest.fixture
def failing_client(settings: Settings, db: Engine) -> Iterator[Any]:
    """A fresh app with routes that fail, answered by the catch-all handler (a 500)."""
    from fastapi.testclient import TestClient

    app = create_app(settings, db=db)

    @app.get("/api/v1/boom")
    def boom_json() -> None:
        raise RuntimeError("boom")

    @app.get("/boom")
    def boom_page() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "headers", "content_type"),
    [("/api/v1/boom", {}, "application/json"), ("/boom", HTML, "text/html")],
)
def test_unexpected_error(
    failing_client: Any, path: str, headers: dict[str, str], content_type: str
) -> None:
    response = failing_client.get(path, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(content_type)
    assert_hardened(response)


def test_docs_need_no_inline_script_and_no_outside_host(client: Any) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert_hardened(response)
    html = response.text
    assert "<title>labelflow — API</title>" in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "no script at all"
    assert all(re.search(r'\bsrc="/static/[^"]+"', tag) for tag in scripts), scripts
    # Every script element is empty: its code comes from the file it names.
    assert re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S) == [""] * len(scripts)
    assert not re.search(r"https?:|//[a-z]", html), "an outside host is referenced"
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset


def test_default_docs_pages_are_gone(client: Any) -> None:
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


def test_openapi_schema_still_served(client: Any) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "labelflow"
    assert "/docs" not in response.json()["paths"]
    assert_hardened(response)


# --- in Chromium: the policy blocks nothing the pages need ----------------------------------------

CSP_WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`)
);
"""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app in uvicorn with one project; yields its address and a staff API token."""
    from tests import test_browser
    from tests.conftest import make_user, token_for

    token = ""

    def populate(engine: Engine) -> None:
        nonlocal token
        token = token_for(engine, make_user(engine, role="staff", is_admin=True))

    with test_browser.serve(tmp_path_factory.mktemp("csp-data"), populate) as base:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth) as http:
            create_project(http)
        yield base, token


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from tests import test_browser

    if not test_browser.CHROMIUM.exists():
        pytest.skip("Chromium n'est pas installé (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(test_browser.CHROMIUM), args=test_browser.CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def watched_page(chromium: Any, live_server: tuple[str, str]) -> Iterator[Any]:
    """A signed-in page that fails the test on a CSP violation or a script error."""
    # The API token stands in for a sign-in: what is under test is the policy, not the login.
    context = chromium.new_context(
        viewport={"width": 1366, "height": 900},
        locale="fr-FR",
        base_url=live_server[0],
        extra_http_headers={"Authorization": f"Bearer {live_server[1]}"},
    )
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield page
    violations = page.evaluate("window.__violations")
    context.close()
    assert (violations, errors) == ([], [])


@pytest.mark.browser
def test_api_docs_render_under_the_policy(watched_page: Any) -> None:
    from playwright.sync_api import expect

    from tests.test_browser import SCREENSHOTS

    page = watched_page
    page.goto("/docs")
    expect(page).to_have_title("labelflow — API")
    expect(page.get_by_text("/api/v1/projects", exact=True).first).to_be_visible(timeout=15_000)
    page.locator(".opblock-summary").first.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))


@pytest.mark.browser
def test_pages_and_diagram_render_under_the_policy(watched_page: Any) -> None:
    from playwright.sync_api import expect

    page = watched_page
    page.goto("/workflows/regie-de-quartier")
    expect(page.locator(".diagram svg")).to_be_visible(timeout=15_000)
    for path in ("/", "/projects/new", "/projects"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.get_by_role("link", name=QUARTIER["name"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(QUARTIER["name"])
