"""In Debian's Chromium: staff convene the Bureau ahead on « Réunions du Bureau » (a future date,
the agenda of decision files), move the meeting; a Bureau member finds the convocation under
the bell and reaches the decision file from the meeting's agenda. Screenshots at 1280 and 390
px (and axe-core) through `shot`.

The helpers and fixtures (`serve`, `browser`, `page`, `shot`, `sign_in`) are those of
tests/test_browser.py; the screenshots go to the same folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from labelflow import dates
from tests.test_browser import STAFF, add_account, browser, page, serve, shot, sign_in, staff_api

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # fixtures of tests/test_browser.py used here

MEMBER = "francoise.vasseur@example.org"
AHEAD = dates.today() + timedelta(days=21)
LATER = dates.today() + timedelta(days=28)


@pytest.fixture(scope="module")
def convening_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two projects at the Bureau step, three Bureau members."""
    from tests.factories import create_project, walk_to

    data = tmp_path_factory.mktemp("convening-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        add_account(engine, MEMBER, "Françoise Vasseur", "bureau")
        add_account(engine, "alain.mercier@example.org", "Alain Mercier", "bureau")
        add_account(engine, "nadia.bensalem@example.org", "Nadia Bensalem", "bureau")
        with staff_api(engine, data, staff) as client:
            walk_to(client, create_project(client), "decision_bureau")
            walk_to(client, create_project(client, name="Régie des Trois Cités"), "decision_bureau")

    with serve(data, populate) as base:
        yield base


def test_staff_convene_the_bureau_and_a_member_reads_the_convocation(
    convening_server: str, page: Any
) -> None:
    from playwright.sync_api import expect

    base = convening_server
    sign_in(page, base, STAFF, "/bureau/meetings")
    form = page.get_by_role("region", name="Convoquer une séance")
    # Both decision files are on the agenda unless unchecked: keep only one.
    expect(form.get_by_label("Régie des Trois Cités")).to_be_checked()
    form.get_by_label("Régie de quartier de l'Alma").uncheck()
    form.get_by_label("Date de la séance").fill(AHEAD.isoformat())
    form.get_by_label("Message aux membres").fill("Siège du Mouvement, salle du conseil, 14 h.")
    form.get_by_role("button", name="Convoquer le Bureau").click()
    expect(page.get_by_role("status")).to_contain_text("les membres du Bureau en sont avertis")
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Convoquée")
    expect(row).to_contain_text("Régie des Trois Cités")
    expect(row).to_contain_text("Présence non enregistrée")
    convened = page.get_by_role("region", name=f"Séance convoquée du {dates.french_date(AHEAD)}")
    expect(convened).to_contain_text("s'enregistrent le jour de la séance")
    shot(page, "bureau-seance-convoquee")

    convened.get_by_label("Nouvelle date").fill(LATER.isoformat())
    convened.get_by_label("Motif du déplacement").fill("Assemblée générale du réseau ce jour-là")
    convened.get_by_role("button", name="Déplacer et prévenir le Bureau").click()
    expect(page.get_by_role("status")).to_contain_text("La séance est déplacée")
    expect(page.locator("tbody tr").first).to_contain_text(dates.french_date(LATER))
    page.get_by_role("button", name="Se déconnecter").click()

    # The member: the convocation and the move under the bell, the agenda's decision file.
    sign_in(page, base, MEMBER)
    page.get_by_role("link", name="Notifications, 2 non lues").click()
    notices = page.locator(".notification")
    expect(notices).to_have_count(2)
    moved = f"Séance du Bureau déplacée au {dates.french_date(LATER)}"
    expect(notices.first).to_contain_text(moved)
    expect(notices.last).to_contain_text("Convocation : séance du Bureau le")
    shot(page, "bureau-membre-convocation")
    notices.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Réunions du Bureau")
    expect(page.get_by_role("link", name="Notifications, 1 non lue")).to_be_visible()
    # A member reads the meetings; only staff convene, move or record them.
    expect(page.get_by_role("region", name="Convoquer une séance")).to_have_count(0)
    page.locator("tbody tr").first.get_by_role("link", name="Régie des Trois Cités").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossiers du Bureau")
    expect(page.locator(".dossier").filter(has_text="Régie des Trois Cités")).to_be_visible()
