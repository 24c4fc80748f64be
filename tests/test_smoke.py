from typing import Any

from tests.factories import create_project, walk_to


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_walk_to_bureau(client: Any) -> None:
    project = create_project(client)
    project = walk_to(client, project, "decision_bureau")
    assert project["step"] == 6
