"""In Debian's Chromium: a staff admin opens « Migrer les projets » from the workflow's page,
reads the dry run (a renamed step, criteria, deadlines, a closed project refused with its
reason), applies it and reads the result.

The projects are made on the shipped definitions by a first server; a second one, on the same
database, has the quartier definition's next version (tests/migration_fixtures.py). The helpers
and fixtures (`browser`, `page`, `shot`, `sign_in`) are those of tests/test_browser.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelflow import accounts, migrate
from labelflow.db import make_engine, transaction
from labelflow.models import User
from labelflow.settings import PROJECT_ROOT
from tests import factories as f
from tests.migration_fixtures import KEY, NEXT, RENAMED, write_next_version
from tests.serving import free_port, running
from tests.test_browser import STAFF, add_account, browser, page, shot, sign_in

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # fixtures of tests/test_browser.py used here


@contextmanager
def _serve(data: Path, workflows: Path) -> Iterator[str]:
    url = f"sqlite:///{data / 'labelflow.db'}"
    port = free_port()
    env = {
        **os.environ,
        "LABELFLOW_DATA_DIR": str(data),
        "LABELFLOW_DATABASE_URL": url,
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKFLOWS_DIR": str(workflows),
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "labelflow.web.app:create_app"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    with running(argv, port=port, env=env, log_path=data / "uvicorn.log", ready_within=20) as base:
        yield base


@pytest.fixture(scope="module")
def migration_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("migration-data")
    engine = make_engine(f"sqlite:///{data / 'labelflow.db'}")
    migrate.upgrade(engine)
    admin: User = add_account(engine, STAFF, "Camille Roussel", "staff", is_admin=True)
    with transaction(engine) as session:
        token, _ = accounts.create_token(session, user=admin, name="préparation")
    engine.dispose()
    with _serve(data, PROJECT_ROOT / "workflows") as base:
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        f.create_project(api, name="Régie de quartier des Trois Ponts")
        f.walk_to(api, f.create_project(api, name="Régie de quartier de l'Épeule"), RENAMED[0])
        f.walk_to(api, f.create_project(api, name="Régie du Pile"), "prefiguration")
        closed = f.create_project(api, name="Régie de quartier du Sart")
        f.fire(api, closed["id"], "abandonner", comment="Le groupe projet s'est dissous.")
        api.close()
    with _serve(data, write_next_version(tmp_path_factory.mktemp("migration-workflows"))) as base:
        yield base


def test_an_admin_reads_the_dry_run_then_migrates(migration_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    base = migration_server
    sign_in(page, base, STAFF, f"/workflows/{KEY}")
    page.get_by_role("link", name="Migrer les projets en cours").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Migrer les projets vers la version {NEXT}"
    )
    plan = page.get_by_role("region", name="Essai à blanc")
    expect(plan).to_contain_text("4 projets de ce parcours hors de la version 4")
    row = plan.get_by_role("row", name="Régie de quartier de l'Épeule")
    expect(row).to_contain_text("« Étude de faisabilité » → « Étude préalable »")
    expect(plan.get_by_role("row", name="Régie du Pile")).to_contain_text("Devient requis")
    expect(plan.get_by_role("row", name="Régie du Pile")).to_contain_text("Date cible du label")
    expect(plan.get_by_role("row", name="Régie de quartier du Sart")).to_contain_text(
        "il garde la version de sa décision"
    )
    shot(page, "migration-essai")

    page.get_by_role("button", name=f"Migrer 3 projets vers la version {NEXT}").click()
    result = page.get_by_role("region", name="Résultat")
    expect(result).to_contain_text("3 projets migrés sur 3")
    shot(page, "migration-resultat")
    page.get_by_role("link", name="Régie de quartier de l'Épeule").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Épeule")
    page.goto(page.url + "/history")
    expect(page.get_by_text("Passage de la version 3 à la version 4 du parcours")).to_be_visible()
