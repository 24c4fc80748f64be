"""`labelflow backup DEST` while writes run, `labelflow restore SRC` into a new data folder and a
new database (SQLite, or a PostgreSQL database made for the test), compared with the source."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, inspect, make_url, select, text
from sqlmodel import SQLModel

from labelflow import backup, cli
from labelflow.db import make_engine
from labelflow.settings import Settings
from labelflow.storage import S3Storage
from tests.factories import create_project, upload
from tests.test_storage import BUCKET, s3_client, s3_endpoint, s3_settings
from tests.test_storage import _run as storage_run

KB = 1024
__all__ = ["s3_client", "s3_endpoint", "s3_settings"]  # fixtures of tests/test_storage.py


def _run(monkeypatch: pytest.MonkeyPatch, *args: str, data_dir: Path, database_url: str) -> int:
    """The command line, in this process, on the given data folder and database."""
    monkeypatch.setenv("LABELFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LABELFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("LABELFLOW_STORAGE_URL", "")
    monkeypatch.delenv("LABELFLOW_DOCUMENTS_DIR", raising=False)
    return cli.main(list(args))


def _text(n: int, size: int) -> bytes:
    line = f"Compte rendu n°{n} : réunion du groupe projet, présents {n % 40} habitants.\n"
    return (line * (size // len(line) + 1)).encode()[:size].rsplit(b"\n", 1)[0] + b"\n"


def _counts(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in SQLModel.metadata.sorted_tables
        }


def _documents(db: Engine) -> dict[int, tuple[str, str, int]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT id, sha256, filename, size FROM documents"))
        return {int(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in rows}


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.parent.name != "tmp"
    }


@pytest.fixture
def restore_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database for the restore: a SQLite file in a new folder, or a uniquely
    named PostgreSQL database, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'restored' / 'labelflow.db'}"
        return
    name = f"labelflow_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_while_writing_then_restore_into_a_new_folder_and_database(
    client: Any,
    db: Engine,
    settings: Settings,
    restore_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid = create_project(client)["id"]
    for n in range(24):
        upload(client, pid, "autre", content=_text(n, 600 * KB), filename=f"cr-{n}.txt")

    # A writer keeps adding projects and documents while the backup runs.
    stop = threading.Event()
    written = threading.Semaphore(0)
    errors: list[BaseException] = []

    def write() -> None:
        n = 1000
        try:
            while not stop.is_set():
                n += 1
                other = create_project(client, name=f"Régie pendant la sauvegarde {n}")
                upload(client, other["id"], "autre", content=_text(n, 40 * KB), filename="w.txt")
                written.release()
        except BaseException as exc:  # noqa: BLE001  (the test reports it)
            errors.append(exc)
            written.release()

    # Between the database's snapshot and the list of the files to copy, the writer commits two
    # more documents: the list must be the snapshot's (their rows are not in it), not the
    # live database's.
    referenced = backup._referenced

    def late_referenced(conn: Any) -> list[tuple[str, int]]:
        assert written.acquire(timeout=30) and written.acquire(timeout=30)
        return referenced(conn)

    monkeypatch.setattr(backup, "_referenced", late_referenced)
    dest = tmp_path / "sauvegarde"
    before = _counts(db)
    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert written.acquire(timeout=30)  # the writer is under way
        code = _run(
            monkeypatch,
            "backup",
            str(dest),
            data_dir=settings.data_dir,
            database_url=settings.resolved_database_url,
        )
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"Sauvegarde écrite dans {dest}" in out.out
    after = _counts(db)
    source_documents = _documents(db)

    # The manifest: the database dump and every document, each with its sha256 and size.
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["database"]["dialect"] == db.dialect.name
    for entry in manifest["files"]:
        content = (dest / entry["path"]).read_bytes()
        assert (hashlib.sha256(content).hexdigest(), len(content)) == (
            entry["sha256"],
            entry["size"],
        )

    # The destination must be new.
    assert (
        _run(
            monkeypatch,
            "backup",
            str(dest),
            data_dir=settings.data_dir,
            database_url=settings.resolved_database_url,
        )
        == 1
    )
    assert "existe déjà" in capsys.readouterr().err

    # Restored into a new data folder and a new database.
    restored_dir = tmp_path / "restored"
    assert (
        _run(monkeypatch, "restore", str(dest), data_dir=restored_dir, database_url=restore_url)
        == 0
    ), capsys.readouterr().err
    assert "restaurée" in capsys.readouterr().out
    restored = make_engine(restore_url)
    try:
        counts = _counts(restored)
        documents = _documents(restored)
    finally:
        restored.dispose()

    # The snapshot is one instant between the start and the end of the backup: every table
    # holds at least what it held before and at most what it held after; the documents are
    # exactly the source's first ones, and some written during the backup are not there.
    for table, count in counts.items():
        assert before[table] <= count <= after[table], table
    assert len(before) == len(counts)
    assert counts["documents"] > before["documents"]
    assert counts["documents"] < after["documents"]
    assert documents == {i: d for i, d in source_documents.items() if i <= max(documents)}

    # Every file, by hash: the restored store holds exactly the restored rows' files, as in
    # the source store and the manifest.
    restored_files = _tree_hashes(restored_dir / "documents")
    assert restored_files == {sha: sha for sha, _, _ in documents.values()}
    source_files = _tree_hashes(settings.resolved_documents_dir)
    assert all(source_files[name] == digest for name, digest in restored_files.items())
    assert (
        _run(monkeypatch, "storage", "check", data_dir=restored_dir, database_url=restore_url) == 0
    ), capsys.readouterr().out
    assert "Stockage cohérent" in capsys.readouterr().out

    # A second restore into the same (no longer empty) target is refused, nothing changed.
    assert (
        _run(monkeypatch, "restore", str(dest), data_dir=restored_dir, database_url=restore_url)
        == 1
    )
    assert "contient déjà des tables" in capsys.readouterr().err


def test_restore_verifies_the_manifest_first_and_refuses_a_non_empty_store(
    client: Any,
    db: Engine,
    settings: Settings,
    restore_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid = create_project(client)["id"]
    doc = upload(client, pid, "autre", content=_text(1, 10 * KB), filename="cr.txt")
    dest = tmp_path / "sauvegarde"
    source = {"data_dir": settings.data_dir, "database_url": settings.resolved_database_url}
    assert _run(monkeypatch, "backup", str(dest), **source) == 0
    capsys.readouterr()
    target = {"data_dir": tmp_path / "restored", "database_url": restore_url}

    def tables() -> list[str]:
        engine = make_engine(restore_url)
        try:
            with engine.connect() as conn:
                return list(inspect(conn).get_table_names())
        finally:
            engine.dispose()

    # A document altered in the backup: refused before anything is restored.
    tampered = tmp_path / "alteree"
    shutil.copytree(dest, tampered)
    sha = doc["sha256"]
    (tampered / "documents" / sha[:2] / sha).write_bytes(_text(2, 10 * KB))
    assert _run(monkeypatch, "restore", str(tampered), **target) == 1
    err = capsys.readouterr().err
    assert "Sauvegarde altérée, rien n'a été restauré" in err
    assert f"documents/{sha[:2]}/{sha} : contenu différent de celui du manifeste" in err
    assert tables() == []
    assert not (tmp_path / "restored" / "documents").exists()

    # A missing file, and a folder without its manifest (an unfinished backup).
    (tampered / "documents" / sha[:2] / sha).unlink()
    assert _run(monkeypatch, "restore", str(tampered), **target) == 1
    assert "fichier manquant" in capsys.readouterr().err
    (tampered / "manifest.json").unlink()
    assert _run(monkeypatch, "restore", str(tampered), **target) == 1
    assert "manifest.json manquant" in capsys.readouterr().err
    assert tables() == []

    # A store that already holds files is not a restore target either.
    stray = tmp_path / "restored" / "documents" / sha[:2] / sha
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"autre chose")
    assert _run(monkeypatch, "restore", str(dest), **target) == 1
    assert "n'est pas vide" in capsys.readouterr().err
    assert tables() == []
    stray.unlink()
    assert _run(monkeypatch, "restore", str(dest), **target) == 0
    assert tables() != []


def test_backup_and_restore_with_the_documents_in_s3(
    s3_client: Any,
    s3_settings: Settings,
    restore_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The documents read from the bucket into the backup, and put back into another (empty)
    prefix of the object store on restore."""
    pid = create_project(s3_client)["id"]
    given = [
        upload(s3_client, pid, "autre", content=_text(n, 300 * KB), filename=f"cr-{n}.txt")
        for n in range(3)
    ]
    dest = tmp_path / "sauvegarde"
    assert storage_run(monkeypatch, s3_settings, "backup", str(dest)) == 0, capsys.readouterr()
    files = {
        e["path"]: e["sha256"] for e in json.loads((dest / "manifest.json").read_text())["files"]
    }
    assert {f"documents/{d['sha256'][:2]}/{d['sha256']}" for d in given} <= set(files)

    restored = s3_settings.model_copy(
        update={
            "data_dir": tmp_path / "restored",
            "database_url": restore_url,
            "storage_url": f"s3://{BUCKET}/restaure/",
        }
    )
    assert storage_run(monkeypatch, restored, "restore", str(dest)) == 0, capsys.readouterr()
    capsys.readouterr()
    target = S3Storage(
        bucket=BUCKET,
        prefix="restaure",
        staging_dir=tmp_path / "staging",
        endpoint_url=s3_settings.s3_endpoint_url,
        access_key="test",
        secret_key="test",
        region="eu-west-3",
    )
    assert sorted(o.sha256 for o in target.objects()) == sorted(d["sha256"] for d in given)
    assert all(target.hash_of(d["sha256"]) == d["sha256"] for d in given)
    assert storage_run(monkeypatch, restored, "storage", "check") == 0
    assert "Stockage cohérent" in capsys.readouterr().out
    # The prefix is no longer empty: a second restore there, with an empty SQLite database, is
    # refused (a PostgreSQL backup is refused sooner: it does not go into SQLite).
    again = restored.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'autre.db'}"})
    assert storage_run(monkeypatch, again, "restore", str(dest)) == 1
    sqlite = restore_url.startswith("sqlite")
    assert ("n'est pas vide" if sqlite else "ne se restaure pas") in capsys.readouterr().err
