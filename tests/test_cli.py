"""The `labelflow` command, run as a user runs it: in a subprocess, with its exit code."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect

from labelflow import accounts
from labelflow.db import make_engine, transaction
from labelflow.demo.team import DEMO_PASSWORD
from labelflow.models import User
from labelflow.settings import PROJECT_ROOT, Settings
from tests.serving import free_port

WORKFLOWS = PROJECT_ROOT / "workflows"
PASSWORD = "une phrase de passe solide"


def _env(env: dict[str, str] | None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LABELFLOW_")}
    return {**clean, **(env or {})}


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Standard input is empty unless `stdin` is given (never the terminal running the tests)."""
    return subprocess.run(
        [sys.executable, "-m", "labelflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(env),
        cwd=PROJECT_ROOT,
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
    )


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {
        "LABELFLOW_DATA_DIR": str(tmp_path / "data"),
        "LABELFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


@pytest.fixture
def cli_db(sqlite_env: dict[str, str]) -> Iterator[Engine]:
    """The CLI's database, seen from the test (after the command has migrated it)."""
    engine = make_engine(sqlite_env["LABELFLOW_DATABASE_URL"])
    yield engine
    engine.dispose()


def _sign_in(db: Engine, email: str, password: str) -> User | None:
    with transaction(db) as session:
        return accounts.authenticate(
            session, email=email, password=password, address="cli-test", settings=Settings()
        )


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
    assert "regie-de-quartier v3 : 9 états, 9 actions" in result.stdout
    assert "regie-de-territoire v3 : 9 états, 9 actions" in result.stdout


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
    assert "contient déjà 12 projets" in again.stderr
    listing = run("users", "list", env=sqlite_env)
    assert listing.returncode == 0, listing.stderr
    assert "camille.roussel@demo.labelflow.fr" in listing.stdout
    assert listing.stdout.count("Porteur de projet") == 12
    for label in ("Équipe nationale", "Consultant·e", "Membre du Bureau"):
        assert label in listing.stdout


def test_serve_refuses_a_broken_workflow(
    sqlite_env: dict[str, str], broken_workflows: Path
) -> None:
    env = {**sqlite_env, "LABELFLOW_WORKFLOWS_DIR": str(broken_workflows)}
    result = run("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "regie-de-quartier.yaml" in result.stderr
    assert "actions[3] (demander_expertise)" in result.stderr
    assert "Traceback" not in result.stderr


# --- accounts -----------------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(
    sqlite_env: dict[str, str], cli_db: Engine
) -> None:
    result = run(
        "users", "create", "Camille.Roussel@example.org", "--name", "Camille Roussel",
        "--role", "staff", "--admin", "--password-stdin",
        env=sqlite_env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Compte créé : Camille Roussel <camille.roussel@example.org>" in result.stdout
    assert "administrateur" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    user = _sign_in(cli_db, "camille.roussel@example.org", PASSWORD)
    assert user is not None and user.role == "staff" and user.is_admin
    # Piped without the option: read as well, never echoed.
    piped = run(
        "users", "create", "bureau@example.org", "--name", "Jeanne Morel", "--role", "bureau",
        env=sqlite_env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert PASSWORD not in piped.stdout and "Mot de passe" not in piped.stdout
    assert _sign_in(cli_db, "bureau@example.org", PASSWORD) is not None


def test_users_create_generates_a_password_shown_once(
    sqlite_env: dict[str, str], cli_db: Engine
) -> None:
    result = run(
        "users", "create", "helene@example.org", "--name", "Hélène Garnier",
        "--role", "consultant", env=sqlite_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = re.search(r"Mot de passe \(affiché une seule fois[^:]*: (\S+)\n", result.stdout)
    assert match, result.stdout
    password = match.group(1)
    assert len(password) >= 12
    assert (result.stdout + result.stderr).count(password) == 1
    user = _sign_in(cli_db, "helene@example.org", password)
    assert user is not None and user.role == "consultant" and not user.is_admin
    listing = run("users", "list", env=sqlite_env)
    assert listing.returncode == 0, listing.stderr
    assert "helene@example.org" in listing.stdout and "Consultant·e" in listing.stdout
    assert password not in listing.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["taken@example.org", "--role", "porteur"], None, "existe déjà"),
        (["new@example.org", "--role", "porteur", "--password-stdin"], "court\n", "12 caract"),
        (["new@example.org", "--role", "porteur", "--password-stdin"], "", "Aucun mot de passe"),
        (["new@example.org", "--role", "porteur", "--admin"], None, "administrateur"),
        (["pas-une-adresse", "--role", "porteur"], None, "Adresse e-mail invalide"),
    ],
)
def test_users_create_refuses_politely(
    sqlite_env: dict[str, str], args: list[str], stdin: str | None, message: str
) -> None:
    first = run("users", "create", "taken@example.org", "--name", "Déjà là", "--role", "porteur",
                env=sqlite_env)  # fmt: skip
    assert first.returncode == 0, first.stderr
    result = run("users", "create", *args, "--name", "Nouveau compte", env=sqlite_env, stdin=stdin)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "Compte créé" not in result.stdout


def test_tokens_create_prints_a_token_that_authenticates(
    sqlite_env: dict[str, str], cli_db: Engine, tmp_path: Path
) -> None:
    created = run("users", "create", "porteur@example.org", "--name", "Fatou Diallo",
                  "--role", "porteur", env=sqlite_env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    result = run("tokens", "create", "Porteur@Example.org", "--name", "export", env=sqlite_env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("lf_") and "\n" not in token
    assert "une seule fois" in result.stderr
    with transaction(cli_db, write=False) as session:
        found = accounts.find_token(session, raw_token=token)
    assert found is not None and found[0].email == "porteur@example.org"

    from fastapi.testclient import TestClient

    from labelflow.web.app import create_app

    settings = Settings(
        environment="test",
        data_dir=tmp_path / "app-data",
        database_url=sqlite_env["LABELFLOW_DATABASE_URL"],
    )
    with TestClient(create_app(settings, db=cli_db)) as http:
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "porteur@example.org"
        assert http.get("/api/v1/me").status_code == 401


def test_tokens_create_refuses_an_unknown_or_inactive_user(
    sqlite_env: dict[str, str], cli_db: Engine
) -> None:
    unknown = run("tokens", "create", "personne@example.org", "--name", "x", env=sqlite_env)
    assert unknown.returncode == 2
    assert "Aucun compte actif" in unknown.stderr and not unknown.stdout
    created = run("users", "create", "parti@example.org", "--name", "Ancien membre",
                  "--role", "staff", env=sqlite_env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    with transaction(cli_db) as session:
        user = accounts.get_user_by_email(session, "parti@example.org")
        assert user is not None
        user.active = False
        session.add(user)
    inactive = run("tokens", "create", "parti@example.org", "--name", "x", env=sqlite_env)
    assert inactive.returncode == 2
    assert "Aucun compte actif" in inactive.stderr and not inactive.stdout


# --- serve --------------------------------------------------------------------------------------


def test_serve_refuses_the_default_secret_in_production(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**sqlite_env, "LABELFLOW_ENVIRONMENT": "production"}
    started = time.monotonic()
    result = run("serve", "--port", "1", env=env)
    assert time.monotonic() - started < 15
    assert result.returncode == 2
    assert "LABELFLOW_SECRET_KEY doit être défini" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before touching the database
    demo = run("serve", "--demo", "--port", "1",
               env={**env, "LABELFLOW_SECRET_KEY": "x" * 40})  # fmt: skip
    assert demo.returncode == 2
    assert "mode démonstration" in demo.stderr
    assert not (tmp_path / "cli.db").exists()


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """What the process printed until `marker` (or the timeout, or its exit): a regression
    that never prints the marker fails the test instead of hanging it."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and reader.is_alive():
        if marker in "".join(lines):
            break
        time.sleep(0.1)
    return "".join(lines)


def _terminate(process: subprocess.Popen[Any]) -> bool:
    """SIGTERM, then SIGKILL after 30 s: whether SIGTERM alone was enough (never hangs)."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        return False
    return True


def test_serve_demo_prints_the_demo_logins(sqlite_env: dict[str, str], cli_db: Engine) -> None:
    port = free_port()
    env = _env({**sqlite_env, "PYTHONUNBUFFERED": "1"})
    with subprocess.Popen(
        [sys.executable, "-m", "labelflow.cli", "serve", "--demo", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    ) as process:
        try:
            output = _read_until(process, "Chaque projet de démonstration", timeout=180)
        finally:
            # SIGTERM at once, maybe before uvicorn has taken the signals over: it must stop
            # all the same (it once served on, and this test hung the CI until its limit).
            stopped = _terminate(process)
    assert stopped, "serve did not stop on SIGTERM sent right after its start"
    assert "Données de démonstration chargées : 12 projets." in output
    assert f"labelflow est disponible sur http://127.0.0.1:{port}" in output
    logins = dict(re.findall(r"^  (.+?)  +(\S+@demo\.labelflow\.fr) / ", output, re.M))
    labels = [label.strip() for label in logins]
    assert labels == [
        "Équipe nationale (admin)",
        "Consultant·e",
        "Porteur de projet",
        "Membre du Bureau",
        "Équipe régionale",
    ], output
    assert output.count(DEMO_PASSWORD) == 5
    for email in logins.values():
        assert _sign_in(cli_db, email, DEMO_PASSWORD) is not None, email


def _wait_for(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    """The unbuffered output until `marker` appears, read as soon as it is written (unlike
    `_read_until`, which looks every 0.1 s); stops at the timeout or at the process's exit."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    output = b""
    deadline = time.monotonic() + timeout
    while marker not in output and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            output += chunk
    return output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_stops_on_sigterm_sent_just_after_its_start(
    sqlite_env: dict[str, str], workers: str
) -> None:
    """A stop (docker stop, systemd, Ctrl+C) sent while the server is still starting ends it:
    the signal once landed between the worker's handler and uvicorn's, and the server served on
    (every time within 10 ms of « Tâches » on this machine)."""
    env = _env({**sqlite_env, "PYTHONUNBUFFERED": "1"})
    assert run("db", "upgrade", env=sqlite_env).returncode == 0
    for delay in (0.0, 0.003, 0.006, 0.012, 0.025):
        with subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labelflow.cli",
                "serve",
                "--port",
                str(free_port()),
                "--workers",
                workers,
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
            cwd=PROJECT_ROOT,
        ) as process:
            try:
                output = _wait_for(process, "Tâches".encode(), timeout=120)
                time.sleep(delay)
            finally:
                stopped = _terminate(process)
        assert "Tâches".encode() in output, output
        assert stopped, f"serve --workers {workers} served on after SIGTERM at +{delay * 1000:g} ms"
