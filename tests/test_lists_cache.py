"""The project list and the dashboard are cached in each process under the token that every fact
changes (`pipeline.cached`, DESIGN §12): after any fact that changes a number, the next request
shows it, in this process as in any other.

The cache is checked here as served (its check mode, which recomputes every hit, is off): the
only thing that stales an entry is the token read from the database, so a fact that forgot to
change it would leave the old number on the page, in every process — what these tests catch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from labelflow import cache, dates
from tests.conftest import make_user
from tests.factories import create_project, fire
from tests.test_dashboard import (
    DUE_SOON_AGE,
    OVERDUE_AGE,
    count_links,
    count_statements,
    created_ago,
    suspend,
)
from tests.test_messages import header_count, plain

NORD = "Hauts-de-France"
OUEST = "Bretagne"


@pytest.fixture(autouse=True)
def served_caches() -> Iterator[None]:
    cache.configure(check=False)
    yield
    cache.configure(check=True)


def figures(client: Any) -> dict[str, Any]:
    """The dashboard's numbers, from its JSON and from its page (both cached)."""
    pipeline = client.get("/api/v1/pipeline").json()
    page = dict(count_links(client.get("/").text))
    steps = {s["state"]: s["quartier"] + s["territoire"] for s in pipeline["steps"]}
    return {
        "total": page["/projects"],
        "overdue": (pipeline["overdue"], page["/projects?overdue=oui"]),
        "due_soon": (pipeline["due_soon"], page["/projects?due_soon=oui"]),
        "suspended": (pipeline["suspended"], page["/projects?suspended=oui"]),
        "steps": steps,
        "overdue_names": [p["name"] for p in pipeline["overdue_projects"]],
    }


