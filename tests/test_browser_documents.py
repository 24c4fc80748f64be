"""In Debian's Chromium: a porteur gives a document, staff refuse it with a reason, the porteur
reads the reason on « Mon projet » and gives a new version, which supersedes the refused one.

The helpers and fixtures (`serve`, `browser`, `page`, `shot`, `sign_in`) are those of
tests/test_browser.py; the screenshots go to the same folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from labelflow import accounts
from labelflow.actors import SYSTEM
from labelflow.db import transaction
from labelflow.models import Project
from tests.factories import PDF
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

REASON = "La note n'est pas signée : faites-la signer par la présidente, puis déposez-la."


@pytest.fixture(scope="module")
def correction_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A project at its first step with no document yet; Awa Diallo its porteur."""
    from tests.factories import create_project

    data = tmp_path_factory.mktemp("correction-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        porteur = add_account(engine, PORTEUR, "Awa Diallo", "porteur")
        with staff_api(engine, data, staff) as client:
            project = create_project(client)
        with transaction(engine) as session:
            mine = session.get(Project, project["id"])
            assert mine is not None
            accounts.create_member(session, project=mine, user_id=porteur.id or 0, actor=SYSTEM)

    with serve(data, populate) as base:
        yield base


def _give(page: Any, filename: str, content: bytes) -> None:
    section = page.locator("#pieces")
    depot = section.locator("#depot")
    if depot.get_attribute("open") is None:
        depot.locator("summary", has_text="Déposer une pièce").click()
    page.get_by_label("Type de pièce").select_option("note_cadrage")
    page.locator("#document-file").set_input_files(
        {"name": filename, "mimeType": "application/pdf", "buffer": content}
    )
    section.get_by_role("button", name="Déposer la pièce").click()


def test_porteur_gives_a_document_staff_refuse_it_porteur_gives_a_new_version(
    correction_server: str, page: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    base = correction_server
    # The porteur gives the note de cadrage.
    sign_in(page, base, PORTEUR)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon projet")
    expected = page.locator("#attendue-note_cadrage")
    expect(expected).to_contain_text("À déposer")
    _give(page, "note-de-cadrage-v1.pdf", PDF)
    expect(page.get_by_role("status").first).to_contain_text("déposée")
    expect(page.locator("#attendue-note_cadrage")).to_contain_text(
        "Déposée, en attente de relecture"
    )
    expect(page.locator("#pieces table")).to_contain_text("note-de-cadrage-v1.pdf")
    shot(page, "correction-1-porteur-depose")

    # Staff refuse it, with the reason.
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
    try:
        staff = context.new_page()
        sign_in(staff, base, STAFF, "/projects/1#pieces")
        row = staff.locator("#pieces tbody tr", has_text="note-de-cadrage-v1.pdf")
        row.locator("summary", has_text="Revoir").click()
        row.get_by_label("Commentaire").fill(REASON)
        row.get_by_role("button", name="Refuser").click()
        refused = staff.locator("#pieces tbody tr", has_text="note-de-cadrage-v1.pdf")
        expect(refused.locator("td[data-label='Revue']")).to_contain_text("Refusée")
        expect(refused.locator("td[data-label='Revue']")).to_contain_text(REASON[:30])
        shot(staff, "correction-2-equipe-refuse")

        # The porteur reads the reason at the top of « Mon projet » and gives a new version.
        page.goto(base + "/")
        alert = page.get_by_role("alert").first
        expect(alert).to_contain_text("La pièce « Note de cadrage » a été refusée")
        expect(alert).to_contain_text(REASON[:30])
        expect(page.locator("#attendue-note_cadrage")).to_contain_text("Refusée")
        shot(page, "correction-3-porteur-lit-le-motif")
        alert.get_by_role("link", name="Déposer une nouvelle version").click()
        expect(page.locator("#depot")).to_have_attribute("open", "")
        _give(page, "note-de-cadrage-v2.pdf", PDF.replace(b"1.4", b"1.5"))
        expect(page.locator("#attendue-note_cadrage")).to_contain_text(
            "Déposée, en attente de relecture"
        )
        table = page.locator("#pieces table")
        expect(table).to_contain_text("note-de-cadrage-v2.pdf")
        # The refused version is no longer listed for the porteur, and the alert is gone.
        expect(table).not_to_contain_text("note-de-cadrage-v1.pdf")
        expect(page.locator("#pieces")).not_to_contain_text("Versions remplacées")
        expect(page.get_by_text("a été refusée")).to_have_count(0)
        shot(page, "correction-4-porteur-nouvelle-version")
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("#pieces").screenshot(path=str(SCREENSHOTS / "correction-4-pieces-390.png"))

        # Staff see the new version to review and the refused one in the history.
        staff.goto(base + "/projects/1#pieces")
        expect(
            staff.locator("#pieces tbody tr", has_text="note-de-cadrage-v2.pdf")
        ).to_contain_text("attente")
        replaced = staff.locator("#pieces details", has_text="Versions remplacées (1)")
        replaced.locator("summary").click()
        expect(replaced.get_by_role("link", name="note-de-cadrage-v1.pdf")).to_be_visible()
        shot(staff, "correction-5-equipe-versions")
        staff.locator("#pieces").screenshot(path=str(SCREENSHOTS / "correction-5-pieces-1280.png"))
    finally:
        context.close()
