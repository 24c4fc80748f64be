"""The per-process caches (`labelflow.cache`): a value computed under tokens that the facts
change, and the check mode under which the whole suite runs (every hit computed again)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from labelflow.cache import StaleCache
from labelflow.models import StepPass
from tests.factories import create_project, walk_to


def test_check_mode_catches_a_change_that_bypasses_the_token(client: Any, db: Engine) -> None:
    project = walk_to(client, create_project(client), "faisabilite")
    first = client.get("/api/v1/stats/network")
    assert first.status_code == 200
    assert client.get("/api/v1/stats/network").json() == first.json()  # a hit, checked
    # A write that no fact makes: the figures' token stays, the cached figures are now wrong.
    with db.begin() as conn:
        conn.execute(sa.delete(StepPass).where(col(StepPass.project_id) == project["id"]))
    with pytest.raises(StaleCache):
        client.get("/api/v1/stats/network")
