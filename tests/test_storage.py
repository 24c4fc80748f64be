"""The document store: the local folder and an S3-compatible server on loopback (moto's
threaded server), `labelflow storage check` and `labelflow storage gc`."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from labelflow import cli
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.storage import LocalStorage, S3Storage
from labelflow.web.app import create_app
from tests import corpus
from tests.conftest import empty_database, make_user, token_for
from tests.factories import PDF, create_project, snapshot, upload

BUCKET = "labelflow-test"


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> int:
    """The command line, in this process, on the test database and store."""
    monkeypatch.setenv("LABELFLOW_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LABELFLOW_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("LABELFLOW_STORAGE_URL", settings.storage_url)
    monkeypatch.setenv("LABELFLOW_S3_ENDPOINT_URL", settings.s3_endpoint_url)
    monkeypatch.setenv("LABELFLOW_S3_ACCESS_KEY", settings.s3_access_key)
    monkeypatch.setenv("LABELFLOW_S3_SECRET_KEY", settings.s3_secret_key)
    monkeypatch.setenv("LABELFLOW_S3_REGION", settings.s3_region)
    return cli.main(list(args))


def _age(path: Path, hours: float) -> None:
    old = time.time() - hours * 3600
    os.utime(path, (old, old))


def test_check_finds_a_corrupted_a_missing_and_an_orphan_file_and_gc_removes_the_orphan(
    client: Any,
    settings: Settings,
    docs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid = create_project(client)["id"]
    kept = upload(client, pid, "autre", content=corpus.TEXT, filename="a.txt")
    corrupted = upload(client, pid, "autre", content=corpus.CSV, filename="b.csv")
    missing = upload(client, pid, "autre", content=PDF, filename="c.pdf")
    store = LocalStorage(docs_dir)
    assert _run(monkeypatch, settings, "storage", "check") == 0
    assert "Stockage cohérent" in capsys.readouterr().out

    store.path_for(corrupted["sha256"]).write_bytes(b"nom;commune\nX;Y\n")
    store.path_for(missing["sha256"]).unlink()
    orphan = hashlib.sha256(b"orphelin").hexdigest()
    (docs_dir / orphan[:2]).mkdir(exist_ok=True)
    (docs_dir / orphan[:2] / orphan).write_bytes(b"orphelin")
    young = hashlib.sha256(b"jeune").hexdigest()
    (docs_dir / young[:2]).mkdir(exist_ok=True)
    (docs_dir / young[:2] / young).write_bytes(b"jeune")
    _age(docs_dir / orphan[:2] / orphan, 48)

    assert _run(monkeypatch, settings, "storage", "check") == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 4
    assert f"pièce {corrupted['id']} · sha256 {corrupted['sha256']} · contenu altéré" in out.out
    assert f"pièce {missing['id']} · sha256 {missing['sha256']} · fichier manquant" in lines
    assert f"aucune pièce · sha256 {orphan} · fichier orphelin" in out.out
    assert f"aucune pièce · sha256 {young} · fichier orphelin" in out.out
    assert "4 problèmes" in out.err

    # gc removes only the orphan older than the grace period (24 hours by default).
    assert _run(monkeypatch, settings, "storage", "gc") == 0
    assert f"supprimé : {orphan}" in capsys.readouterr().out
    assert not (docs_dir / orphan[:2] / orphan).exists()
    assert (docs_dir / young[:2] / young).exists()
    assert store.path_for(kept["sha256"]).read_bytes() == corpus.TEXT
    assert store.path_for(corrupted["sha256"]).exists()
    assert _run(monkeypatch, settings, "storage", "gc", "--older-than", "0") == 0
    assert not (docs_dir / young[:2] / young).exists()
    assert _run(monkeypatch, settings, "storage", "gc", "--older-than", "-1") == 2
    assert "positif" in capsys.readouterr().err


def test_gc_removes_staging_leftovers_of_a_dead_upload(
    client: Any, settings: Settings, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = create_project(client)["id"]
    upload(client, pid, "autre")
    leftover = docs_dir / "tmp" / "upload-abandonne"
    leftover.write_bytes(b"%PDF-1.4 a moitie")
    fresh = docs_dir / "tmp" / "upload-en-cours"
    fresh.write_bytes(b"%PDF-1.4 en cours")
    _age(leftover, 30)
    # Staging files are not documents: the check does not report them.
    assert _run(monkeypatch, settings, "storage", "check") == 0
    assert _run(monkeypatch, settings, "storage", "gc") == 0
    assert not leftover.exists() and fresh.exists()


def test_an_upload_refused_for_a_stale_version_keeps_nothing(
    client: Any,
    settings: Settings,
    docs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stale If-Match is refused before the file is staged: no row, no file, check clean."""
    pid = create_project(client)["id"]
    response = client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "autre"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
        headers={"If-Match": '"99"'},
    )
    assert response.status_code == 412
    assert client.get(f"/api/v1/projects/{pid}/documents").json() == []
    assert [p for p in docs_dir.rglob("*") if p.is_file()] == []
    assert _run(monkeypatch, settings, "storage", "check") == 0
    capsys.readouterr()


