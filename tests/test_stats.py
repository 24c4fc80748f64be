"""The passes through each step, the durations drawn from them and each project's forecast,
on histories built by the test and checked against values computed by hand."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from labelflow import dates, stats
from labelflow.french import typeset
from labelflow.models import StepPass
from tests.conftest import make_user
from tests.factories import create_project, decide, fire, walk_to

# The factories date attestations yesterday (real time): the history happens after that.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def test_percentiles_by_hand() -> None:
    assert stats.percentile([10, 20, 30, 40, 50], 0.5) == 30
    assert stats.percentile([10, 20, 30, 40, 50], 0.1) == pytest.approx(14)
    assert stats.percentile([10, 20, 30, 40, 50], 0.9) == pytest.approx(46)
    assert stats.percentile([1, 2, 3, 10], 0.5) == 2.5
    assert stats.percentile([1, 2, 3, 10], 0.1) == pytest.approx(1.3)
    assert stats.percentile([7], 0.9) == 7


def _passes(db: Engine, project_id: int) -> list[tuple[str, bool, int]]:
    with Session(db) as session:
        rows = session.exec(
            select(StepPass).where(StepPass.project_id == project_id).order_by(col(StepPass.id))
        ).all()
        return [(p.state, p.left_at is not None, p.paused_seconds) for p in rows]


def test_passes_follow_the_facts_and_leave_suspended_time_out(client: Any, db: Engine) -> None:
    with dates.frozen(T0):
        project = create_project(client)
    with dates.frozen(T0 + timedelta(days=30)):
        project = walk_to(client, project, "faisabilite")
    pid = project["id"]
    with dates.frozen(T0 + timedelta(days=40)):
        assert client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Pause"}).is_success
    with dates.frozen(T0 + timedelta(days=50)):
        assert client.post(f"/api/v1/projects/{pid}/resume", json={}).is_success
    with dates.frozen(T0 + timedelta(days=100)):
        walk_to(client, project, "validation")
    assert _passes(db, pid) == [
        ("groupe_projet", True, 0),
        ("faisabilite", True, 10 * 86400),
        ("validation", False, 0),
    ]
    with Session(db) as session:
        durations = stats.step_durations(session, engine=client.app.state.workflows)
        assert durations[("quartier", "groupe_projet")] == stats.Durations(1, 30.0, 30.0, 30.0)
        # 70 days in the step, 10 of them suspended.
        assert durations[("quartier", "faisabilite")] == stats.Durations(1, 60.0, 60.0, 60.0)
        before = session.exec(select(StepPass).order_by(col(StepPass.id))).all()
        seen = [(p.project_id, p.state, p.entered_at, p.left_at, p.paused_seconds) for p in before]
        # Replaying the history gives the same passes as the facts' subscriber kept.
        assert stats.rebuild_passes(session) == 3
        after = session.exec(select(StepPass).order_by(col(StepPass.id))).all()
        assert [
            (p.project_id, p.state, p.entered_at, p.left_at, p.paused_seconds) for p in after
        ] == (seen)
        session.rollback()


def _history(db: Engine, project_ids: list[int], days: list[int], states: list[str]) -> None:
    """Finished passes: project i spent days[i] in each of `states`."""
    with Session(db) as session:
        for pid, spent in zip(project_ids, days, strict=True):
            start = T0 - timedelta(days=1500)
            for state in states:
                end = start + timedelta(days=spent)
                session.add(
                    StepPass(
                        project_id=pid,
                        state=state,
                        entered_at=start,
                        left_at=end,
                        clock_day=dates.paris_date(start).toordinal(),
                    )
                )
                start = end
        stats.touch(session)
        session.commit()


STEPS = ["groupe_projet", "faisabilite", "validation", "prefiguration", "expertise"]
STEPS_6 = [*STEPS, "decision_bureau"]


def test_forecast_from_targets_then_from_history(client: Any, db: Engine) -> None:
    today = dates.today()
    with dates.frozen(datetime.now(UTC) - timedelta(days=10)):
        project = create_project(client, name="Régie en cours")
    pid = project["id"]
    forecast = client.get(f"/api/v1/projects/{pid}").json()["forecast"]
    # No history: the targets, 6 + 8 + 3 + 14 + 3 + 2 months (183 + 244 + 91 + 426 + 91 + 61
    # days at 365.25 / 12 days a month), counted from the day the step began (10 days ago).
    expected = today - timedelta(days=10) + timedelta(days=183 + 244 + 91 + 426 + 91 + 61)
    assert forecast == {
        "label_on": expected.isoformat(),
        "low": expected.isoformat(),
        "high": expected.isoformat(),
        "basis": "cibles",
        "beyond_target": False,
    }

    # Five past projects, each 10, 20, 30, 40, 50 days in every step: median 30, p10 14, p90 46.
    past = [create_project(client, name=f"Passée {i}")["id"] for i in range(5)]
    _history(db, past, [10, 20, 30, 40, 50], STEPS_6)
    forecast = client.get(f"/api/v1/projects/{pid}").json()["forecast"]
    assert forecast == {
        # 20 days left in the current step, then 5 × 30.
        "label_on": (today + timedelta(days=20 + 150)).isoformat(),
        # 4 days left (14 − 10), then 5 × 14.
        "low": (today + timedelta(days=4 + 70)).isoformat(),
        "high": (today + timedelta(days=36 + 230)).isoformat(),
        "basis": "historique",
        "beyond_target": False,
    }

    # Four finished passes of the Bureau's step only: not enough history, back to the targets.
    with Session(db) as session:
        last = session.exec(
            select(StepPass).where(StepPass.state == "decision_bureau").order_by(col(StepPass.id))
        ).first()
        session.delete(last)
        stats.touch(session)
        session.commit()
    assert client.get(f"/api/v1/projects/{pid}").json()["forecast"]["basis"] == "cibles"


def test_forecast_beyond_target_sorted_and_null_when_closed(client: Any) -> None:
    with dates.frozen(datetime.now(UTC) - timedelta(days=1200)):
        late = create_project(client, name="Très en retard")
    recent = create_project(client, name="Récent")
    closed = create_project(client, name="Abandonné")
    fire(client, closed["id"], "abandonner", comment="Plus de porteur.")
    late_json = client.get(f"/api/v1/projects/{late['id']}").json()
    # Its first step is long past: the rest of the path is counted from today.
    rest = 244 + 91 + 426 + 91 + 61
    assert late_json["forecast"]["label_on"] == (dates.today() + timedelta(days=rest)).isoformat()
    assert late_json["forecast"]["beyond_target"] is True
    assert client.get(f"/api/v1/projects/{closed['id']}").json()["forecast"] is None

    listed = client.get("/api/v1/projects", params={"sort": "prevision"}).json()["items"]
    # The late one has only the steps after its first left: it is expected first.
    assert [p["name"] for p in listed] == ["Très en retard", "Récent", "Abandonné"]
    assert [p["forecast"] is None for p in listed] == [False, False, True]
    assert date.fromisoformat(listed[0]["forecast"]["label_on"]) < date.fromisoformat(
        listed[1]["forecast"]["label_on"]
    )
    # With a filter on the passes too.
    both = client.get("/api/v1/projects", params={"sort": "prevision", "reached": "groupe_projet"})
    assert [p["name"] for p in both.json()["items"]] == [p["name"] for p in listed]
    newest = client.get("/api/v1/projects").json()["items"]
    assert [p["name"] for p in newest] == ["Abandonné", "Récent", "Très en retard"]
    assert recent["id"] in {p["id"] for p in newest}


def test_unknown_sort_is_refused_in_french(client: Any) -> None:
    response = client.get("/api/v1/projects", params={"sort": "hasard"})
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "requete_invalide"
    assert body["fields"][0]["field"] == "sort"
    assert body["fields"][0]["message"] == typeset(body["fields"][0]["message"])


# --- the network's figures --------------------------------------------------------------------


def _at(year: int, month: int, day: int) -> Any:
    return dates.frozen(datetime(year, month, day, 10, tzinfo=UTC))


def build_network(client: Any) -> dict[str, dict[str, Any]]:
    """Five projects over four years: one abandoned, one labelled, one refused, two under way."""
    with _at(2023, 3, 1):
        a = create_project(client, name="A, abandonné en 2024")
    with _at(2024, 2, 1):
        fire(client, a["id"], "abandonner", comment="Plus de porteur.")
    with _at(2024, 5, 1):
        b = create_project(client, name="B, labellisé")
    b = walk_to(client, b, "decision_bureau")
    decide(client, b["id"], "attribution")
    fire(client, b["id"], "attribuer_label")
    with _at(2025, 1, 10):
        c = create_project(client, kind="territoire", name="C, refusé")
    c = walk_to(client, c, "decision_bureau")
    decide(client, c["id"], "refus", motivation="Gouvernance insuffisante.")
    fire(client, c["id"], "refuser_label", comment="Gouvernance insuffisante.")
    with _at(2025, 6, 1):
        d = create_project(client, kind="territoire", name="D, groupe projet")
    e = walk_to(client, create_project(client, name="E, faisabilité"), "faisabilite")
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_network_figures_by_hand(client: Any) -> None:
    build_network(client)
    year = dates.today().year
    assert year >= 2026
    figures = client.get("/api/v1/stats/network").json()
    by_year = {(y["year"], y["kind"]): y for y in figures["by_year"]}
    assert sorted({y for y, _ in by_year}) == list(range(2023, year + 1))

    def row(y: int, kind: str) -> tuple[int, int, int]:
        f = by_year[(y, kind)]
        return f["labelled_total"], f["labelled_in_year"], f["in_progress"]

    # quartier: A (2023, abandoned 2024), B (2024, labelled this year), E (this year).
    assert row(2023, "quartier") == (0, 0, 1)
    assert row(2024, "quartier") == (0, 0, 1)
    assert row(2025, "quartier") == (0, 0, 1)
    assert row(year, "quartier") == (1, 1, 1)
    # territoire: C (2025, refused this year), D (2025, under way).
    assert row(2024, "territoire") == (0, 0, 0)
    assert row(2025, "territoire") == (0, 0, 2)
    assert row(year, "territoire") == (0, 0, 1)

    cohorts = {
        (c["year"], c["kind"]): (
            c["started"],
            c["labelled"],
            c["in_progress"],
            c["refused"],
            c["abandoned"],
        )
        for c in figures["cohorts"]
    }
    assert cohorts == {
        (2023, "quartier"): (1, 0, 0, 0, 1),
        (2024, "quartier"): (1, 1, 0, 0, 0),
        (2025, "territoire"): (2, 0, 1, 1, 0),
        (year, "quartier"): (1, 0, 1, 0, 0),
    }
    funnel = [(f["state"], f["reached"], f["by_kind"]) for f in figures["funnel"]]
    assert funnel == [
        ("groupe_projet", 5, {"quartier": 3, "territoire": 2}),
        ("faisabilite", 3, {"quartier": 2, "territoire": 1}),
        ("validation", 2, {"quartier": 1, "territoire": 1}),
        ("prefiguration", 2, {"quartier": 1, "territoire": 1}),
        ("expertise", 2, {"quartier": 1, "territoire": 1}),
        ("decision_bureau", 2, {"quartier": 1, "territoire": 1}),
        ("labellisee", 1, {"quartier": 1}),
    ]
    assert figures["rates"] == {
        "abandon": pytest.approx(1 / 3),
        "refusal": pytest.approx(1 / 3),
        "closed": 3,
        "abandoned": 1,
        "refused": 1,
        "labelled": 1,
    }
    steps = {(s["kind"], s["state"]): s for s in figures["steps"]}
    assert len(steps) == 12
    # Groupe projet finished by A (2023-03-01 → 2024-02-01: 337 days), B and E (quartier).
    first = steps[("quartier", "groupe_projet")]
    assert first["n"] == 3
    b_days = (datetime.now(UTC) - datetime(2024, 5, 1, 10, tzinfo=UTC)).total_seconds() / 86400
    assert first["median_days"] == pytest.approx(337.0, abs=0.05)
    assert first["p90_days"] == pytest.approx(337 + 0.8 * (b_days - 337), abs=0.1)
    assert first["target_days"] == 183
    assert steps[("territoire", "validation")]["n"] == 1
    assert steps[("territoire", "validation")]["target_days"] == 91
    assert steps[("quartier", "decision_bureau")]["n"] == 1


def test_network_page_charts_and_links_match_the_list(client: Any, db: Engine) -> None:
    build_network(client)
    response = client.get("/stats/network")
    assert response.status_code == 200
    html = response.text
    assert html.count('<svg role="img"') == 6
    assert html.count("<title id=") == 6 and html.count("<desc id=") == 6
    # No chart script: the page's content holds none.
    assert "<script" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    links = re.findall(r'<a href="(/projects\?[^"]+)">([\d,]+)<span class="visually-hidden">', html)
    assert len(links) > 40
    for href, number in links:
        query = unescape(href).split("?", 1)[1]
        listed = client.get(f"/api/v1/projects?{query}&limit=1")
        assert listed.status_code == 200, (href, listed.text)
        assert listed.json()["total"] == int(number), href
    # The list reached from a figure says which figure it is.
    page = client.get("/projects?labelled_by=2026&kind=quartier").text
    assert "Labellisés au 31 décembre 2026" in unescape(page)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"reached": "nulle_part"}, "reached"),
        ({"started": "deux-mille"}, "started"),
        ({"started": "1500"}, "started"),
        ({"open_at": "99999"}, "open_at"),
        ({"labelled_by": "2024.5"}, "labelled_by"),
        ({"sort": "hasard"}, "sort"),
    ],
)
def test_bad_figure_filters_are_refused_in_french(
    client: Any, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/projects", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "requete_invalide"
    assert [f["field"] for f in error["fields"]] == [field]
    assert error["message"] == typeset(error["message"])
    page = client.get("/projects", params=params)
    assert 400 <= page.status_code < 500
    assert 'lang="fr"' in page.text


def test_network_figures_follow_the_visibility_rule(
    client: Any, client_as: Any, db: Engine
) -> None:
    build_network(client)
    porteur = client_as(make_user(db, role="porteur"))
    assert porteur.get("/api/v1/stats/network").status_code == 403
    assert porteur.get("/stats/network").status_code == 403


def test_forecast_on_the_project_page_the_list_and_mon_projet(
    client: Any, client_as: Any, db: Engine
) -> None:
    with dates.frozen(datetime.now(UTC) - timedelta(days=1200)):
        late = create_project(client, name="Très en retard")
    porteur = make_user(db, role="porteur", name="Awa Diallo")
    linked = client.post(f"/api/v1/projects/{late['id']}/members", json={"user_id": porteur.id})
    assert linked.status_code in (200, 201), linked.text
    expected = dates.today() + timedelta(days=244 + 91 + 426 + 91 + 61)

    page = unescape(client.get(f"/projects/{late['id']}").text)
    assert f"Label attendu vers le {dates.french_date(expected)}" in page
    assert "Au-delà de la date cible" in page
    assert typeset("la prévision suit les durées cibles du parcours") in page

    listed = unescape(client.get("/projects?sort=prevision").text)
    assert dates.french_date(expected) in listed
    assert "par date de label attendue</strong>" in listed

    mine = unescape(client_as(porteur).get("/").text)
    assert "<h1>Mon projet</h1>" in mine
    assert f"Label attendu vers le {dates.french_date(expected)}" in mine
    # The porteur's forecast is in their project's JSON too.
    own = client_as(porteur).get(f"/api/v1/projects/{late['id']}").json()
    assert own["forecast"]["label_on"] == expected.isoformat()
