"""Real threads against the real app and database: one winner, no lost write, no lock error."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import (
    complete_groupe_projet,
    create_project,
    decide,
    events,
    walk_to,
)


def _race(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run `call(i)` in `n` threads released together; return the responses (or exceptions)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


@pytest.mark.parametrize("threads", [2, 8])
@pytest.mark.parametrize("with_if_match", [False, True])
def test_one_transition_wins(client: Any, threads: int, with_if_match: bool) -> None:
    project = create_project(client)
    pid = project["id"]
    complete_groupe_projet(client, project)
    version = client.get(f"/api/v1/projects/{pid}").json()["version"]
    headers = {"If-Match": str(version)} if with_if_match else {}

    responses = _race(
        threads,
        lambda _i: client.post(
            f"/api/v1/projects/{pid}/transitions",
            json={"action": "lancer_faisabilite"},
            headers=headers,
        ),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, [r.text for r in responses]
    assert set(statuses) <= {200, 409, 412}, [r.text for r in responses]
    losers = {r.json()["error"]["code"] for r in responses if r.status_code != 200}
    if with_if_match:
        # The winner changed the version each loser sent: a stale If-Match, whoever won.
        assert losers == {"version_perimee"}, [r.text for r in responses]
    else:
        assert losers <= {"action_impossible", "conflit_de_version"}, losers
    transitions = [e for e in events(client, pid) if e["kind"] == "transition"]
    assert len(transitions) == 1
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert (project["state"], project["version"]) == ("faisabilite", version + 1)
    open_steps = [d for d in project["deadlines"] if d["kind"] == "etape" and not d["closed_on"]]
    assert [d["state"] for d in open_steps] == ["faisabilite"]


def test_racing_different_actions_at_the_bureau(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    decide(client, pid, "attribution")
    bodies = [{"action": "attribuer_label"}, {"action": "abandonner", "comment": "Fin"}] * 3
    responses = _race(
        len(bodies), lambda i: client.post(f"/api/v1/projects/{pid}/transitions", json=bodies[i])
    )
    assert sorted(r.status_code for r in responses).count(200) == 1
    assert all(r.status_code in (200, 409, 412) for r in responses)
    final = client.get(f"/api/v1/projects/{pid}").json()["state"]
    assert final in ("labellisee", "abandonnee")
    assert [e["to_state"] for e in events(client, pid) if e["kind"] == "transition"][-1] == final
    assert (
        len(
            [
                e
                for e in events(client, pid)
                if e["kind"] == "transition" and e["from_state"] == "decision_bureau"
            ]
        )
        == 1
    )


def test_many_writers_never_see_a_locked_database(client: Any) -> None:
    writers, rounds = 4, 25
    pids = [create_project(client, name=f"Régie {i}")["id"] for i in range(writers)]

    def work(i: int) -> list[int]:
        pid = pids[i]
        codes = []
        for n in range(rounds):
            if n % 3 == 0:
                r = client.patch(f"/api/v1/projects/{pid}", json={"association_name": f"Asso {n}"})
            elif n % 3 == 1:
                r = client.post(
                    f"/api/v1/projects/{pid}/stakeholders",
                    json={"name": f"Partie {n}", "college": "habitants"},
                )
            else:
                r = client.get(f"/api/v1/projects/{pid}")
            codes.append(r.status_code)
        return codes

    results = _race(writers, work)
    for codes in results:
        assert set(codes) <= {200, 201}, codes
    for pid in pids:
        project = client.get(f"/api/v1/projects/{pid}").json()
        stakeholders = client.get(f"/api/v1/projects/{pid}/stakeholders").json()
        assert len(stakeholders) == len(range(1, rounds, 3))
        writes = len(range(0, rounds, 3)) + len(range(1, rounds, 3))
        assert project["version"] == 1 + writes
        assert len(events(client, pid)) == 1 + writes


def test_concurrent_writes_on_one_project_are_all_kept(client: Any) -> None:
    pid = create_project(client)["id"]
    writers = 6
    responses = _race(
        writers,
        lambda i: client.post(
            f"/api/v1/projects/{pid}/stakeholders",
            json={"name": f"Partie {i}", "college": "collectivite"},
        ),
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert project["version"] == 1 + writers
    assert sorted(r.headers["ETag"] for r in responses) == sorted(
        f'"{v}"' for v in range(2, 2 + writers)
    )
    assert len(events(client, pid)) == 1 + writers


def test_concurrent_stale_if_match_writers(client: Any) -> None:
    pid = create_project(client)["id"]
    responses = _race(
        5,
        lambda i: client.patch(
            f"/api/v1/projects/{pid}",
            json={"association_name": f"Nom {i}"},
            headers={"If-Match": '"1"'},
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 412, 412, 412, 412], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert project["association_name"] == winner["association_name"]
    assert project["version"] == 2
    assert [e["kind"] for e in events(client, pid)] == ["creation", "modification"]
