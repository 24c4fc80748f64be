"""The pages in Debian's Chromium: a staff member signs in, records the first step and moves
on; a porteur signs in and sees « Mon projet »; a consultant is refused another's project.

Runs the app in uvicorn (a subprocess, its own SQLite database migrated first, accounts created
with the accounts service) and drives it with Playwright's sync API. Screenshots go to
test-artifacts/screenshots/: `shot()` takes each one at 1280 and 390 px wide (NAME-1280.png,
NAME-390.png) and fails the test on any axe-core violation (static/vendor/axe.min.js) or any
page scrolling sideways at either width; every page a test visits goes through it.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine

from labelflow import accounts, dates, migrate
from labelflow.actors import SYSTEM
from labelflow.db import make_engine, transaction
from labelflow.files import display_name
from labelflow.models import User
from labelflow.schemas import UserCreate
from labelflow.settings import PROJECT_ROOT
from tests.factories import PDF
from tests.serving import free_port, running

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
AXE_URL = "/static/vendor/axe.min.js"
# A desktop screen and a phone (an iPhone 12 to 15 held upright).
WIDTHS = (1280, 390)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=fr-FR",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# The service's dates are Paris dates, whatever the machine's time zone.
YESTERDAY = (dates.today() - timedelta(days=1)).isoformat()
PASSWORD = "mot de passe du navigateur"
STAFF = "camille.roussel@example.org"
PORTEUR = "awa.diallo@example.org"
CONSULTANT = "claire.martin@example.org"


@contextmanager
def staff_api(engine: Engine, data: Path, staff: User) -> Iterator[Any]:
    """The API of the database a browser test serves, called in this process as `staff`
    (a token): how a test prepares its projects before Chromium opens the pages."""
    from fastapi.testclient import TestClient

    from labelflow.settings import Settings
    from labelflow.web.app import create_app

    settings = Settings(
        environment="test", data_dir=data, database_url=f"sqlite:///{data / 'labelflow.db'}"
    )
    with transaction(engine) as session:
        raw, _token = accounts.create_token(session, user=staff, name="préparation")
    with TestClient(create_app(settings, db=engine)) as client:
        client.headers["Authorization"] = f"Bearer {raw}"
        yield client


def add_account(
    engine: Engine, email: str, name: str, role: str, *, is_admin: bool = False
) -> User:
    data = UserCreate(email=email, name=name, role=role, is_admin=is_admin, password=PASSWORD)  # type: ignore[arg-type]
    with transaction(engine) as session:
        return accounts.create_user(session, data=data, actor=SYSTEM)


def seed_staff(engine: Engine) -> None:
    add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)


def sign_in(page: Any, base: str, email: str, path: str = "/") -> None:
    """Through the login page, as a person would."""
    from playwright.sync_api import expect

    page.goto(base + path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    # Signed in: the bell is in the header at every width (« Se déconnecter » is in the menu).
    expect(page.get_by_role("link", name=re.compile("^Notifications"))).to_be_visible()


@contextmanager
def serve(data: Path, populate: Callable[[Engine], object] | None = None) -> Iterator[str]:
    """Run the app in uvicorn on a fresh SQLite database in `data`, filled by `populate`."""
    url = f"sqlite:///{data / 'labelflow.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    if populate is not None:
        populate(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "LABELFLOW_DATA_DIR": str(data),
        "LABELFLOW_DATABASE_URL": url,
        "LABELFLOW_ENVIRONMENT": "test",
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "labelflow.web.app:create_app"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    with running(argv, port=port, env=env, log_path=data / "uvicorn.log", ready_within=20) as base:
        yield base


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("browser-data"), seed_staff) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium n'est pas installé (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    from playwright.sync_api import expect

    # Shared CI machines are slow at times: waits are generous, never sleeps.
    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == []


def axe_violations(page: Any) -> list[str]:
    """What axe-core finds on the page as it is now, one line per violation."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # From the app's own /static: the pages' CSP (script-src 'self') refuses the inline
        # script that `add_script_tag(path=...)` writes, and bypassing the CSP would hide its
        # own errors.
        page.add_script_tag(url=AXE_URL)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}) {node['target']}: {v['help']}"
        for v in result["violations"]
        for node in v["nodes"]
    ]


# The elements sticking out of the page on the right, outside any scrolling container: what
# makes a phone scroll the whole page sideways.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  const out = [...document.body.querySelectorAll("*")]
    .filter((el) => el.getBoundingClientRect().right > width + 1);
  // An absolutely positioned element escapes a scrolling parent that is not positioned itself.
  const free = out.filter((el) => !clipped(el));
  return (free.length ? free : out).slice(-8)
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + [...el.classList].map((c) => "." + c).join(""));
}"""


def shot(page: Any, name: str) -> None:
    """A full-page screenshot at each width of WIDTHS, each one an axe-core check too.

    Every page the tests visit goes through here, so that none escapes the accessibility check.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    found: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": size["height"]})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        # Swagger UI is not ours to fix.
        if urlsplit(page.url).path != "/docs":
            found += [f"{name} à {width} px : {line}" for line in axe_violations(page)]
            wide = page.evaluate(OVERFLOWING)
            if wide:
                found.append(f"{name} à {width} px : la page défile de côté ({', '.join(wide)})")
    page.set_viewport_size(size)
    for line in found:
        print(line)
    assert found == [], "axe-core :\n" + "\n".join(found)


