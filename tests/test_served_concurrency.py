"""A crowd against the served process: `labelflow serve` (uvicorn, its thread pool, its
connection pool) on the test database, many clients firing the same transition at once.

Exactly one wins; every other one is told why (409, 412) or to come back later (503, with
`Retry-After`); none gets a 500, whatever the database.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from labelflow.models import User
from labelflow.settings import Settings
from labelflow.web import errors
from labelflow.web.limits import Edge
from tests.conftest import token_for
from tests.factories import complete_groupe_projet, create_project, events
from tests.serving import LABELFLOW, free_port, running

# Every request and every wait is bounded: a stuck server fails the test, never hangs it.
REQUEST_TIMEOUT = 60.0
CROWD_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def served(database_url: str, db: Engine, settings: Settings) -> Iterator[str]:
    """`labelflow serve` in a subprocess, on the suite's (already migrated) database."""
    port = free_port()
    env = {
        **os.environ,
        "LABELFLOW_DATABASE_URL": database_url,
        "LABELFLOW_DATA_DIR": str(settings.data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
    }
    log_path = Path(settings.data_dir) / f"serve-{port}.log"
    argv = [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(argv, port=port, env=env, log_path=log_path) as base:
        yield base
    errors = [line for line in log_path.read_text().splitlines() if "500 Internal" in line]
    assert not errors, errors


def _crowd(n: int, base: str, path: str, headers: dict[str, str], body: Any) -> list[Any]:
    """POST `body` from `n` threads released together; each gets a response or an exception."""
    barrier = threading.Barrier(n, timeout=CROWD_TIMEOUT)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT) as http:
                barrier.wait()
                results[i] = http.post(path, json=body)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + CROWD_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "some requests never finished"
    return results


@pytest.mark.parametrize("crowd", [50, 200])
def test_a_crowd_of_identical_transitions_gets_one_winner_and_no_error(
    served: str, db: Engine, staff_user: User, crowd: int
) -> None:
    headers = {"Authorization": f"Bearer {token_for(db, staff_user)}"}
    with httpx.Client(base_url=served, headers=headers, timeout=REQUEST_TIMEOUT) as api:
        project = create_project(api)
        pid = project["id"]
        complete_groupe_projet(api, project)

        results = _crowd(
            crowd,
            served,
            f"/api/v1/projects/{pid}/transitions",
            headers,
            {"action": "lancer_faisabilite"},
        )

        failures = [r for r in results if not isinstance(r, httpx.Response)]
        assert not failures, failures[:5]
        statuses = sorted(r.status_code for r in results)
        assert statuses.count(200) == 1, statuses
        assert set(statuses) <= {200, 409, 412, 503}, [
            r.text for r in results if r.status_code not in (200, 409, 412, 503)
        ][:5]
        for refused in (r for r in results if r.status_code == 503):
            assert refused.json()["error"]["code"] == "service_sature"
            assert int(refused.headers["Retry-After"]) >= 1
        transitions = [e for e in events(api, pid) if e["kind"] == "transition"]
        assert len(transitions) == 1
        assert api.get(f"/api/v1/projects/{pid}").json()["state"] == "faisabilite"


# --- the pieces, in process -------------------------------------------------------------------


def test_a_request_beyond_the_slots_is_told_to_come_back_later() -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        entered, release = asyncio.Event(), asyncio.Event()

        async def slow(scope: Scope, receive: Receive, send: Send) -> None:
            entered.set()
            await release.wait()
            await PlainTextResponse("fait")(scope, receive, send)

        gate = Edge(slow, slots=1, wait_seconds=0, max_bytes=1024)
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://labelflow") as http:
            first = asyncio.create_task(http.get("/api/v1/projects"))
            await entered.wait()
            api = await http.get("/api/v1/projects")
            page = await http.get("/projects")
            release.set()
            return await first, api, page

    first, api, page = asyncio.run(scenario())
    assert (first.status_code, first.text) == (200, "fait")
    assert api.status_code == 503 and api.json()["error"]["code"] == "service_sature"
    assert "saturé" in api.json()["error"]["message"]
    assert page.status_code == 503 and "saturé" in page.text
    assert int(api.headers["Retry-After"]) >= 1 and int(page.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (
            OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")),
            503,
        ),
        (PoolTimeout("QueuePool limit of size 20 overflow 20 reached"), 503),
        (OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error")), 500),
    ],
)
def test_saturation_that_escapes_the_gate_is_a_503_not_a_500(
    raised: Exception, status: int
) -> None:
    from fastapi.testclient import TestClient

    app = FastAPI()
    errors.install(app)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise raised

    with TestClient(app, raise_server_exceptions=False) as http:
        response = http.get("/api/v1/boom")
    assert response.status_code == status, response.text
    if status == 503:
        assert response.json()["error"]["code"] == "service_sature"
        assert response.headers["Retry-After"]
