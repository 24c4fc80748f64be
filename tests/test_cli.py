"""The `labelflow` command, run as a user runs it: in a subprocess, with its exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from labelflow.settings import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / "workflows"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LABELFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "labelflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=PROJECT_ROOT,
    )


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {
        "LABELFLOW_DATA_DIR": str(tmp_path / "data"),
        "LABELFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


@pytest.fixture
def broken_workflows(tmp_path: Path) -> Path:
    directory = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, directory)
    path = directory / "regie-de-quartier.yaml"
    text = path.read_text(encoding="utf-8")
    assert "{kind: governance}" in text
    path.write_text(text.replace("{kind: governance}", "{kind: gouvernance}"), encoding="utf-8")
    return directory


def test_workflow_check_lists_the_shipped_definitions() -> None:
    result = run("workflow", "check", "--dir", str(WORKFLOWS))
    assert result.returncode == 0, result.stderr
    assert "regie-de-quartier v1 : 9 états, 9 actions" in result.stdout
    assert "regie-de-territoire v1 : 9 états, 9 actions" in result.stdout


def test_workflow_check_names_the_broken_file_and_entry(broken_workflows: Path) -> None:
    result = run("workflow", "check", "--dir", str(broken_workflows))
    assert result.returncode == 2
    assert "regie-de-quartier.yaml" in result.stderr
    assert "actions[3] (demander_expertise)" in result.stderr
    assert "gouvernance" in result.stderr
    assert "Traceback" not in result.stderr


def test_workflow_diagram_prints_mermaid() -> None:
    result = run("workflow", "diagram", "regie-de-quartier")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stateDiagram-v2\n")
    assert "decision_bureau --> labellisee: Attribuer le label" in result.stdout


def test_workflow_diagram_of_an_unknown_key() -> None:
    result = run("workflow", "diagram", "regie-de-village")
    assert result.returncode == 2
    assert "Parcours « regie-de-village » inconnu" in result.stderr
    assert "regie-de-quartier" in result.stderr


def test_db_upgrade_creates_the_tables(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    result = run("db", "upgrade", env=sqlite_env)
    assert result.returncode == 0, result.stderr
    assert "Base de données à jour" in result.stdout
    engine = create_engine(sqlite_env["LABELFLOW_DATABASE_URL"])
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"projects", "events", "documents", "deadlines", "alembic_version"} <= tables


def test_demo_loads_once(sqlite_env: dict[str, str]) -> None:
    first = run("demo", "--projects", "12", env=sqlite_env)
    assert first.returncode == 0, first.stderr
    assert "12 projets" in first.stdout
    again = run("demo", env=sqlite_env)
    assert again.returncode == 1
    assert "contient déjà 12 projet(s)" in again.stderr


def test_serve_refuses_a_broken_workflow(
    sqlite_env: dict[str, str], broken_workflows: Path
) -> None:
    env = {**sqlite_env, "LABELFLOW_WORKFLOWS_DIR": str(broken_workflows)}
    result = run("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "regie-de-quartier.yaml" in result.stderr
    assert "actions[3] (demander_expertise)" in result.stderr
    assert "Traceback" not in result.stderr