def open_administration(page: Any) -> Any:
    """Open the navigation's « Administration » group (at a desktop width): the navigation."""
    nav = page.get_by_role("navigation", name="Navigation principale")
    nav.get_by_text("Administration", exact=True).click()
    return nav


def open_form(page: Any, section: str, summary: str) -> Any:
    scope = page.locator(f"#{section}")
    scope.locator("summary", has_text=summary).click()
    return scope


def test_record_the_first_step_and_launch_the_feasibility_study(server: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(server + "/login")
    shot(page, "connexion")
    sign_in(page, server, STAFF, "/projects")
    expect(page.get_by_text("Aucun projet n'est encore suivi.")).to_be_visible()
    page.get_by_role("link", name="Nouveau projet").first.click()

    # A refused form first: the message stands beside the field, the typed values stay.
    page.get_by_label("Nom du projet").fill("Régie de quartier du Pile")
    page.get_by_label("Type de Régie").select_option("quartier")
    page.get_by_label("Communes").fill("59512 Roubaix")
    page.get_by_role("button", name="Créer le projet").click()
    expect(page.locator("#project-region-error")).to_have_text("Ce champ est obligatoire.")
    expect(page.get_by_label("Nom du projet")).to_have_value("Régie de quartier du Pile")
    shot(page, "creation-refusee")

    page.get_by_label("Région").fill("Hauts-de-France")
    page.get_by_label("Département").fill("Nord")
    page.get_by_label("Quartiers prioritaires").fill("Le Pile")
    page.get_by_label("À l'initiative du projet").select_option("habitants")
    page.get_by_role("button", name="Créer le projet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Régie de quartier du Pile")
    launch = page.get_by_role("button", name="Lancer l'étude de faisabilité")
    expect(launch).to_be_disabled()
    expect(page.get_by_text("Il manque la pièce « Note de cadrage ».")).to_be_visible()

    for name, college in [
        ("Collectif des habitants du Pile", "habitants"),
        ("Ville de Roubaix", "collectivite"),
        ("Vilogia", "bailleur"),
    ]:
        scope = open_form(page, "parties-prenantes", "Ajouter une partie prenante")
        scope.get_by_label("Nom (organisation ou collectif)").fill(name)
        scope.get_by_label("Collège").select_option(college)
        scope.get_by_label("Date d'engagement").fill(YESTERDAY)
        scope.get_by_role("button", name="Ajouter la partie prenante").click()
        row = page.locator("#parties-prenantes").get_by_role("rowheader", name=name)
        expect(row).to_be_visible()

    scope = open_form(page, "pieces", "Déposer une pièce")
    scope.get_by_label("Type de pièce").select_option("note_cadrage")
    scope.get_by_label("Fichier").set_input_files(
        {"name": "note-de-cadrage.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    scope.get_by_role("button", name="Déposer la pièce").click()
    expect(page.locator("#pieces").get_by_role("link", name="note-de-cadrage.pdf")).to_be_visible()

    for code in ("portage_collectivite", "convention_amo"):
        scope = open_form(page, "attestations", "Enregistrer une attestation")
        scope.get_by_label("Attestation").select_option(code)
        scope.get_by_label("Commentaire").fill("Constaté lors du comité de pilotage.")
        scope.get_by_role("button", name="Enregistrer l'attestation").click()

    expect(page.locator("#action-lancer_faisabilite")).to_contain_text("Tout est prêt.")
    shot(page, "projet-etape-1-pret")
    launch = page.get_by_role("button", name="Lancer l'étude de faisabilité")
    expect(launch).to_be_enabled()
    launch.click()

    # A step change asks first, naming the consequence; cancelled, nothing changes.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Confirmer : Lancer l'étude de faisabilité")
    expect(dialog).to_contain_text("Le projet passera à l'étape « Étude de faisabilité »")
    page.screenshot(path=str(SCREENSHOTS / "confirmation-changement-d-etape.png"))
    dialog.get_by_role("button", name="Annuler").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Étape 1/6 · Groupe projet")).to_be_visible()
    launch.click()
    dialog.get_by_role("button", name="Confirmer").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Le projet est passé à l'étape 2 — Étude de faisabilité."
    )
    expect(page.get_by_text("Étape 2/6 · Étude de faisabilité")).to_be_visible()
    expect(page.locator(".timeline__step--current")).to_contain_text("Étude de faisabilité")
    expect(page.get_by_text("Il manque la pièce « Étude de faisabilité ».")).to_be_visible()
    shot(page, "projet-etape-2")
    page.screenshot(path=str(SCREENSHOTS / "projet-etape-2-haut.png"))
    page.locator("#parcours").screenshot(path=str(SCREENSHOTS / "projet-parcours.png"))
    page.locator("#historique").screenshot(path=str(SCREENSHOTS / "projet-historique.png"))

    page.goto(server + "/projects")
    expect(page.get_by_role("link", name="Régie de quartier du Pile")).to_be_visible()
    shot(page, "liste-projets")


def test_workflow_page_draws_the_diagram(server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server, STAFF, "/workflows/regie-de-quartier")
    expect(page.locator(".diagram svg")).to_be_visible(timeout=15_000)
    shot(page, "parcours-quartier")


def test_keyboard_reaches_the_content(server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server, STAFF, "/projects")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#contenu")).to_be_focused()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server holding the demo projects: dated histories, overdue and due-soon deadlines."""
    from labelflow.demo.load import load_demo
    from labelflow.documents import DocumentStore
    from labelflow.settings import Settings
    from labelflow.workflow_store import sync_definitions

    data = tmp_path_factory.mktemp("dashboard-data")

    def populate(engine: Engine) -> None:
        store = DocumentStore(Settings(data_dir=data).resolved_documents_dir)
        workflows = sync_definitions(engine, PROJECT_ROOT / "workflows")
        load_demo(engine, workflows, store=store, count=30)
        seed_staff(engine)
        seed_roles(engine, workflows)

    with serve(data, populate) as base:
        yield base


def seed_roles(engine: Engine, workflows: Any) -> None:
    """A porteur linked to a demo project well under way, a consultant assigned to another."""
    from sqlmodel import col, select

    from labelflow import assignments, records
    from labelflow.models import Project
    from labelflow.schemas import DeclarationIn

    porteur = add_account(engine, PORTEUR, "Awa Diallo", "porteur")
    consultant = add_account(engine, CONSULTANT, "Claire Martin", "consultant")
    with transaction(engine) as session:
        under_way = session.exec(
            select(Project)
            .where(col(Project.state).in_(["prefiguration", "validation", "faisabilite"]))
            .where(col(Project.suspended).is_(False))
            .order_by(col(Project.id))
        ).all()
        mine = under_way[0]
        accounts.create_member(session, project=mine, user_id=porteur.id or 0, actor=SYSTEM)
        # A project at the préfiguration step with no consultant yet: assigned, no link declared.
        assigned = next(
            p
            for p in under_way
            if p.id != mine.id
            and p.state == "prefiguration"
            and assignments.get_current_assignment(session, project=p) is None
        )
        assignment = assignments.assign_consultant(
            session,
            engine=workflows,
            project=assigned,
            consultant_id=consultant.id or 0,
            actor=SYSTEM,
            if_match=None,
        )
        assignments.declare_independence(
            session,
            engine=workflows,
            assignment=assignment,
            actor=accounts.actor_of(consultant),
            declarations=[
                DeclarationIn(stakeholder_id=s.id or 0, has_link=False)
                for s in records.list_stakeholders(session, project=assigned)
            ],
        )


def test_porteur_signs_in_and_sees_mon_projet(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, demo_server, PORTEUR)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon projet")
    expect(page.get_by_role("link", name="Mon projet")).to_have_attribute("aria-current", "page")
    expect(page.locator(".nav")).not_to_contain_text("Tableau de bord")
    expect(page.locator(".timeline__step--current")).to_have_count(1)
    expect(
        page.get_by_role("heading", name="Ce qu'il manque pour passer à l'étape suivante")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Échéances")).to_be_visible()
    expect(page.locator("form[action$='/transitions']")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "mon-projet-porteur-haut.png"))
    page.locator("#pieces summary", has_text="Déposer une pièce").click()
    types = page.get_by_label("Type de pièce").locator("option").all_text_contents()
    assert "Rapport d'expertise" not in types
    shot(page, "mon-projet-porteur")


def test_porteur_finds_help_from_the_header(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, demo_server, PORTEUR)
    page.get_by_role("link", name="Aide", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aide")
    expect(page.get_by_role("heading", name="Les 6 étapes d'un projet")).to_be_visible()
    expect(page.locator(".help-steps > li")).to_have_count(6)
    expect(page.get_by_role("link", name="@")).to_have_attribute("href", re.compile("^mailto:"))
    expect(page.locator(".json-link")).to_have_count(0)
    shot(page, "aide-porteur")


def test_an_empty_sign_in_field_is_named(server: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(server + "/login")
    page.get_by_label("Adresse e-mail").fill(STAFF)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#login-password-error")).to_have_text("Ce champ est obligatoire.")
    expect(page.get_by_label("Mot de passe")).to_be_focused()
    expect(page.get_by_label("Adresse e-mail")).to_have_value(STAFF)
    expect(page.get_by_text("incorrect")).to_have_count(0)
    shot(page, "connexion-champ-obligatoire")


def test_consultant_is_refused_someone_elses_project(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, demo_server, CONSULTANT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes projets")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    shot(page, "mes-projets-consultant")
    assigned = rows.get_by_role("link").get_attribute("href") or ""
    other = 1 if assigned != "/projects/1" else 2
    page.goto(f"{demo_server}/projects/{other}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    expect(page.get_by_text("Ce projet est introuvable.")).to_be_visible()
    expect(page.get_by_role("link", name="Mes projets")).to_be_visible()
    shot(page, "projet-refuse-consultant")


def test_staff_manages_accounts(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, demo_server, STAFF, "/users?role=porteur")
    expect(page.get_by_role("heading", level=1)).to_have_text("Comptes")
    shot(page, "comptes")
    page.goto(demo_server + "/account")
    page.get_by_label("Nom du jeton").fill("Export tableur")
    page.get_by_role("button", name="Créer un jeton").click()
    expect(page.get_by_text("il ne sera plus jamais affiché")).to_be_visible()
    shot(page, "mon-compte-jeton")


def test_dashboard_numbers_lead_to_their_lists(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, demo_server, STAFF)
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")
    expect(page.get_by_role("link", name="Tableau de bord")).to_have_attribute(
        "aria-current", "page"
    )
    shot(page, "tableau-de-bord")
    page.screenshot(path=str(SCREENSHOTS / "tableau-de-bord-haut.png"))
    overdue = page.locator(".kpi--danger .count")
    number = int((overdue.text_content() or "").split()[0])
    assert number > 0  # the demo has late projects: the list below is not empty
    late_rows = page.locator("section[aria-labelledby=liste-retard] tbody tr")
    expect(late_rows).to_have_count(min(number, 10))
    overdue.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projets")
    expect(page.locator(".page-head p")).to_contain_text(f"{number} projet")
    expect(page.get_by_label("Échéances")).to_have_value("oui")

    # A filter with no field of its own is shown, and kept when the form is sent again.
    page.goto(demo_server + "/")
    page.locator(".kpi--warning .count").click()
    expect(page.locator(".filters__more")).to_contain_text("Échéance dans les 30 jours")
    page.get_by_label("Type").select_option("quartier")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"due_soon=oui"))
    shot(page, "liste-echeance-proche")


def test_network_figures_charts_and_their_lists(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, demo_server, STAFF)
    open_administration(page).get_by_role("link", name="État du réseau").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("État du réseau")
    charts = page.locator("figure.chart svg[role=img]")
    expect(charts).to_have_count(6)
    for i in range(6):
        chart = charts.nth(i)
        assert chart.locator("title").text_content()
        assert chart.locator("desc").text_content()
        # Drawn: bars, or ranges and their medians.
        assert chart.locator("rect, circle").count() > 0
    # Each chart has its table beside it.
    expect(page.locator("figure.chart table")).to_have_count(6)
    shot(page, "etat-du-reseau")
    page.screenshot(path=str(SCREENSHOTS / "etat-du-reseau-haut.png"))

    # A number of the funnel leads to the projects it counts.
    funnel = page.locator("#entonnoir table tbody tr").first.locator("td a").first
    number = int((funnel.text_content() or "0").split()[0])
    assert number > 0
    funnel.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projets")
    expect(page.locator(".page-head p")).to_contain_text(f"{number} projet")
    expect(page.locator(".filters__more")).to_contain_text("Entrés dans « Groupe projet »")

    # Sorted by forecast: the soonest expected label first.
    page.get_by_role("link", name="par date de label attendue").click()
    expect(page.locator(".sort-links strong")).to_have_text("par date de label attendue")
    expect(page.locator("td[data-label='Label attendu']").first).not_to_have_text("—")
    shot(page, "liste-par-prevision")


def test_anyone_reads_the_labelled_regies(demo_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    regies = httpx.get(demo_server + "/api/v1/open-data/regies").json()
    assert regies["total"] > 0  # the demo has labelled Régies
    page.goto(demo_server + "/login")
    page.get_by_role("link", name="Régies labellisées (données ouvertes)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Régies labellisées")
    expect(page.locator("tbody tr")).to_have_count(regies["total"])
    first = regies["items"][0]
    expect(page.locator("tbody tr").first).to_contain_text(first["label_number"])
    expect(page.locator("tbody tr").first).to_contain_text(first["communes"][0]["insee"])
    shot(page, "regies")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger en CSV").click()
    assert download.value.suggested_filename == "regies-labellisees.csv"
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("name,kind,") and len(lines) == regies["total"] + 1


def test_staff_export_the_filtered_list(demo_server: str, page: Any) -> None:
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    sign_in(page, demo_server, STAFF, "/projects")
    page.get_by_label("Type").select_option("territoire")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"kind=territoire"))
    count = int((page.locator(".page-head p").text_content() or "").split()[0])
    shot(page, "liste-export")
    with page.expect_download() as download:
        page.get_by_role("link", name="Exporter en XLSX").click()
    assert re.fullmatch(r"projets-\d{4}-\d{2}-\d{2}\.xlsx", download.value.suggested_filename)
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))["Projets"]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == count + 1
    kind = rows[0].index("Type")
    assert {row[kind] for row in rows[1:]} == {"Régie de Territoire"}


# --- the expertise report -------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A project at the expertise step, Claire Martin its assigned consultant."""
    from tests.factories import complete_prefiguration, create_project, fire, walk_to

    data = tmp_path_factory.mktemp("report-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        consultant = add_account(engine, CONSULTANT, "Claire Martin", "consultant")
        with staff_api(engine, data, staff) as client:
            project = walk_to(client, create_project(client), "prefiguration")
            complete_prefiguration(client, project, consultant_id=consultant.id)
            fire(client, project["id"], "demander_expertise")

    with serve(data, populate) as base:
        yield base


def test_consultant_fills_and_submits_the_report(report_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, report_server, CONSULTANT)
    page.goto(f"{report_server}/projects/1")
    section = page.locator("#rapport")
    expect(section).to_contain_text("Non commencé")
    section.get_by_role("link", name="Rédiger le rapport").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rapport d'expertise")
    status = page.locator("#autosave-status")

    page.get_by_label("Date de visite 1").fill(YESTERDAY)
    page.get_by_label("Personnes rencontrées").fill(
        "Mme Lefèvre, présidente ; M. Haddad, chargé de mission ; trois salariés en insertion."
    )
    page.get_by_label("Personnes rencontrées").blur()
    # Saved on leaving the field, without pressing any button.
    expect(status).to_contain_text(re.compile(r"Brouillon enregistré à \d\d:\d\d"))

    governance = page.locator("#critere-majorite_presidence_habitants")
    expect(governance.locator(".board-box")).to_contain_text("5 membres dont 3 habitants")
    criteria = page.locator("fieldset.criterion[id^='critere-']")
    count = criteria.count()
    assert count >= 10
    for index in range(count):
        criterion = criteria.nth(index)
        choice = "À consolider" if index in (3, 8) else "Satisfaisant"
        criterion.get_by_text(choice, exact=True).click()
    governance.get_by_label("Commentaire").fill(
        "Quatre habitants sur sept au conseil, présidence assurée par une habitante du quartier."
    )
    page.get_by_label("Commentaire").nth(3).fill(
        "Le bailleur soutient le projet mais ne confie encore aucun marché à la Régie."
    )
    page.get_by_text("Favorable avec réserves", exact=True).click()
    page.get_by_label("Recommandations à l'association").fill(
        "Formaliser une convention de prestations avec le bailleur avant la fin de l'année."
    )
    # Wait for the autosave of the last change itself (an earlier save's message may linger).
    with page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.endswith("/report") and r.ok
    ):
        page.get_by_label("Recommandations à l'association").blur()
    expect(status).to_contain_text("Brouillon enregistré à")
    expect(page.locator("#missing-count")).to_have_text("Tous les critères sont évalués.")
    page.locator("#visite-title").scroll_into_view_if_needed()
    shot(page, "rapport-expertise")
    page.screenshot(path=str(SCREENSHOTS / "rapport-expertise-haut.png"))

    # The draft is kept: a reload shows what was typed. Let every autosave finish first: a save
    # still in flight would bump the report's version after the new page read it.
    page.wait_for_load_state("networkidle")
    expect(status).to_contain_text("Brouillon enregistré à")
    page.reload()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_label("Personnes rencontrées")).to_have_value(re.compile("Mme Lefèvre"))
    expect(governance.get_by_label("Satisfaisant")).to_be_checked()

    # Submitting asks first (a dialog naming the consequence), then a plain form post and its
    # redirect: wait for the new page (slow on a loaded machine).
    page.get_by_role("button", name="Soumettre le rapport").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Confirmer : soumettre le rapport d'expertise")
    with page.expect_navigation(timeout=30_000):
        dialog.get_by_role("button", name="Confirmer").click()
    expect(page.get_by_role("status").first).to_contain_text("Rapport soumis", timeout=15_000)
    expect(page.locator(".badges")).to_contain_text("Soumis le")
    expect(page.locator("#rapport-form")).to_have_count(0)
    expect(page.get_by_text("Favorable avec réserves")).to_be_visible()
    expect(page.get_by_role("link", name="Télécharger le PDF")).to_be_visible()
    shot(page, "rapport-expertise-soumis")


