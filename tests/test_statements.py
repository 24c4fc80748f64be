"""SQL statements per request (DESIGN §8, issue 12): the project JSON and the project page send
the same number of statements whatever the project holds and however many projects there are,
and no more than they do today (bench/served.py reports them; the goal is 6)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from labelflow import cache
from tests.factories import add_stakeholder, create_project, upload

# BEGIN included: what a view served from its cache sends (the goal of issue 12 is 6): one
# statement, the signed-in account's row read again beside the project under the visibility
# rule, its view's tokens and the page's shell (`project_view.signed_visible_view`), without
# BEGIN (`db.single_read`).
WARM_CEILING = 1
# A view drawn again after a fact (the first request that sees it): today's counts, which a change
# that adds one fails here. The page: its data in the JSON's own statement
# (`project_page_data`), and for staff the chain check of the new head (`chain.project_verified`).
COLD_CEILINGS = {"json": 4, "page": 5}


@pytest.fixture(autouse=True)
def served_caches() -> Iterator[None]:
    """Counted as served: the check mode's recomputation of every cache hit left out."""
    cache.configure(check=False)
    yield
    cache.configure(check=True)


@contextmanager
def counted(db: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(db, "before_cursor_execute", on_execute)


def statements_of(client: Any, db: Engine, project_id: int) -> dict[str, int]:
    """The statements of the first request to each address after the last fact (`cold`, which
    draws the view again) and of the next one (`warm`, from the cache)."""
    counts = {}
    addresses = (
        ("json", f"/api/v1/projects/{project_id}", "application/json"),
        ("page", f"/projects/{project_id}", "text/html"),
    )
    # The token's "last used" written, the process's other caches (the figures) filled: then
    # a fact, after which each view is drawn again.
    for _key, path, accept in addresses:
        assert client.get(path, headers={"Accept": accept}).status_code == 200
    add_stakeholder(client, project_id, "partenaire", name="Partenaire de plus")
    for key, path, accept in addresses:
        for kind in ("cold", "warm"):
            with counted(db) as statements:
                response = client.get(path, headers={"Accept": accept})
            assert response.status_code == 200, response.text
            counts[f"{key} {kind}"] = len(statements)
    return counts


def test_project_statements_do_not_grow_with_its_rows_or_the_network(
    client: Any, db: Engine
) -> None:
    bare = create_project(client, name="Régie sans rien")
    before = statements_of(client, db, bare["id"])

    full = create_project(client, name="Régie bien remplie")
    for n, college in enumerate(["habitants", "collectivite", "bailleur"] * 3):
        add_stakeholder(client, full["id"], college, name=f"Partie {n}")
    for _ in range(5):
        upload(client, full["id"], "note_cadrage")
    for n in range(8):
        create_project(client, name=f"Autre régie {n}")
    assert statements_of(client, db, full["id"]) == before
    assert statements_of(client, db, bare["id"]) == before
    for key, ceiling in COLD_CEILINGS.items():
        assert before[f"{key} cold"] <= ceiling, (key, before)
        assert before[f"{key} warm"] <= WARM_CEILING, (key, before)


# The pages of the lists and of the figures, served from their caches: finding the caller, then
# one statement (the caches' tokens, the shell's counts and, for the list, the viewer's unread
# messages of the projects listed: `pipeline.page_state`), besides SQLite's BEGIN.
CACHED_PAGES = ("/", "/projects", "/projects?sort=prevision", "/stats/network")


def test_the_lists_and_figures_pages_send_two_statements_when_cached(
    client: Any, db: Engine
) -> None:
    for n in range(3):
        create_project(client, name=f"Régie listée {n}")
    for path in CACHED_PAGES:
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 200
        with counted(db) as statements:
            response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, response.text
        sent = [s for s in statements if not s.strip().upper().startswith("BEGIN")]
        assert len(sent) == 2, (path, sent)
        (page,) = [s for s in sent if "figures_versions" in s]
        assert "notifications" in page, page
        if path.startswith("/projects"):
            assert "GROUP BY messages.project_id" in page, page
