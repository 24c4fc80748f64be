"""In Debian's Chromium: an admin creates the address of their calendar on « Mon compte » (a
calendar application then reads it), registers a webhook on « Webhooks » (its secret shown
once; a private address refused with its reason beside the field), and removes it.

The helpers and fixtures (`serve`, `browser`, `page`, `shot`, `sign_in`) are those of
tests/test_browser.py; the screenshots go to the same folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import icalendar
import pytest

from tests.test_browser import STAFF, browser, page, seed_staff, serve, shot, sign_in

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # fixtures of tests/test_browser.py used here


@pytest.fixture(scope="module")
def feeds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("feeds-data"), seed_staff) as base:
        yield base


def test_an_admin_creates_a_calendar_address_and_a_webhook(feeds_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    base = feeds_server
    sign_in(page, base, STAFF, "/account")
    agenda = page.get_by_role("region", name="Agenda")
    expect(agenda).to_contain_text("Votre agenda n’a pas encore d’adresse.")
    agenda.get_by_role("button", name="Créer l’adresse de mon agenda").click()
    address = page.get_by_label("Adresse de votre agenda")
    expect(address).to_be_visible()
    url = address.input_value()
    assert "/calendar/" in url and url.endswith(".ics")
    shot(page, "agenda-adresse")
    # What a calendar application does with it: no session, a parsable calendar.
    feed = httpx.get(base + url[url.index("/calendar/") :])
    assert feed.status_code == 200
    assert icalendar.Calendar.from_ical(feed.content)["X-WR-TIMEZONE"] == "Europe/Paris"

    page.goto(base + "/taches")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    form = page.get_by_role("region", name="Enregistrer un webhook")
    form.get_by_label("Adresse (https://…)").fill("http://192.168.1.20/recevoir")
    form.get_by_role("button", name="Enregistrer le webhook").click()
    expect(page.get_by_role("alert").first).to_contain_text("réseau privé ou local")
    expect(page.get_by_label("Adresse (https://…)")).to_have_value("http://192.168.1.20/recevoir")
    shot(page, "webhooks-refus")

    form = page.get_by_role("region", name="Enregistrer un webhook")
    form.get_by_label("Adresse (https://…)").fill("https://93.184.215.14/labelflow/evenements")
    form.get_by_label("Messages").uncheck()
    form.get_by_role("button", name="Enregistrer le webhook").click()
    secret = page.get_by_label("Secret de signature")
    expect(secret).to_be_visible()
    assert secret.input_value().startswith("whsec_")
    card = page.get_by_role("region", name="n° 1 · https://93.184.215.14/labelflow/evenements")
    expect(card).to_contain_text("Actif")
    expect(card).not_to_contain_text("Messages")
    shot(page, "webhooks")

    page.goto(base + "/webhooks")
    expect(page.get_by_label("Secret de signature")).to_have_count(0)
    page.get_by_role("button", name="Supprimer le webhook n° 1").click()
    expect(page.get_by_role("status")).to_contain_text("Le webhook est supprimé")
    expect(page.get_by_text("Aucun webhook pour l’instant.")).to_be_visible()