# --- the Bureau -------------------------------------------------------------------------------

BUREAU_MEMBERS = ["Françoise Vasseur", "Alain Mercier", "Nadia Bensalem"]


@pytest.fixture(scope="module")
def bureau_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A project at the Bureau step with its association recorded, and three Bureau members."""
    from tests.factories import create_project, walk_to

    data = tmp_path_factory.mktemp("bureau-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        for i, name in enumerate(BUREAU_MEMBERS):
            add_account(engine, f"bureau{i}@example.org", name, "bureau")
        with staff_api(engine, data, staff) as client:
            project = walk_to(client, create_project(client), "decision_bureau")
            r = client.patch(
                f"/api/v1/projects/{project['id']}",
                json={"association_name": "Association Alma-Gare Services"},
            )
            assert r.status_code == 409 or r.status_code == 200, r.text

    with serve(data, populate) as base:
        yield base


def test_bureau_meeting_decision_and_the_labelled_project(bureau_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, bureau_server, STAFF)
    page.get_by_role("link", name="Bureau", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossiers du Bureau")
    expect(page.locator(".dossier")).to_have_count(1)
    shot(page, "bureau-dossiers")
    page.get_by_role("link", name="Réunions du Bureau").click()
    for name in BUREAU_MEMBERS:
        page.get_by_label(name).check()
    page.get_by_label("Présidence de séance").select_option(label=BUREAU_MEMBERS[0])
    page.get_by_role("button", name="Enregistrer la réunion").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("3 sur 3")
    shot(page, "bureau-reunions")

    page.goto(bureau_server + "/projects/1#decision")
    section = page.locator("#decision")
    for name in BUREAU_MEMBERS:
        section.get_by_label(name).select_option(label="Pour")
    section.locator("#decision-outcome").select_option("attribution")
    section.get_by_label("Motivation ou recommandations").fill(
        "Poursuivre l'ouverture du conseil d'administration aux habitants des Trois-Ponts."
    )
    section.screenshot(path=str(SCREENSHOTS / "bureau-deliberation.png"))
    shot(page, "projet-deliberation")
    section.get_by_role("button", name="Enregistrer la délibération").click()
    expect(section).to_contain_text("Vote : 3 pour, 0 contre, 0 abstention")
    page.get_by_role("button", name="Attribuer le label").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirmer").click()

    year = date.today().year
    number = f"RQ-{year}-001"
    expect(page.locator(".page-head .badges")).to_contain_text(f"Label n° {number}")
    expect(page.locator(".label-banner").first).to_contain_text(number)
    letter = page.locator("#decision").get_by_role(
        "link", name=f"courrier-decision-attribution-{number}.pdf"
    )
    expect(letter).to_be_visible()
    pdf = httpx.get(
        bureau_server + (letter.get_attribute("href") or ""),
        cookies={c["name"]: c["value"] for c in page.context.cookies()},
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    expect(page.locator("#pieces")).to_contain_text("Courrier de décision du Bureau")
    page.goto(bureau_server + "/projects/1")
    shot(page, "projet-labellise")
    page.locator("#decision").scroll_into_view_if_needed()
    page.locator("#decision").screenshot(path=str(SCREENSHOTS / "projet-labellise-decision.png"))


# --- phones and long names ----------------------------------------------------------------------

# A file name of 300 characters without a space (the service keeps its first 255).
LONG_FILENAME = "compte-rendu-du-comite-de-pilotage-" + "x" * 261 + ".pdf"
REFUSAL = "La note n'est pas signée par la présidente de l'association : signez-la et déposez-la."


@pytest.fixture(scope="module")
def porteur_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A project at its first step whose note de cadrage was refused, and whose other piece has
    a 300-character file name; Awa Diallo its porteur."""

    from labelflow.models import Project
    from tests.factories import create_project, upload

    data = tmp_path_factory.mktemp("porteur-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        porteur = add_account(engine, PORTEUR, "Awa Diallo", "porteur")
        with staff_api(engine, data, staff) as client:
            project = create_project(client)
            note = upload(client, project["id"], "note_cadrage", filename="note-de-cadrage.pdf")
            r = client.post(
                f"/api/v1/documents/{note['id']}/review",
                json={"status": "rejected", "comment": REFUSAL},
            )
            assert r.status_code == 200, r.text
            upload(client, project["id"], "statuts", filename=LONG_FILENAME)
        with transaction(engine) as session:
            mine = session.get(Project, project["id"])
            assert mine is not None
            accounts.create_member(session, project=mine, user_id=porteur.id or 0, actor=SYSTEM)

    with serve(data, populate) as base:
        yield base


def test_porteur_reads_the_refusal_at_the_top_of_mon_projet(porteur_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, porteur_server, PORTEUR)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon projet")
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("La pièce « Note de cadrage » a été refusée")
    expect(alert).to_contain_text(REFUSAL)
    # At the top: before the summary of the project.
    summary = page.get_by_role("heading", name="Où en sommes-nous ?")
    assert alert.bounding_box()["y"] < summary.bounding_box()["y"]
    shot(page, "mon-projet-piece-refusee")
    alert.get_by_role("link", name="Déposer une nouvelle version").click()
    expect(page.locator("#depot")).to_have_attribute("open", "")
    expect(page.get_by_label("Type de pièce")).to_have_value("note_cadrage")


def test_the_documents_table_on_a_phone(porteur_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, porteur_server, STAFF, "/projects/1#pieces")
    table = page.locator("#pieces table")
    name = display_name(LONG_FILENAME)  # kept to 255 characters, its extension with it
    expect(table.get_by_role("link", name=name)).to_be_visible()
    shot(page, "pieces-nom-long")
    page.set_viewport_size({"width": 390, "height": 844})
    # One block per row: the type, then each cell under its column's name, nothing cut off.
    row = table.locator("tbody tr", has_text=name)
    expect(row.locator("td[data-label='Fichier']")).to_contain_text(name[:40])
    expect(row.locator("td[data-label='Revue']")).to_contain_text("attente")
    refused = table.locator("tbody tr", has_text="note-de-cadrage.pdf")
    expect(refused.locator("td[data-label='Revue']")).to_contain_text(REFUSAL)
    wrap = page.locator("#pieces .table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")
    box = row.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.locator("#pieces").screenshot(path=str(SCREENSHOTS / "pieces-nom-long-390-section.png"))


def test_a_refused_form_lists_its_problems(server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server, STAFF, "/projects/new")
    page.get_by_label("Nom du projet").fill("Régie de quartier des Trois-Ponts")
    page.get_by_label("Communes").fill("5951 Roubaix")
    page.get_by_role("button", name="Créer le projet").click()
    expect(page.locator("#project-region-error")).to_have_text("Ce champ est obligatoire.")
    expect(page.locator("#project-communes-error")).to_contain_text("code INSEE")
    expect(page.locator("#project-kind-error")).to_have_text("Ce champ est obligatoire.")
    expect(page.locator("#project-initiator-error")).to_have_text("Ce champ est obligatoire.")
    expect(page.locator(".field--invalid")).to_have_count(4)
    expect(page.get_by_label("Communes")).to_have_value("5951 Roubaix")
    shot(page, "creation-plusieurs-erreurs")


def test_staff_add_and_remove_a_milestone_the_porteur_sees_it(
    porteur_server: str, page: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    sign_in(page, porteur_server, STAFF, "/projects/1#echeances")
    section = open_form(page, "echeances", "Ajouter un jalon")
    due = (dates.today() + timedelta(days=20)).isoformat()
    section.get_by_label("Intitulé").fill("Visite du site")
    section.locator("#milestone-due_on").fill(due)
    section.get_by_label("Personne concernée").select_option(label="Awa Diallo (porteur de projet)")
    section.get_by_role("button", name="Ajouter le jalon").click()
    expect(page.get_by_role("status")).to_contain_text("Jalon ajouté.")
    row = page.locator("#echeances tr", has_text="Visite du site")
    expect(row).to_contain_text("Awa Diallo")
    expect(row).to_contain_text("Bientôt")
    shot(page, "jalon-ajoute")
    page.locator("#echeances").screenshot(path=str(SCREENSHOTS / "jalon-ajoute-section.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#echeances").screenshot(path=str(SCREENSHOTS / "jalon-ajoute-390-section.png"))
    page.set_viewport_size({"width": 1366, "height": 900})

    # The porteur reads it on « Mon projet », with no form to change it.
    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
    porteur = other.new_page()
    sign_in(porteur, porteur_server, PORTEUR)
    milestone = porteur.locator("#echeances tr", has_text="Visite du site")
    expect(milestone).to_contain_text("Bientôt")
    expect(porteur.locator("#echeances form")).to_have_count(0)
    shot(porteur, "mon-projet-jalon")
    porteur.locator("#echeances").screenshot(path=str(SCREENSHOTS / "mon-projet-jalon-section.png"))
    other.close()

    # « Supprimer » asks first; cancelled, it stays; confirmed, it goes.
    row.get_by_role("button", name="Supprimer").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Confirmer : supprimer un jalon")
    dialog.get_by_role("button", name="Annuler").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name="Supprimer").click()
    dialog.get_by_role("button", name="Confirmer").click()
    expect(page.get_by_role("status")).to_contain_text("Jalon supprimé.")
    expect(page.locator("#echeances tr", has_text="Visite du site")).to_have_count(0)


def test_mon_compte_refuses_a_wrong_current_password(server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server, STAFF, "/account")
    section = page.locator("#mot-de-passe")
    expect(section.get_by_role("heading", name="Mot de passe")).to_be_visible()
    section.get_by_label("Mot de passe actuel").fill("pas le bon mot de passe")
    section.get_by_label("Nouveau mot de passe (obligatoire)").fill("une phrase toute neuve")
    section.get_by_label("Nouveau mot de passe, une seconde fois").fill("une phrase toute neuve")
    section.get_by_role("button", name="Changer le mot de passe").click()
    section = page.locator("#mot-de-passe")
    expect(section.locator("#password-current_password-error")).to_have_text(
        "Le mot de passe actuel est incorrect."
    )
    expect(section.get_by_label("Mot de passe actuel")).to_have_value("")
    shot(page, "mon-compte-mot-de-passe-refuse")


@pytest.fixture(scope="module")
def notified_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Awa Diallo, porteur of a project that was suspended, resumed, and whose note de cadrage
    was refused: three notifications waiting for her."""

    from tests.factories import create_project, upload

    data = tmp_path_factory.mktemp("notified-data")

    def populate(engine: Engine) -> None:
        staff = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
        porteur = add_account(engine, PORTEUR, "Awa Diallo", "porteur")
        with staff_api(engine, data, staff) as client:
            project = create_project(client)
            pid = project["id"]
            r = client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
            assert r.status_code == 201, r.text
            for path, comment in (("suspend", "Élections municipales"), ("resume", "Reprise")):
                r = client.post(f"/api/v1/projects/{pid}/{path}", json={"comment": comment})
                assert r.status_code == 200, r.text
            note = upload(client, pid, "note_cadrage", filename="note-de-cadrage.pdf")
            r = client.post(
                f"/api/v1/documents/{note['id']}/review",
                json={"status": "rejected", "comment": REFUSAL},
            )
            assert r.status_code == 200, r.text

    with serve(data, populate) as base:
        yield base


def test_porteur_opens_a_notification_from_the_bell(notified_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, notified_server, PORTEUR)
    bell = page.get_by_role("link", name="Notifications, 3 non lues")
    expect(bell).to_be_visible()
    bell.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    items = page.locator(".notification")
    expect(items).to_have_count(3)
    expect(items.first).to_contain_text("Pièce refusée : Note de cadrage")  # newest first
    shot(page, "notifications")
    items.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon projet")
    expect(page.get_by_role("link", name="Notifications, 2 non lues")).to_be_visible()

    page.get_by_role("link", name="Notifications, 2 non lues").click()
    page.get_by_role("button", name="Tout marquer comme lu").click()
    expect(page.get_by_text("Toutes vos notifications sont marquées comme lues.")).to_be_visible()
    expect(page.get_by_role("link", name="Notifications, aucune non lue")).to_be_visible()

    nav = page.get_by_role("navigation", name="Navigation principale")
    nav.get_by_role("link", name="Mon compte").click()
    choice = page.get_by_label("Changements d'étape, suspensions, reprises")
    choice.select_option("quotidien")
    page.get_by_role("button", name="Enregistrer mes préférences").click()
    expect(page.get_by_text("Vos préférences sont enregistrées.")).to_be_visible()
    expect(page.get_by_label("Changements d'étape, suspensions, reprises")).to_have_value(
        "quotidien"
    )
    shot(page, "mon-compte-preferences")


def test_staff_follows_a_project(notified_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, notified_server, STAFF, "/projects/1")
    page.get_by_role("button", name="Suivre ce projet").click()
    expect(page.get_by_role("status")).to_contain_text("Vous suivez ce projet")
    expect(page.get_by_role("button", name="Ne plus suivre")).to_be_visible()
    shot(page, "projet-suivi")


# --- « Tâches » and « Courriels envoyés » (administrators) -----------------------------------


def seed_jobs(engine: Engine) -> None:
    """An admin, a job waiting, one abandoned with a long SMTP error, one e-mail in the mailbox."""
    from labelflow import jobs, mail
    from labelflow.models import Job
    from labelflow.notifications import EmailItem
    from labelflow.pdf import make_environment
    from labelflow.settings import Settings

    seed_staff(engine)
    now = dates.now()
    with transaction(engine) as session:
        jobs.enqueue(session, kind="courriel_notification", payload={"notification_id": 1})
        session.add(
            Job(
                kind="courriel_notification",
                payload={"notification_id": 2},
                dedupe_key="notification:2",
                status=jobs.ABANDONED,
                attempts=1,
                next_attempt_at=now,
                last_error="le serveur SMTP a répondu 550 : 5.1.1 <thierry.girard-et-associes"
                "@une-adresse-vraiment-tres-longue.example.org>: Recipient address rejected",
                created_at=now,
                done_at=now,
            )
        )
    data = Path(str(engine.url.database)).parent
    settings = Settings(environment="test", data_dir=data)
    item = EmailItem(
        "Pièce à corriger : statuts de l'association",
        "Motif : la page 2 manque.",
        "http://127.0.0.1:8000/projects/1/un-lien-tres-long-qui-doit-passer-a-la-ligne-sur-un-telephone",
        "Régie de quartier de l'Alma",
    )
    rendered = mail.render(
        make_environment(PROJECT_ROOT / "templates"),
        "notification",
        {"user": {"name": "Awa Diallo"}, "item": item, "base_url": "http://127.0.0.1:8000"},
    )
    message = mail.compose(
        settings=settings, to=("Awa Diallo", "awa.diallo@example.org"), rendered=rendered
    )
    mail.write_to_mailbox(message, settings.mailbox_dir)


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("browser-jobs"), seed_jobs) as base:
        yield base


def test_admin_resends_an_abandoned_job_and_reads_the_mailbox(jobs_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, jobs_server, STAFF)
    open_administration(page).get_by_role("link", name="Tâches").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tâches")
    expect(page.get_by_text("Recipient address rejected")).to_be_visible()
    shot(page, "taches")
    page.get_by_label("Statut", exact=True).select_option("abandonnee")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("button", name=re.compile("Relancer la tâche")).click()
    expect(page.get_by_role("status")).to_contain_text("La tâche est relancée")
    expect(page.get_by_text("Aucune tâche avec ce statut.")).to_be_visible()
    shot(page, "taches-relancee")

    page.get_by_role("link", name="Courriels envoyés").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Courriels envoyés")
    shot(page, "courriels")
    page.get_by_role("link", name=re.compile("Pièce à corriger")).click()
    expect(page.get_by_text("Bonjour Awa Diallo")).to_be_visible()
    shot(page, "courriel")
