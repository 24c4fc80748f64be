"""A real server process killed (SIGKILL) in the middle of a 30 MB upload: no row, no file in the
store, and `labelflow storage check` clean after a restart.

Two moments: while the body is still arriving, and once the file is staged and being checked
(an antivirus that takes the file and never answers holds the request there)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from labelflow.models import Document
from tests.conftest import make_user, token_for
from tests.factories import QUARTIER
from tests.serving import LABELFLOW, free_port, running

MIB = 1024 * 1024
SIZE = 30 * MIB


def _pdf(size: int) -> bytes:
    head, tail = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\ntrailer\n<< >>\n%%EOF\n"
    filler = os.urandom(1024) * ((size - len(head) - len(tail)) // 1024 + 1)
    return head + filler[: size - len(head) - len(tail)] + tail


class SilentAntivirus:
    """A clamd that reads the whole INSTREAM and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = 0
        self.got_all = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.2)
            with conn:
                while not self.stop.is_set():
                    try:
                        data = conn.recv(MIB)
                    except TimeoutError:
                        continue
                    if not data:
                        break
                    self.received += len(data)
                    # INSTREAM ends with a zero-length chunk.
                    if self.received >= SIZE and data.endswith(b"\x00\x00\x00\x00"):
                        self.got_all.set()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def antivirus() -> Iterator[SilentAntivirus]:
    av = SilentAntivirus()
    yield av
    av.close()


def _env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABELFLOW_DATABASE_URL": database_url,
        "LABELFLOW_DATA_DIR": str(data_dir),
        "LABELFLOW_ENVIRONMENT": "test",
        "LABELFLOW_WORKER": "false",
        "LABELFLOW_MAX_UPLOAD_BYTES": str(64 * MIB),
        **extra,
    }


def _start(env: dict[str, str], port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(log.read_text(errors="replace"))
        time.sleep(0.1)


def _upload_head(port: int, pid: int, token: str, boundary: str) -> tuple[bytes, bytes, bytes]:
    preamble = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="type"\r\n\r\nautre\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="gros.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    closing = f"\r\n--{boundary}--\r\n".encode()
    length = len(preamble) + SIZE + len(closing)
    head = (
        f"POST /api/v1/projects/{pid}/documents HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    return head, preamble, closing


def _store_files(data_dir: Path) -> list[Path]:
    """The files of the store a reader could be served (the staging folder aside)."""
    root = data_dir / "documents"
    return [p for p in root.rglob("*") if p.is_file() and "tmp" not in p.parts]


@pytest.mark.parametrize("moment", ["envoi", "verification"])
def test_a_server_killed_mid_upload_leaves_no_row_and_no_file(
    moment: str,
    database_url: str,
    db: Engine,
    anonymous: Any,
    antivirus: SilentAntivirus,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _env(database_url, data_dir, LABELFLOW_CLAMD_ADDRESS=antivirus.address)
    token = token_for(db, make_user(db, role="staff", is_admin=True))
    auth = {"Authorization": f"Bearer {token}"}
    port = free_port()
    process, base = _start(env, port, tmp_path / "serve-1.log")
    try:
        created = httpx.post(f"{base}/api/v1/projects", json=QUARTIER, headers=auth, timeout=30)
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        content = _pdf(SIZE)
        head, preamble, closing = _upload_head(port, pid, token, uuid.uuid4().hex)
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(head + preamble)
            if moment == "envoi":
                # 12 of 30 MB sent: more than the sockets' buffers hold, so the server is
                # reading the body when it dies.
                conn.sendall(content[: 12 * MIB])
            else:
                conn.sendall(content + closing)
                # Staged whole, handed to the antivirus, which keeps it waiting.
                assert antivirus.got_all.wait(60), "the upload never reached the antivirus"
                staged = list((data_dir / "documents" / "tmp").glob("upload-*"))
                assert [p.stat().st_size for p in staged] == [SIZE]
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL

    # Nothing recorded, nothing in the store.
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    assert _store_files(data_dir) == []

    # After a restart: no document listed, and the store checks clean.
    restart = _env(database_url, data_dir)
    port = free_port()
    with running(
        [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        env=restart,
        log_path=tmp_path / "serve-2.log",
    ) as base:
        listed = httpx.get(f"{base}/api/v1/projects/{pid}/documents", headers=auth, timeout=30)
        assert (listed.status_code, listed.json()) == (200, [])
    check = subprocess.run(
        [LABELFLOW, "storage", "check"], env=restart, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Stockage cohérent" in check.stdout
    # What a dead process left half-received is only in the staging folder; gc removes it.
    gc = subprocess.run(
        [LABELFLOW, "storage", "gc", "--older-than", "0"],
        env=restart,
        capture_output=True,
        text=True,
        check=False,
    )
    assert gc.returncode == 0, gc.stderr
    assert list((data_dir / "documents" / "tmp").glob("upload-*")) == []
