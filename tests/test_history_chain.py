"""The history's hash chain: every fact sealed to the previous one of its project, a row edited
or removed in the database found by `labelflow history verify` and shown to staff on the page,
concurrent facts on one project never forking the chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from labelflow import chain, cli
from labelflow.db import transaction
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.factories import (
    add_stakeholder,
    attest,
    complete_groupe_projet,
    create_project,
    events,
)


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> int:
    monkeypatch.setenv("LABELFLOW_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LABELFLOW_DATABASE_URL", settings.resolved_database_url)
    return cli.main(list(args))


def _verify(db: Engine) -> chain.Report:
    with transaction(db, write=False) as session:
        return chain.verify(session)


def _chain_rows(db: Engine, pid: int) -> list[Any]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, previous_sha256, sha256 FROM events WHERE project_id = :p "
                    "ORDER BY id"
                ),
                {"p": pid},
            )
        )


def test_each_fact_is_sealed_to_the_previous_one_of_its_project(client: Any, db: Engine) -> None:
    first = create_project(client)["id"]
    second = create_project(client, name="Régie du Val")["id"]
    complete_groupe_projet(client, client.get(f"/api/v1/projects/{first}").json())
    add_stakeholder(client, second, "habitants")

    for pid in (first, second):
        rows = _chain_rows(db, pid)
        assert len(rows) == len(events(client, pid)) >= 2
        assert rows[0].previous_sha256 is None
        # Each link names the digest of the one before it, in the order recorded.
        assert [r.previous_sha256 for r in rows[1:]] == [r.sha256 for r in rows[:-1]]
        assert all(len(r.sha256) == 64 for r in rows)
    report = _verify(db)
    assert report.breaks == []
    # Both projects' chains, and the facts without a project (the accounts created).
    assert report.chains >= 2


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("UPDATE events SET comment = 'réécrit' WHERE id = :id", "contenu a été modifié"),
        ("UPDATE events SET at = at + interval '1 day' WHERE id = :id", "contenu a été modifié"),
        ("DELETE FROM events WHERE id = :id", "supprimé, remplacé ou inséré"),
    ],
    ids=["comment", "date", "deleted"],
)
def test_a_row_edited_in_the_database_is_named_by_history_verify(
    client: Any,
    db: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tamper: str,
    reason: str,
) -> None:
    pid = create_project(client)["id"]
    intact = create_project(client, name="Régie intacte")["id"]
    for college in ("habitants", "collectivite", "bailleur"):
        add_stakeholder(client, pid, college)
    add_stakeholder(client, intact, "habitants")
    assert _run(monkeypatch, settings, "history", "verify") == 0
    assert "Historique vérifié" in capsys.readouterr().out

    rows = _chain_rows(db, pid)
    target = rows[2].id
    if db.dialect.name == "sqlite":
        tamper = tamper.replace("at + interval '1 day'", "datetime(at, '+1 day')")
    with db.begin() as conn:
        conn.execute(text(tamper), {"id": target})

    assert _run(monkeypatch, settings, "history", "verify") == 1
    out, err = capsys.readouterr()
    # A deleted fact breaks the chain at the one that followed it.
    broken = rows[3].id if tamper.startswith("DELETE") else target
    assert out.splitlines() == [f"projet {pid} · fait {broken} : " + out.split(" : ", 1)[1].strip()]
    assert reason in out
    assert "Historique altéré : 1 chaîne rompue" in err
    (only,) = _verify(db).breaks
    assert (only.project_id, only.event_id) == (pid, broken)


def test_staff_read_historique_vérifié_on_the_project_page_and_altéré_once_edited(
    client: Any, db: Engine, client_as: Callable[[Any], Any]
) -> None:
    pid = create_project(client)["id"]
    add_stakeholder(client, pid, "habitants")
    page = client.get(f"/projects/{pid}").text
    assert "Historique vérifié" in page and "Historique altéré" not in page

    porteur = make_user(db, role="porteur", name="Awa Diallo")
    client.post(f"/api/v1/projects/{pid}/members", json={"user_id": porteur.id})
    assert "Historique vérifié" not in client_as(porteur).get(f"/projects/{pid}").text

    first = _chain_rows(db, pid)[0].id
    with db.begin() as conn:
        conn.execute(
            text("UPDATE events SET actor = 'Quelqu''un d''autre' WHERE id = :id"), {"id": first}
        )
    # The next fact moves the head: the page verifies the chain again and finds the edit.
    attest(client, pid, "visite_regie")
    page = client.get(f"/projects/{pid}").text
    assert "Historique altéré" in page and f"le fait n° {first}" in page
    assert "Historique vérifié" not in page


def test_concurrent_facts_on_one_project_never_fork_its_chain(client: Any, db: Engine) -> None:
    """Records and messages added at once by several colleagues (no If-Match: all of them
    succeed) and two transitions racing: each fact is linked to a different predecessor."""
    project = create_project(client)
    pid = project["id"]
    complete_groupe_projet(client, project)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def post(i: int) -> None:
        barrier.wait()
        if i < 2:
            response = client.post(
                f"/api/v1/projects/{pid}/transitions", json={"action": "lancer_faisabilite"}
            )
        elif i < 5:
            response = client.post(
                f"/api/v1/projects/{pid}/stakeholders",
                json={"name": f"Collectif {i}", "college": "habitants"},
            )
        else:
            # A message leaves the project row alone: only the chain's lock orders them.
            response = client.post(
                f"/api/v1/projects/{pid}/messages",
                json={"body": f"Note {i}", "audience": "interne"},
            )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses).count(201) == 6, statuses
    # A transition relies on the version it read: records added meanwhile may make both lose.
    assert statuses.count(200) <= 1 and set(statuses) <= {200, 201, 409}, statuses

    rows = _chain_rows(db, pid)
    previous = [r.previous_sha256 for r in rows]
    assert len(set(previous)) == len(previous)
    assert [r.previous_sha256 for r in rows[1:]] == [r.sha256 for r in rows[:-1]]
    assert _verify(db).breaks == []