def listed(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/api/v1/projects").json()["items"]
    page = client.get("/projects", headers={"Accept": "text/html"})
    assert [p.id for p in page.context["items"]] == [p["id"] for p in items]
    return items


def test_every_fact_that_changes_a_number_shows_at_once(client: Any, staff_user: Any) -> None:
    current = create_project(client, name="À jour")
    late = created_ago(client, OVERDUE_AGE, name="En retard")
    before = figures(client)
    assert before["overdue"] == (1, 1) and before["suspended"] == (0, 0)

    created = create_project(client, name="Nouveau")  # creation
    after = figures(client)
    assert after["total"] == before["total"] + 1
    assert listed(client)[0]["name"] == "Nouveau"

    fire(client, created["id"], "abandonner", comment="Plus de porteur.")  # transition
    assert figures(client)["steps"]["groupe_projet"] == after["steps"]["groupe_projet"] - 1

    suspend(client, late["id"])  # suspension
    assert figures(client)["suspended"] == (1, 1)
    assert figures(client)["overdue"] == (0, 0)
    assert {p["name"]: p["suspended"] for p in listed(client)}["En retard"] is True
    resumed = client.post(f"/api/v1/projects/{late['id']}/resume", json={"comment": "Repris."})
    assert resumed.status_code == 200, resumed.text  # resumption
    assert figures(client)["suspended"] == (0, 0)

    # A deadline moved: the late project is on time again.
    project = client.get(f"/api/v1/projects/{late['id']}").json()
    step = next(d for d in project["deadlines"] if d["kind"] == "etape" and not d["closed_on"])
    moved = client.patch(
        f"/api/v1/projects/{late['id']}/deadlines/{step['id']}",
        json={"due_on": (dates.today() + timedelta(days=90)).isoformat(), "reason": "Report."},
    )
    assert moved.status_code == 200, moved.text
    assert figures(client)["overdue"] == (0, 0)

    # A milestone due in a few days: the project on time is due soon.
    assert figures(client)["due_soon"] == (0, 0)
    milestone = client.post(
        f"/api/v1/projects/{current['id']}/milestones",
        json={
            "title": "Visite",
            "due_on": (dates.today() + timedelta(days=5)).isoformat(),
            "user_id": staff_user.id,
        },
    )
    assert milestone.status_code == 201, milestone.text
    assert figures(client)["due_soon"] == (1, 1)

    # A project renamed: the lists show its new name (read just before: cached).
    assert "À jour" in [p["name"] for p in listed(client)]
    renamed = client.patch(f"/api/v1/projects/{current['id']}", json={"name": "Régie renommée"})
    assert renamed.status_code == 200, renamed.text
    assert "Régie renommée" in [p["name"] for p in listed(client)]


def test_a_new_day_moves_due_soon_to_overdue(client: Any) -> None:
    soon = created_ago(client, DUE_SOON_AGE, name="Bientôt dû")
    assert figures(client)["due_soon"] == (1, 1)
    with dates.frozen(datetime.now(UTC) + timedelta(days=40)):
        later = figures(client)
    assert later["overdue"] == (1, 1) and later["due_soon"] == (0, 0)
    assert later["overdue_names"] == [soon["name"]]
    assert figures(client)["due_soon"] == (1, 1)  # today again


def test_a_message_and_a_renamed_account_show_on_the_dashboard_and_the_list(
    client: Any, db: Engine
) -> None:
    project = create_project(client, name="Régie suivie")
    owner = make_user(db, role="staff", name="Dominique Avant")
    assert (
        client.patch(
            f"/api/v1/projects/{project['id']}", json={"staff_owner_id": owner.id}
        ).status_code
        == 200
    )
    assert listed(client)[0]["staff_owner"]["name"] == "Dominique Avant"
    page = client.get("/").text
    assert "attend de réponse des porteurs" in page

    asked = client.post(
        f"/api/v1/projects/{project['id']}/messages",
        json={"body": "Pouvez-vous envoyer les statuts ?", "audience": "projet",
              "awaiting_reply": True},
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    page = client.get("/").text
    assert "attend de réponse des porteurs" not in page
    assert "Pouvez-vous envoyer les statuts" in page

    renamed = client.patch(f"/api/v1/users/{owner.id}", json={"name": "Dominique Après"})
    assert renamed.status_code == 200, renamed.text
    assert listed(client)[0]["staff_owner"]["name"] == "Dominique Après"


def test_regional_and_national_teams_each_see_their_own_counts(
    client: Any, client_as: Any, db: Engine
) -> None:
    nord = create_project(client, name="Régie du Nord", region=NORD)
    create_project(client, name="Régie de l'Ouest", region=OUEST)
    regional = client_as(make_user(db, role="staff", name="Régine Régionale", regions=[NORD]))
    national = figures(client)["total"]
    assert figures(regional)["total"] == 1 and national == 2
    assert [p["name"] for p in listed(regional)] == ["Régie du Nord"]
    assert len(listed(client)) == 2

    # The project moves to the other région: out of the regional team's counts and list.
    moved = client.patch(f"/api/v1/projects/{nord['id']}", json={"region": OUEST})
    assert moved.status_code == 200, moved.text
    assert figures(regional)["total"] == 0 and listed(regional) == []
    assert figures(client)["total"] == 2


def test_statements_of_the_list_do_not_grow_and_one_when_cached(client: Any, app: Any) -> None:
    create_project(client, name="Seul")
    addresses = [
        ("/api/v1/projects", "application/json"),
        ("/api/v1/projects?sort=prevision", "application/json"),
        ("/projects", "text/html"),
        ("/projects?sort=prevision", "text/html"),
        ("/", "text/html"),
    ]

    def counts() -> list[tuple[int, int]]:
        result = []
        for path, accept in addresses:
            with count_statements(app) as missed:
                assert client.get(path, headers={"Accept": accept}).status_code == 200
            with count_statements(app) as hit:
                assert client.get(path, headers={"Accept": accept}).status_code == 200
            result.append((len(missed), len(hit)))
        return result

    few = counts()
    for n in range(12):
        create_project(client, name=f"Régie {n}")
    assert counts() == few
    # Cached: the tokens' one statement (besides finding the caller and the page's own).
    for (missed, hit), (path, _) in zip(few, addresses, strict=True):
        assert hit < missed, path


def test_the_pages_kept_whole_follow_the_reads_that_are_no_facts(
    client: Any, db: Engine, staff_user: Any, client_as: Any
) -> None:
    """The dashboard, the list and « État du réseau » are kept whole, per cached value and what
    the shell shows (`routing.render_kept`): a thread or the notifications read, which change no
    token, show at once."""
    project = create_project(client, name="Régie suivie")
    owned = client.patch(
        f"/api/v1/projects/{project['id']}", json={"staff_owner_id": staff_user.id}
    )
    assert owned.status_code == 200, owned.text
    colleague = client_as(make_user(db, role="staff", name="Camille Autre"))
    for body in ("Premier", "Second"):
        sent = colleague.post(f"/api/v1/projects/{project['id']}/messages", json={"body": body})
        assert sent.status_code == 201, sent.text
    fire(colleague, project["id"], "abandonner", comment="Plus de porteur.")  # notifies the owner
    pages = ("/", "/projects", "/stats/network")

    def shown() -> dict[str, tuple[str, str, bool]]:
        seen = {}
        for path in pages:
            for _ in range(2):  # drawn, then kept
                html = plain(client.get(path, headers={"Accept": "text/html"}).text)
                seen[path] = (
                    header_count(html),
                    re.search(r'class="bell" href="/notifications" aria-label="([^"]*)"', html)[1],
                    "2 messages non lus" in html,
                )
        return seen

    before = shown()
    assert {count for count, _, _ in before.values()} == {"Messages 2 non lus"}
    assert {bell for _, bell, _ in before.values()} == {"Notifications, 1 non lue"}
    assert before["/projects"][2]
    assert client.post(f"/api/v1/projects/{project['id']}/messages/read").status_code == 204
    assert client.post("/api/v1/me/notifications/read-all").status_code in (200, 204)
    after = shown()
    assert {count for count, _, _ in after.values()} == {"Messages"}
    assert {bell for _, bell, _ in after.values()} == {"Notifications, aucune non lue"}
    assert not after["/projects"][2]


def test_a_kept_list_page_and_project_json_cost_one_thread_pool_hop(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hop to the thread pool costs the served process about 0.2 ms of CPU: a kept list
    page is answered from the event loop with what the identity's hop read (its tokens, its
    shell, the viewer's unread counts of the page that query gave last), as the project JSON
    is. A new query, or a page no longer kept, takes the second hop to be drawn."""
    from concurrent.futures import ThreadPoolExecutor

    import anyio.to_thread

    from labelflow.web import kept

    project = create_project(client, name="Régie comptée")
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    class CountedPool(ThreadPoolExecutor):  # the short path's own threads (kept.py)
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            hops.append(getattr(args[0], "__name__", repr(fn)))  # fn: its context's run
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    monkeypatch.setattr(kept, "_POOL", CountedPool(kept.THREADS))

    def hops_of(path: str, accept: str = "text/html") -> int:
        hops.clear()
        assert client.get(path, headers={"Accept": accept}).status_code == 200
        return len(hops)

    for path in ("/projects", "/projects?sort=prevision&state=groupe_projet"):
        assert hops_of(path) == 2, path  # drawn: its handler's hop besides the identity's
        assert hops_of(path) == 1, hops  # kept
    create_project(client, name="Une de plus")  # a fact: the kept pages are stale
    assert hops_of("/projects") == 2
    assert hops_of("/projects") == 1
    # Not kept: the short path's hop (web/kept.py), the identity's (which takes what it read),
    # the drawing's; kept: the short path's only.
    assert hops_of(f"/api/v1/projects/{project['id']}", "application/json") in (1, 3)
    assert hops_of(f"/api/v1/projects/{project['id']}", "application/json") == 1
    assert hops_of(f"/projects/{project['id']}") in (1, 3)
    assert hops_of(f"/projects/{project['id']}") == 1


def test_the_project_page_kept_whole_follows_its_shell_and_its_notice(
    client: Any, db: Engine, staff_user: Any, client_as: Any
) -> None:
    """The project page is kept as its bytes per view tokens, viewer, anti-forgery token,
    shell counts and notice (`render_kept`): the bell read, another notice or a fact show at
    once; the same request again answers the same bytes."""
    project = create_project(client, name="Régie gardée")
    pid = project["id"]
    owned = client.patch(f"/api/v1/projects/{pid}", json={"staff_owner_id": staff_user.id})
    assert owned.status_code == 200, owned.text
    colleague = client_as(make_user(db, role="staff", name="Camille Autre"))
    suspend(colleague, pid)  # notifies the owner

    def page(query: str = "") -> str:
        response = client.get(f"/projects/{pid}{query}", headers={"Accept": "text/html"})
        assert response.status_code == 200, response.text
        return response.text

    first = page()
    assert page() == first  # kept
    assert "Notifications, 1 non lue" in first
    assert client.post("/api/v1/me/notifications/read-all").status_code in (200, 204)
    read = page()
    assert "Notifications, aucune non lue" in read and "Régie gardée" in read
    noticed = plain(page("?fait=etape"))
    assert "Le projet est passé à" in noticed
    assert "Le projet est passé à" not in plain(page())
    renamed = client.patch(f"/api/v1/projects/{pid}", json={"name": "Régie renommée"})
    assert renamed.status_code == 200, renamed.text
    assert "<title>Régie renommée" in page()
