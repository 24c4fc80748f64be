"""A project stays on the definition version it started with."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from labelflow.db import transaction
from labelflow.models import WorkflowVersion
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app
from labelflow.workflow import WorkflowError
from tests.factories import create_project

SHIPPED = 3  # the version of the files in workflows/


def _copy_workflows(tmp_path: Path) -> Path:
    target = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", target)
    return target


def _drop_convention_amo(directory: Path, *, version: int) -> None:
    path = directory / "regie-de-quartier.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["version"] = version
    for action in data["actions"]:
        if action["key"] == "lancer_faisabilite":
            action["criteria"] = [
                c for c in action["criteria"] if c.get("code") != "convention_amo"
            ]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def forget_new_versions(db: Engine) -> Iterator[None]:
    yield
    with transaction(db) as session:
        session.exec(delete(WorkflowVersion).where(WorkflowVersion.version > SHIPPED))  # type: ignore[call-overload]


def _unmet_codes(project: dict[str, Any]) -> set[str]:
    return {u["code"] for a in project["actions"] for u in a["unmet"]}


def test_running_project_keeps_its_version(
    client: Any, settings: Settings, db: Engine, tmp_path: Path, forget_new_versions: None
) -> None:
    old = create_project(client)
    assert old["workflow_version"] == SHIPPED
    assert "attestation_convention_amo" in _unmet_codes(old)

    directory = _copy_workflows(tmp_path)
    _drop_convention_amo(directory, version=SHIPPED + 1)
    new_app = create_app(settings.model_copy(update={"workflows_dir": directory}), db=db)
    with TestClient(new_app, headers=dict(client.headers)) as new_client:
        new = create_project(new_client)
        assert new["workflow_version"] == SHIPPED + 1
        assert "attestation_convention_amo" not in _unmet_codes(new)
        # The project created on the shipped version is still evaluated with it.
        again = new_client.get(f"/api/v1/projects/{old['id']}").json()
        assert again["workflow_version"] == SHIPPED
        assert "attestation_convention_amo" in _unmet_codes(again)
        listed = new_client.get(f"/api/v1/workflows/regie-de-quartier?version={SHIPPED}").json()
        assert listed["version"] == SHIPPED


def test_changing_a_loaded_version_in_place_is_refused(
    client: Any, settings: Settings, db: Engine, tmp_path: Path
) -> None:
    directory = _copy_workflows(tmp_path)
    _drop_convention_amo(directory, version=SHIPPED)
    with pytest.raises(WorkflowError) as excinfo:
        create_app(settings.model_copy(update={"workflows_dir": directory}), db=db)
    assert "regie-de-quartier" in str(excinfo.value)
    assert "incrémentez" in str(excinfo.value)
