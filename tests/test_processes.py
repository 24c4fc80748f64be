"""Several server processes on one database (DESIGN §12): `labelflow serve --workers N`, and
two `labelflow serve` side by side (two containers behind one proxy). A web session opened by
one process is honoured by the other, failed sign-ins counted by one lock the account on the
other, and the client address comes from a proxy's headers only when that proxy is trusted.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from labelflow.models import User
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.serving import LABELFLOW, free_port, running

PASSWORD = "un mot de passe assez long"


@pytest.fixture
def serve_env(database_url: str, settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "LABELFLOW_DATABASE_URL": database_url,
        "LABELFLOW_DATA_DIR": str(settings.data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
        "LABELFLOW_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
        "LABELFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS": "4",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def member(db: Engine, anonymous: object) -> User:
    return make_user(db, role="staff", name="Inès Vidal", password=PASSWORD)


def served(env: dict[str, str], log_dir: Path, *extra: str) -> tuple[ExitStack, list[str]]:
    """Start one `labelflow serve` per entry of `extra` (its own arguments)."""
    stack = ExitStack()
    bases = []
    for args in extra:
        port = free_port()
        argv = [LABELFLOW, "serve", "--port", str(port), *args.split()]
        log_path = log_dir / f"serve-{port}.log"
        bases.append(
            stack.enter_context(
                running(argv, port=port, env=env, log_path=log_path, ready_within=120)
            )
        )
    return stack, bases


def login_token(http: httpx.Client) -> str:
    page = http.get("/login")
    assert page.status_code == 200, page.text
    found = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(http: httpx.Client, email: str, password: str, **headers: str) -> httpx.Response:
    token = login_token(http)
    return http.post(
        "/login",
        data={"email": email, "password": password, "login_token": token, "next": "/"},
        headers=headers,
    )


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def serving_children(parent: int) -> list[int]:
    """uvicorn's server processes (spawned by multiprocessing), not its resource tracker."""
    found = []
    for pid in children(parent):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def server_pid(log_dir: Path) -> Iterator[int]:
    for log in log_dir.glob("serve-*.log"):
        for match in re.finditer(r"Started parent process \[(\d+)\]", log.read_text()):
            yield int(match.group(1))


def test_serve_workers_runs_that_many_processes_that_share_the_sessions(
    db: Engine, settings: Settings, member: User, serve_env: dict[str, str], tmp_path: Path
) -> None:
    stack, [base] = served(serve_env, tmp_path, "--workers 2")
    with stack:
        [parent] = server_pid(tmp_path)
        # The second process may still be starting (its own imports, its own app).
        deadline = time.monotonic() + 60
        while len(serving_children(parent)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(serving_children(parent)) == 2
        with httpx.Client(base_url=base, timeout=30) as http:
            assert sign_in(http, member.email, PASSWORD).status_code == 303
            cookies = dict(http.cookies)
        # Each request on a new connection: the two processes take them in turn from the
        # one listening socket, and each finds the session in the database.
        for _ in range(12):
            with httpx.Client(base_url=base, cookies=cookies, timeout=30) as fresh:
                assert fresh.get("/api/v1/me").status_code == 200


def test_workers_is_refused_outside_its_bounds(serve_env: dict[str, str]) -> None:
    import subprocess  # noqa: PLC0415

    result = subprocess.run(
        [LABELFLOW, "serve", "--workers", "0", "--port", "1"],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers : un nombre de processus entre 1 et 64." in result.stderr


def test_two_servers_share_sessions_and_sign_in_throttling(
    db: Engine, settings: Settings, member: User, serve_env: dict[str, str], tmp_path: Path
) -> None:
    stack, [one, two] = served(serve_env, tmp_path, "", "")
    with (
        stack,
        httpx.Client(base_url=one, timeout=30) as first,
        httpx.Client(base_url=two, timeout=30) as second,
    ):
        assert sign_in(first, member.email, PASSWORD).status_code == 303
        second.cookies.update(first.cookies)
        me = second.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["email"] == member.email
        # Signed out on the second: the first no longer knows the session either.
        logout = second.get("/account")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', logout.text)
        assert csrf, logout.text
        assert second.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
        first.cookies.clear()
        first.cookies.update(second.cookies)
        assert first.get("/api/v1/me").status_code == 401

        # Three failures on the first server lock the account on the second too.
        with httpx.Client(base_url=one, timeout=30) as again:
            for _ in range(3):
                assert sign_in(again, member.email, "pas le bon").status_code == 401
        with httpx.Client(base_url=two, timeout=30) as other:
            locked = sign_in(other, member.email, PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0


def test_the_client_address_comes_from_a_trusted_proxy_only(
    db: Engine, settings: Settings, serve_env: dict[str, str], tmp_path: Path
) -> None:
    """Behind a trusted proxy, each client's failures count against its own address; without
    one, a forged X-Forwarded-For changes nothing (every attempt is the connection's)."""
    trusting = {**serve_env, "LABELFLOW_TRUSTED_PROXIES": "127.0.0.1"}
    stack, [behind_proxy] = served(trusting, tmp_path, "")
    with stack, httpx.Client(base_url=behind_proxy, timeout=30) as http:
        # Four failures (the per-address limit) from 203.0.113.7, each on a new e-mail.
        for n in range(4):
            failed = sign_in(
                http, f"inconnu{n}@example.org", "x", **{"X-Forwarded-For": "203.0.113.7"}
            )
            assert failed.status_code == 401
        blocked = sign_in(http, "autre@example.org", "x", **{"X-Forwarded-For": "203.0.113.7"})
        assert blocked.status_code == 429
        # Another client behind the same proxy is not blocked.
        other = sign_in(http, "autre@example.org", "x", **{"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 401

    stack, [direct] = served(serve_env, tmp_path, "")
    with stack, httpx.Client(base_url=direct, timeout=30) as http:
        # Not trusted: the header is ignored, every attempt is 127.0.0.1's (none so far: the
        # ones above were counted against the proxied addresses).
        for n in range(4):
            forged = {"X-Forwarded-For": f"192.0.2.{n + 1}"}
            assert sign_in(http, f"direct{n}@example.org", "x", **forged).status_code == 401
        blocked = sign_in(http, "direct@example.org", "x", **{"X-Forwarded-For": "192.0.2.99"})
        assert blocked.status_code == 429
