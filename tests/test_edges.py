"""Bad input at the edges, against a real served process (`labelflow serve`, uvicorn): oversized
headers, too long an address, malformed JSON, slow clients. Each gets a 4xx (or is simply
left waiting) and the server keeps serving everybody else."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labelflow.french import typeset
from tests.serving import LABELFLOW, free_port, running

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("edges")
    port = free_port()
    env = {
        **os.environ,
        "LABELFLOW_DATABASE_URL": f"sqlite:///{data / 'edges.db'}",
        "LABELFLOW_DATA_DIR": str(data),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
    }
    log_path = Path(data) / "serve.log"
    argv = [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(argv, port=port, env=env, log_path=log_path) as base:
        yield base
    assert "500 Internal" not in log_path.read_text(errors="replace")


def _raw(base: str, request: bytes) -> bytes:
    """Send `request` as is on a new connection; what the server answered: its head and as
    much of its body as its content-length announces (the body may come in a later segment)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        answer = b""
        while not _complete(answer):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def _still_serving(base: str) -> None:
    assert httpx.get(base + "/healthz", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"X-Grand": "a" * 1_000_000}, {f"X-En-Tete-{i}": "a" for i in range(500)}],
    ids=["one-huge-header", "many-headers"],
)
def test_oversized_headers_get_a_431(served: str, headers: dict[str, str]) -> None:
    response = httpx.get(served + "/api/v1/me", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 431
    assert response.json()["error"] == {
        "code": "en_tetes_trop_volumineux",
        "message": typeset("Les en-têtes de la requête sont trop nombreux ou trop volumineux."),
    }
    page = httpx.get(served + "/projects", headers=headers, timeout=TIMEOUT)
    assert page.status_code == 431 and "lang=fr" in page.text
    _still_serving(served)


def test_a_huge_query_string_gets_a_414(served: str) -> None:
    # Written on the socket directly: client libraries refuse such addresses themselves.
    def get(target: bytes) -> bytes:
        return _raw(served, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    answer = get(b"/api/v1/projects?q=" + b"a" * 50_000)
    assert answer.startswith(b"HTTP/1.1 414"), answer[:200]
    assert (
        "L’adresse demandée est trop longue.".encode() in answer or b"adresse_trop_longue" in answer
    )
    # A megabyte: the HTTP parser itself gives up first (uvicorn's plain 400), still a 4xx.
    assert get(b"/api/v1/projects?q=" + b"a" * 1_000_000).startswith(b"HTTP/1.1 4")
    within = httpx.get(served + "/api/v1/projects", params={"q": "a" * 4000}, timeout=TIMEOUT)
    assert within.status_code == 401  # within bounds: on to the authentication
    _still_serving(served)


@pytest.mark.parametrize(
    "body",
    [b'{"email": ', b"\xff\xfe{}", b"[" * 100_000, b'{"email": "a@b.fr"}' * 1000],
    ids=["truncated", "not-utf8", "deeply-nested", "trailing-garbage"],
)
def test_malformed_json_gets_a_422(served: str, body: bytes) -> None:
    response = httpx.post(
        served + "/api/v1/auth/password-reset",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "requete_invalide"
    _still_serving(served)


def test_slow_clients_do_not_keep_others_waiting(served: str) -> None:
    """Slowloris: many connections that send their headers a byte at a time, for a bounded
    time; meanwhile ordinary requests are answered at once."""
    host, port = served.removeprefix("http://").split(":")
    slow: list[socket.socket] = []
    for _ in range(150):
        sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    stop = threading.Event()

    def dribble() -> None:
        while not stop.is_set():
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")
            stop.wait(0.5)

    dribbler = threading.Thread(target=dribble, daemon=True)
    dribbler.start()
    try:
        slowest = 0.0
        with httpx.Client(base_url=served, timeout=TIMEOUT) as http:
            for _ in range(20):
                started = time.monotonic()
                assert http.get("/healthz").status_code == 200
                assert http.get("/api/v1/me").status_code == 401
                slowest = max(slowest, time.monotonic() - started)
        # Generous on a shared machine; a server blocked by the slow clients would time out.
        assert slowest < 10.0
    finally:
        stop.set()
        dribbler.join(timeout=TIMEOUT)
        for sock in slow:
            sock.close()
    _still_serving(served)
