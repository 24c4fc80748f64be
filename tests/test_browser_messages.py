"""In Debian's Chromium: a porteur reads the staff's message marked « réponse attendue » from the
bell, answers it on « Mon projet », and the bells change: the porteur's goes down once the
notification is opened, the staff member's goes up with the answer (and down once read).
Screenshots at 1280 and 390 px (and axe-core) through `shot`.

The helpers and fixtures (`serve`, `browser`, `page`, `shot`, `sign_in`) are those of
tests/test_browser.py; the screenshots go to the same folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.test_browser import (
    PORTEUR,
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

QUESTION = (
    "Bonjour, pouvez-vous nous envoyer la date de l'assemblée générale constitutive et le nom "
    "de la future présidente ?"
)
ANSWER = "L'assemblée générale se tient le 14 mars ; Mme Fatou Keïta sera présidente."


@pytest.fixture(scope="module")
def thread_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A project whose chargée de suivi (Camille Roussel) asked its porteur, Awa Diallo, a
    question waiting for her answer."""

    from tests.factories import create_project

    data = tmp_path_factory.mktemp("thread-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        porteur = add_account(engine, PORTEUR, "Awa Diallo", "porteur")
        with staff_api(engine, data, staff) as client:
            pid = create_project(client)["id"]  # its creator is its chargée de suivi
            r = client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
            assert r.status_code == 201, r.text
            r = client.post(
                f"/api/v1/projects/{pid}/messages",
                json={"body": QUESTION, "audience": "projet", "awaiting_reply": True},
            )
            assert r.status_code == 201, r.text
            r = client.post(
                f"/api/v1/projects/{pid}/messages",
                json={"body": "Relancer la mairie en avril.", "audience": "interne"},
            )
            assert r.status_code == 201, r.text

    with serve(data, populate) as base:
        yield base


def test_porteur_reads_a_staff_question_and_answers_it(thread_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    base = thread_server
    sign_in(page, base, PORTEUR)
    bell = page.get_by_role("link", name="Notifications, 1 non lue")
    expect(bell).to_be_visible()
    expect(page.locator(".bell__count")).to_have_text("1")
    bell.click()
    notice = page.locator(".notification")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("Nouveau message de Camille Roussel")
    notice.get_by_role("link").click()

    # « Mon projet », at the thread: the question, waiting for her answer; not the internal note.
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon projet")
    expect(page.get_by_role("link", name="Notifications, aucune non lue")).to_be_visible()
    expect(page.locator(".bell__count")).to_have_count(0)
    thread = page.locator("#messages")
    expect(thread).to_contain_text("En attente de votre réponse")
    question = thread.locator(".thread__item").filter(has_text="assemblée générale constitutive")
    expect(question).to_contain_text("Réponse attendue")
    expect(question).to_contain_text("Camille Roussel")
    expect(thread).not_to_contain_text("Relancer la mairie")
    thread.scroll_into_view_if_needed()
    shot(page, "porteur-message-a-repondre")

    thread.get_by_label("Message").fill(ANSWER)
    thread.get_by_role("button", name="Envoyer le message").click()
    thread = page.locator("#messages")
    expect(thread.locator(".thread__item").last).to_contain_text("Mme Fatou Keïta")
    expect(thread).not_to_contain_text("En attente de votre réponse")
    thread.scroll_into_view_if_needed()
    shot(page, "porteur-message-repondu")

    # The chargée de suivi: her bell counts the answer; opening it brings her to the thread,
    # which now waits for the team.
    page.get_by_role("button", name="Se déconnecter").click()
    sign_in(page, base, STAFF)
    bell = page.get_by_role("link", name="Notifications, 1 non lue")
    expect(bell).to_be_visible()
    bell.click()
    notice = page.locator(".notification")
    expect(notice.first).to_contain_text("Nouveau message d'Awa Diallo")
    shot(page, "equipe-notification-reponse")
    notice.first.get_by_role("link").click()
    expect(page.get_by_role("link", name="Notifications, aucune non lue")).to_be_visible()
    thread = page.locator("#messages")
    expect(thread).to_contain_text("En attente de réponse de l'équipe nationale")
    expect(thread).to_contain_text("Mme Fatou Keïta")
