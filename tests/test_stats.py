"""The passes through each step, the durations drawn from them and each project's forecast,
on histories built by the test and checked against values computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from labelflow import dates, stats
from labelflow.french import typeset
from labelflow.models import StepPass
from tests.factories import create_project, fire, walk_to

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
