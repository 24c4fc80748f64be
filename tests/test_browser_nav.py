"""In Debian's Chromium: the navigation at 1280 px (an administrator's on one line, the
« Administration » group opening below its button) and on a phone at 390 px (a compact bar whose
« Menu » reveals the entries, with JavaScript and without), followed to a page of the group.

The helpers and fixtures (`serve`, `browser`, `page`, `shot`, `sign_in`) are those of
tests/test_browser.py; the screenshots go to the same folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.test_browser import (
    PORTEUR,
    SCREENSHOTS,
    STAFF,
    add_account,
    browser,
    page,
    serve,
    shot,
    sign_in,
    staff_api,
)

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # fixtures of tests/test_browser.py used here

NAV = "Navigation principale"


@pytest.fixture(scope="module")
def nav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An administrator, and Awa Diallo, porteur of a project with a message from the team."""
    from tests.factories import create_project

    data = tmp_path_factory.mktemp("nav-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        porteur = add_account(engine, PORTEUR, "Awa Diallo", "porteur")
        with staff_api(engine, data, staff) as client:
            pid = create_project(client)["id"]
            client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
            posted = client.post(
                f"/api/v1/projects/{pid}/messages",
                json={"body": "Bienvenue !", "audience": "projet"},
            )
            assert posted.status_code == 201, posted.text

    with serve(data, populate) as base:
        yield base


def header_height(page: Any) -> float:
    return float(page.locator(".site-header").bounding_box()["height"])


def entry_tops(page: Any) -> set[float]:
    """The top of every entry shown in the bar: one value when they sit on one line."""
    nav = page.get_by_role("navigation", name=NAV)
    boxes = [nav.locator(".nav > li").nth(i).bounding_box() for i in range(6)]
    return {round(box["y"]) for box in boxes if box is not None}


def test_the_administrator_s_navigation_on_a_desktop_and_on_a_phone(
    nav_server: str, page: Any
) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, nav_server, STAFF)
    nav = page.get_by_role("navigation", name=NAV)
    # One line: every entry, the account and « Se déconnecter » in a bar of one row.
    expect(nav.get_by_role("link", name="Tableau de bord")).to_have_attribute(
        "aria-current", "page"
    )
    expect(nav.get_by_role("button", name="Se déconnecter")).to_be_visible()
    expect(nav.get_by_text("Menu", exact=True)).to_be_hidden()
    assert len(entry_tops(page)) == 1, entry_tops(page)
    assert header_height(page) < 70, header_height(page)
    # The group's entries wait behind its button, which opens them below it.
    comptes = nav.get_by_role("link", name="Comptes")
    expect(comptes).to_be_hidden()
    nav.get_by_text("Administration", exact=True).click()
    expect(comptes).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "navigation-administration-1280.png"))
    # Escape closes it and gives the focus back to its button (static/nav.js).
    page.keyboard.press("Escape")
    expect(comptes).to_be_hidden()
    expect(nav.locator(".nav__group summary")).to_be_focused()
    page.keyboard.press("Enter")  # the keyboard opens it again
    expect(comptes).to_be_visible()
    page.get_by_role("heading", level=1).click()  # a click elsewhere closes it
    expect(comptes).to_be_hidden()

    # On a phone: a compact bar, the entries behind « Menu ».
    page.set_viewport_size({"width": 390, "height": 844})
    assert header_height(page) < 70, header_height(page)
    projets = nav.get_by_role("link", name="Projets")
    expect(projets).to_be_hidden()
    expect(page.get_by_role("link", name="Notifications, aucune non lue")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "navigation-telephone-fermee-390.png"))
    nav.get_by_text("Menu", exact=True).click()
    expect(projets).to_be_visible()
    expect(nav.get_by_role("button", name="Se déconnecter")).to_be_visible()
    nav.get_by_text("Administration", exact=True).click()
    page.screenshot(path=str(SCREENSHOTS / "navigation-telephone-ouverte-390.png"))
    nav.get_by_role("link", name="Tâches").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tâches")
    # Back on a closed bar; the menu, opened, marks the page and its group.
    expect(projets).to_be_hidden()
    nav.get_by_text("Menu", exact=True).click()
    expect(nav.get_by_role("link", name="Tâches")).to_be_hidden()  # the group stays closed
    expect(nav.locator(".nav__group--current summary")).to_have_text("Administration")
    nav.get_by_text("Administration", exact=True).click()
    expect(nav.get_by_role("link", name="Tâches")).to_have_attribute("aria-current", "page")
    page.screenshot(path=str(SCREENSHOTS / "navigation-telephone-taches-390.png"))
    shot(page, "navigation-taches")


def test_a_porteur_s_phone_menu_works_without_javascript(nav_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="fr-FR", java_script_enabled=False
    )
    try:
        page = context.new_page()
        sign_in(page, nav_server, PORTEUR)
        nav = page.get_by_role("navigation", name=NAV)
        toggle = nav.locator("summary", has_text="Menu")
        assert header_height(page) < 70, header_height(page)
        aide = nav.get_by_role("link", name="Aide")
        expect(aide).to_be_hidden()
        page.keyboard.press("Tab")  # the skip link
        page.keyboard.press("Tab")  # the brand
        page.keyboard.press("Tab")
        expect(toggle).to_be_focused()
        page.keyboard.press("Enter")
        expect(aide).to_be_visible()
        expect(nav.get_by_role("link", name="Mon projet")).to_have_attribute("aria-current", "page")
        page.screenshot(path=str(SCREENSHOTS / "navigation-porteur-ouverte-390.png"))
        aide.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Aide")
        toggle.click()
        expect(aide).to_have_attribute("aria-current", "page")
    finally:
        context.close()