# --- S3, for real: moto's server on loopback ----------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path: Path, database_url: str) -> Iterator[Settings]:
    settings = Settings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        workflows_dir=PROJECT_ROOT / "workflows",
        max_upload_bytes=20 * 1024 * 1024,
        storage_url=f"s3://{BUCKET}/documents/",
        s3_endpoint_url=s3_endpoint,
        s3_access_key="test",
        s3_secret_key="test",
        s3_region="eu-west-3",
    )
    store = _s3(settings)
    store.client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    yield settings
    for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            store.client.delete_object(Bucket=BUCKET, Key=item["Key"])
    store.client.delete_bucket(Bucket=BUCKET)


def _s3(settings: Settings) -> S3Storage:
    return S3Storage(
        bucket=BUCKET,
        prefix="documents",
        staging_dir=settings.data_dir / "tmp",
        endpoint_url=settings.s3_endpoint_url,
        access_key="test",
        secret_key="test",
        region="eu-west-3",
    )


@pytest.fixture
def s3_client(s3_settings: Settings, db: Engine) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(create_app(s3_settings, db=db)) as client:
        user = make_user(db, role="staff", is_admin=True)
        client.headers["Authorization"] = f"Bearer {token_for(db, user)}"
        yield client
    empty_database(db, s3_settings)


def test_documents_in_an_s3_bucket(
    s3_client: Any,
    s3_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = s3_client
    store = _s3(s3_settings)
    pid = create_project(client)["id"]
    # Large enough for a multipart upload (8 MB parts) and a streamed download.
    big = corpus.TEXT * (6 * 1024 * 1024 // len(corpus.TEXT)) * 2
    document = upload(client, pid, "autre", content=big, filename="gros.txt")
    key = f"documents/{document['sha256'][:2]}/{document['sha256']}"
    head = store.client.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(big)
    response = client.get(document["download_url"])
    assert response.status_code == 200 and response.content == big
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["content-disposition"].startswith("attachment; ")
    # Nothing kept on the local disk but the (empty) staging folder.
    assert [p for p in s3_settings.data_dir.rglob("*") if p.is_file()] == []

    # A refusal stores nothing in the bucket either.
    before = snapshot(client, pid)
    refused = client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "autre"},
        files={"file": ("x.pdf", corpus.HTML, "application/pdf")},
    )
    assert refused.status_code == 415
    assert snapshot(client, pid) == before
    assert [o.sha256 for o in store.objects()] == [document["sha256"]]

    # check and gc, on the bucket.
    other = upload(client, pid, "autre", content=PDF, filename="c.pdf")
    assert _run(monkeypatch, s3_settings, "storage", "check") == 0
    store.delete(other["sha256"])
    orphan = hashlib.sha256(b"orphelin").hexdigest()
    store.client.put_object(Bucket=BUCKET, Key=f"documents/{orphan[:2]}/{orphan}", Body=b"x")
    capsys.readouterr()
    assert _run(monkeypatch, s3_settings, "storage", "check") == 1
    out = capsys.readouterr().out
    assert f"pièce {other['id']} · sha256 {other['sha256']} · fichier manquant" in out
    assert f"aucune pièce · sha256 {orphan} · fichier orphelin" in out
    assert _run(monkeypatch, s3_settings, "storage", "gc", "--older-than", "0") == 0
    assert {o.sha256 for o in store.objects()} == {document["sha256"]}
    # A missing object is a 404 in French, not a 500.
    missing = client.get(other["download_url"])
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        "Le fichier de cette pièce est introuvable sur le serveur."
    )
