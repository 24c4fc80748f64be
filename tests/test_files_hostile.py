"""Hostile and careless files, made by the tests: each refused (or accepted) as §10 says, by its
content, with a French reason, and nothing kept when refused (no row, no file)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import Engine

from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.web.app import create_app
from tests import corpus
from tests.conftest import empty_database, make_user, token_for
from tests.factories import create_project, snapshot

# The limit in production (50 MB): the 20,000-entry archive alone is about 2 MB.
BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def big_settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("hostile"),
        database_url=database_url,
        workflows_dir=PROJECT_ROOT / "workflows",
        max_upload_bytes=BIG,
    )


@pytest.fixture(scope="module")
def big_app(big_settings: Settings, db: Engine) -> Any:
    return create_app(big_settings, db=db)


@pytest.fixture
def big(big_app: Any, big_settings: Settings, db: Engine) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(big_app) as client:
        user = make_user(db, role="staff", is_admin=True)
        client.headers["Authorization"] = f"Bearer {token_for(db, user)}"
        yield client
    empty_database(db, big_settings)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _post(client: Any, pid: int, content: bytes, filename: str, media_type: str) -> Any:
    if any(ord(c) < 32 for c in filename):
        # httpx writes a control character as "%00": send the raw bytes, as an attacker would.
        boundary = "limite-de-test"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nautre\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return client.post(
            f"/api/v1/projects/{pid}/documents",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    return client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "autre"},
        files={"file": (filename, content, media_type)},
    )


HOSTILE = {
    "zip bomb": (corpus.zip_bomb, "rapport.docx", 415, "volume anormalement grand"),
    "../../evil.txt": (corpus.zip_slip, "statuts.docx", 415, "chemin interne dangereux"),
    "20 000 entries": (corpus.zip_many, "statuts.docx", 415, "plus de 1 000 fichiers"),
    "symbolic link": (corpus.zip_symlink, "statuts.docx", 415, "lien symbolique"),
    "HTML as .pdf": (lambda: corpus.HTML, "facture.pdf", 415, "balisage"),
    "SVG as .png": (lambda: corpus.SVG, "logo.png", 415, "balisage"),
    "XML": (lambda: corpus.XML, "donnees.txt", 415, "balisage"),
    "shell script": (lambda: corpus.SCRIPT, "note.txt", 415, "script"),
    "truncated PDF": (corpus.truncated_pdf, "etude.pdf", 415, "incomplet"),
    "Windows executable": (lambda: corpus.EXE, "statuts.pdf", 415, "n'est pas accepté"),
    "ELF executable": (lambda: corpus.ELF, "statuts.pdf", 415, "n'est pas accepté"),
    "Latin-1 text": (lambda: "Réunion".encode("latin-1"), "cr.txt", 415, "n'est pas accepté"),
    "text with NUL": (lambda: b"abc\x00def", "cr.txt", 415, "n'est pas accepté"),
    "plain zip": (lambda: corpus._zip([("a.txt", b"x")]), "a.docx", 415, "n'est pas accepté"),
    "empty": (lambda: b"", "vide.pdf", 422, "Le fichier est vide."),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_file_is_refused_and_nothing_kept(
    big: Any, big_settings: Settings, case: str
) -> None:
    make, filename, status, reason = HOSTILE[case]
    pid = create_project(big)["id"]
    before = snapshot(big, pid)
    response = _post(big, pid, make(), filename, "application/pdf")
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error["message"]
    assert snapshot(big, pid) == before
    assert _files(big_settings.resolved_documents_dir) == []


@pytest.mark.parametrize("name", corpus.GOOD, ids=list(corpus.GOOD))
def test_good_file_is_accepted_with_its_type(big: Any, name: str) -> None:
    content, media_type = corpus.GOOD[name]
    pid = create_project(big)["id"]
    # The client's claim is ignored either way.
    response = _post(big, pid, content, name, "application/octet-stream")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["media_type"] == media_type
    download = big.get(document["download_url"])
    assert download.content == content
    assert download.headers["content-type"].startswith(media_type)


def test_pdf_named_docx_is_kept_as_a_pdf(big: Any) -> None:
    """The type comes from the content: a PDF called .docx is accepted, as a PDF."""
    pid = create_project(big)["id"]
    response = _post(big, pid, corpus.real_pdf(), "statuts.docx", "application/msword")
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == "application/pdf"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\win.pdf", "win.pdf"),
        ("note\x00.pdf", "note.pdf"),
        ("facture\u202efdp.pdf", "facturefdp.pdf"),
        ("\u2067nom\u2069 \t long.pdf", "nom long.pdf"),
        ("é" * 300 + ".pdf", "é" * 251 + ".pdf"),
        ("...", "document"),
    ],
)
def test_display_name_is_safe(big: Any, big_settings: Settings, given: str, shown: str) -> None:
    pid = create_project(big)["id"]
    response = _post(big, pid, corpus.real_pdf(), given, "application/pdf")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["filename"] == shown
    assert len(document["filename"]) <= 255
    # Never the user's name on disk: only the hash.
    stored = _files(big_settings.resolved_documents_dir)
    assert [p.name for p in stored] == [document["sha256"]]
    download = big.get(document["download_url"])
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    encoded = disposition.split("filename*=UTF-8''")[1]
    assert unquote(encoded) == shown
    assert "/" not in encoded and "\\" not in disposition.split(";")[1]


def test_download_headers(big: Any) -> None:
    pid = create_project(big)["id"]
    document = _post(big, pid, corpus.HTML.replace(b"<", b"&lt;"), "page.txt", "text/html").json()
    assert document["media_type"] == "text/plain"
    response = big.get(document["download_url"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"page.txt\"; filename*=UTF-8''page.txt"
    )
    # Pages keep their own policy.
    page = big.get("/healthz")
    assert "sandbox" not in page.headers["content-security-policy"]


# --- ClamAV, for real: Debian's clamd on loopback with a signature made here for EICAR --------

# The EICAR test string, split so that no scanner flags this source file.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD = Path("/usr/sbin/clamd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def clamd_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CLAMD.exists(), "clamd is missing: apt-get install clamav-daemon (make system-deps)"
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    sample = root / "eicar.com"
    sample.write_bytes(EICAR)
    signature = subprocess.run(
        ["sigtool", "--md5", str(sample)], check=True, capture_output=True, text=True
    ).stdout
    sample.unlink()
    (root / "db" / "test.hdb").write_text(signature)
    port = free_port()
    (root / "clamd.conf").write_text(
        f"Foreground yes\nDatabaseDirectory {root / 'db'}\nTCPSocket {port}\n"
        f"TCPAddr 127.0.0.1\nLogFile {root / 'clamd.log'}\nTemporaryDirectory {root}\n"
        "StreamMaxLength 100M\n"
    )
    process = subprocess.Popen(
        [str(CLAMD), "-c", str(root / "clamd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                    probe.sendall(b"zPING\0")
                    if probe.recv(16).startswith(b"PONG"):
                        break
            except OSError:
                pass
            assert process.poll() is None, (root / "clamd.log").read_text()
            assert time.monotonic() < deadline, "clamd did not start within 60 s"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _client_with(db: Engine, tmp: Path, database_url: str, clamd: str) -> tuple[Any, Settings]:
    from fastapi.testclient import TestClient

    settings = Settings(
        environment="test",
        data_dir=tmp,
        database_url=database_url,
        workflows_dir=PROJECT_ROOT / "workflows",
        clamd_address=clamd,
    )
    client = TestClient(create_app(settings, db=db))
    client.__enter__()
    client.headers["Authorization"] = f"Bearer {token_for(db, make_user(db, role='staff'))}"
    return client, settings


def test_clamav_refuses_eicar_and_accepts_a_clean_file(
    clamd_address: str, db: Engine, database_url: str, tmp_path: Path
) -> None:
    client, settings = _client_with(db, tmp_path, database_url, clamd_address)
    try:
        pid = create_project(client)["id"]
        before = snapshot(client, pid)
        response = _post(client, pid, EICAR, "note.txt", "text/plain")
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "fichier_infecte"
        assert "L'antivirus a détecté une menace" in error["message"]
        assert snapshot(client, pid) == before
        assert _files(settings.resolved_documents_dir) == []
        clean = _post(client, pid, corpus.real_pdf(), "etude.pdf", "application/pdf")
        assert clean.status_code == 201, clean.text
        # A hostile type is still refused before the scan.
        assert _post(client, pid, corpus.HTML, "a.pdf", "application/pdf").status_code == 415
    finally:
        client.__exit__(None, None, None)
        empty_database(db, settings)


@pytest.mark.parametrize("address", ["closed-port", "/nonexistent/clamd.ctl", "sans-port"])
def test_antivirus_unreachable_is_503_and_nothing_kept(
    db: Engine, database_url: str, tmp_path: Path, address: str
) -> None:
    if address == "closed-port":
        address = f"127.0.0.1:{free_port()}"
    client, settings = _client_with(db, tmp_path, database_url, address)
    try:
        pid = create_project(client)["id"]
        before = snapshot(client, pid)
        response = _post(client, pid, corpus.real_pdf(), "etude.pdf", "application/pdf")
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "antivirus_indisponible"
        assert "L'antivirus ne répond pas" in response.json()["error"]["message"]
        assert snapshot(client, pid) == before
        assert _files(settings.resolved_documents_dir) == []
    finally:
        client.__exit__(None, None, None)
        empty_database(db, settings)
