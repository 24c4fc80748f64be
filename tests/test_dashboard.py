"""The staff pipeline dashboard at `/` and its JSON twin, through the real app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

from sqlalchemy import event

from labelflow import cache, dates
from tests.factories import create_project, decide, fire, walk_to

# Created this long ago, a project's step-1 deadline (6 months) falls in ~12 days, or ~36 days ago.
DUE_SOON_AGE = timedelta(days=170)
OVERDUE_AGE = timedelta(days=220)

COUNT_LINK = re.compile(r'<a class="count[^"]*" href="([^"]+)">(\d+)')


def created_ago(client: Any, age: timedelta, **overrides: Any) -> dict[str, Any]:
    with dates.frozen(datetime.now(UTC) - age):
        return create_project(client, **overrides)


def suspend(client: Any, project_id: int) -> None:
    response = client.post(
        f"/api/v1/projects/{project_id}/suspend", json={"comment": "Élections municipales."}
    )
    assert response.status_code == 200, response.text


def count_links(html: str) -> list[tuple[str, int]]:
    """Every number of the page with the list it links to."""
    return [(unescape(href), int(n)) for href, n in COUNT_LINK.findall(html)]


def build_pipeline(client: Any) -> dict[str, dict[str, Any]]:
    """Projects at several steps, in every final state, suspended, overdue and due soon."""
    made = {
        "a_jour": create_project(client, name="À jour"),
        "bientot": created_ago(client, DUE_SOON_AGE, kind="territoire", name="Bientôt dû"),
        "retard": created_ago(client, OVERDUE_AGE, name="En retard"),
        "suspendu": created_ago(client, OVERDUE_AGE, name="Suspendu en retard"),
        "faisabilite": walk_to(client, create_project(client, name="Étape 2"), "faisabilite"),
        "prefiguration": walk_to(
            client, create_project(client, kind="territoire", name="Étape 4"), "prefiguration"
        ),
    }
    suspend(client, made["suspendu"]["id"])
    made["abandon"] = create_project(client, name="Abandonné")
    fire(client, made["abandon"]["id"], "abandonner", comment="Plus de porteur.")
    made["label"] = walk_to(client, create_project(client, name="Labellisé"), "decision_bureau")
    decide(client, made["label"]["id"], "attribution")
    fire(client, made["label"]["id"], "attribuer_label")
    refus = walk_to(
        client, create_project(client, kind="territoire", name="Refusé"), "decision_bureau"
    )
    decide(client, refus["id"], "refus", motivation="Gouvernance insuffisante.")
    fire(client, refus["id"], "refuser_label", comment="Gouvernance insuffisante.")
    return made


def test_dashboard_counts_steps_final_states_and_deadlines(client: Any) -> None:
    made = build_pipeline(client)
    pipeline = client.get("/").context["pipeline"]

    steps = {s.step: (s.total, s.quartier, s.territoire) for s in pipeline.steps}
    assert steps == {
        1: (4, 3, 1),
        2: (1, 1, 0),
        3: (0, 0, 0),
        4: (1, 0, 1),
        5: (0, 0, 0),
        6: (0, 0, 0),
    }
    finals = {s.state: (s.total, s.quartier, s.territoire) for s in pipeline.finals}
    assert finals == {"labellisee": (1, 1, 0), "refusee": (1, 0, 1), "abandonnee": (1, 1, 0)}
    assert (pipeline.total, pipeline.running) == (9, 6)
    # The suspended project's deadline is past, but its deadlines are paused: not overdue.
    assert (pipeline.suspended, pipeline.overdue, pipeline.due_soon) == (1, 1, 1)
    assert [p.id for p in pipeline.overdue_projects] == [made["retard"]["id"]]
    assert [p.id for p in pipeline.due_soon_projects] == [made["bientot"]["id"]]

    html = unescape(client.get("/").text)
    assert "1/6 Groupe projet" in re.sub(r"<[^>]+>", "", html)
    for label in ("Étude de faisabilité", "Décision du Bureau", "Labellisée", "Label refusé"):
        assert label in html
    due = pipeline.due_soon_projects[0].due_on
    assert dates.french_date(due) in html
    assert 'href="/api/v1/pipeline"' in html


def test_every_number_links_to_a_list_of_that_length(client: Any) -> None:
    build_pipeline(client)
    links = count_links(client.get("/").text)
    # The total, steps and final states (all, quartier, territoire), then the three watch counts.
    assert len(links) == 1 + 9 * 3 + 3
    assert ("/projects?overdue=oui", 1) in links
    assert ("/projects?due_soon=oui", 1) in links
    assert ("/projects?suspended=oui", 1) in links
    assert ("/projects?state=groupe_projet&kind=quartier", 3) in links
    assert ("/projects", 9) in links
    for href, number in links:
        listing = client.get(href)
        assert listing.status_code == 200, href
        assert listing.context["total"] == number, href
    # The list keeps the dashboard's filter and its JSON twin carries it.
    listing = client.get("/projects?due_soon=oui")
    assert '<input type="hidden" name="due_soon" value="oui">' in listing.text
    assert "due_soon=true" in listing.context["json_url"]
    assert client.get(listing.context["json_url"]).json()["total"] == 1


def test_an_overdue_project_is_not_also_due_soon(client: Any) -> None:
    project = created_ago(client, OVERDUE_AGE)
    label = next(
        d
        for d in client.get(f"/api/v1/projects/{project['id']}/deadlines").json()
        if d["kind"] == "label"
    )
    soon = (dates.today() + timedelta(days=5)).isoformat()
    moved = client.patch(
        f"/api/v1/projects/{project['id']}/deadlines/{label['id']}",
        json={"due_on": soon, "reason": "Calendrier du Bureau avancé."},
    )
    assert moved.status_code == 200, moved.text
    twin = client.get("/api/v1/pipeline").json()
    assert (twin["overdue"], twin["due_soon"]) == (1, 0)
    assert client.get("/api/v1/projects?due_soon=true").json()["total"] == 0
    assert client.get("/api/v1/projects?overdue=true").json()["total"] == 1


def test_lists_show_ten_projects_by_due_date_and_link_to_the_rest(client: Any) -> None:
    for i in range(12):
        created_ago(client, OVERDUE_AGE + timedelta(days=i), name=f"Retard {i:02d}")
    for i in range(3):
        created_ago(client, DUE_SOON_AGE - timedelta(days=i * 5), name=f"Proche {i}")
    response = client.get("/")
    pipeline = response.context["pipeline"]
    assert [p.name for p in pipeline.overdue_projects] == [
        f"Retard {i:02d}" for i in range(11, 1, -1)
    ]
    assert [p.name for p in pipeline.due_soon_projects] == ["Proche 0", "Proche 1", "Proche 2"]
    due = [p.due_on for p in pipeline.due_soon_projects]
    assert due == sorted(due)
    html = unescape(response.text)
    assert "Voir les 12 projets en retard" in html
    assert "Retard 00" not in html and "Retard 11" in html


def test_json_twin_returns_the_same_counts(client: Any) -> None:
    build_pipeline(client)
    page = client.get("/").context["pipeline"]
    twin = client.get("/api/v1/pipeline")
    assert twin.status_code == 200
    body = twin.json()
    assert body["today"] == dates.today().isoformat()
    assert (body["total"], body["running"]) == (9, 6)
    assert [
        (s["step"], s["label"], s["total"], s["quartier"], s["territoire"]) for s in body["steps"]
    ] == [(s.step, s.label, s.total, s.quartier, s.territoire) for s in page.steps]
    assert [(s["state"], s["total"]) for s in body["finals"]] == [
        ("labellisee", 1),
        ("refusee", 1),
        ("abandonnee", 1),
    ]
    assert (body["suspended"], body["overdue"], body["due_soon"]) == (1, 1, 1)
    assert body["due_soon_days"] == 30
    assert body["overdue_projects"][0]["name"] == "En retard"
    assert body["overdue_projects"][0]["step"] == 1
    assert body["due_soon_projects"][0]["kind"] == "territoire"
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/pipeline"]["get"]
    assert operation["tags"] == ["projets"]
    assert operation["summary"].startswith("Tableau de bord")


def test_empty_dashboard(client: Any) -> None:
    response = client.get("/")
    html = unescape(response.text)
    assert "Aucun projet en retard." in html
    assert "Aucune échéance dans les 30 jours." in html
    assert all(n == 0 for _, n in count_links(response.text))
    assert client.get("/api/v1/pipeline").json()["total"] == 0


def test_dashboard_page_hygiene(client: Any) -> None:
    build_pipeline(client)
    html = client.get("/").text
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert '<a href="/" aria-current="page">Tableau de bord</a>' in html
    assert "/" not in client.get("/openapi.json").json()["paths"]


@contextmanager
def count_statements(app: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(app.state.db, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(app.state.db, "before_cursor_execute", before)


def test_statements_do_not_grow_with_the_number_of_projects(client: Any, app: Any) -> None:
    create_project(client)
    with count_statements(app) as few_page:
        assert client.get("/").status_code == 200
    with count_statements(app) as few_json:
        assert client.get("/api/v1/pipeline").status_code == 200
    build_pipeline(client)
    for i in range(12):
        created_ago(client, OVERDUE_AGE + timedelta(days=i), name=f"Retard {i}")
    with count_statements(app) as many_page:
        assert client.get("/").status_code == 200
    with count_statements(app) as many_json:
        assert client.get("/api/v1/pipeline").status_code == 200
    assert len(many_page) == len(few_page)
    assert len(many_json) == len(few_json)
    # Not cached yet (a fact came): the caches' tokens, then three queries (the grouped counts,
    # the two short lists), besides finding the caller.
    selects = [s for s in many_json if s.lstrip().upper().startswith("SELECT")]
    assert len([s for s in selects if "api_tokens" not in s]) == 4
    assert len([s for s in selects if "figures_versions" in s]) == 1
    assert len(selects) == 5
    # Cached (as served: the check mode's recomputation left out): the tokens only.
    cache.configure(check=False)
    try:
        with count_statements(app) as cached_json:
            assert client.get("/api/v1/pipeline").status_code == 200
    finally:
        cache.configure(check=True)
    selects = [s for s in cached_json if s.lstrip().upper().startswith("SELECT")]
    others = [s for s in selects if "api_tokens" not in s]
    assert len(others) == 1 and "FROM figures_versions" in others[0], others
