"""Backup and restore: the database and the documents, with a manifest of their hashes.

`create_backup` runs while the service runs. The database is copied first, as one consistent
snapshot: SQLite's online backup API, or `pg_dump` on PostgreSQL run on a snapshot exported by an
open repeatable-read transaction. Then exactly the documents that snapshot references are copied
(each file is durable before its row is committed, and files are never rewritten: a snapshot's
files are all there). `manifest.json`, written last, lists every file with its sha256 and size:
a folder without it is an unfinished backup.

`restore_backup` verifies the manifest before it touches anything, refuses a database or a
store that is not empty, loads the database (a copy of the SQLite file, or `pg_restore`),
puts every document back into the configured store (local folder or S3), and brings the schema
to the current migration.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect, make_url, select, text
from sqlmodel import col

from labelflow import migrate
from labelflow.models import Document
from labelflow.storage import CHUNK, Storage

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE = "labelflow.db"
PG_DUMP_FILE = "database.pgdump"
DOCUMENTS = "documents"


class BackupError(Exception):
    """A French message: why the backup or the restore was refused or failed."""


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    documents: int
    size: int
    problems: list[str]  # documents whose file was missing or altered in the store


@dataclass(frozen=True)
class RestoreReport:
    documents: int
    database: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- PostgreSQL through its client programs ---------------------------------------------------


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection string pg_dump/pg_restore read, the password in the environment
    (never on the command line, where `ps` shows it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _client(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BackupError(
            f"{program} est introuvable : installez le client PostgreSQL "
            "(paquet Debian postgresql-client)."
        )
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} a échoué : {done.stderr.strip() or done.returncode}")


# --- backup ------------------------------------------------------------------------------------


def _referenced(conn: Connection) -> list[tuple[str, int]]:
    sha, size = col(Document.sha256), col(Document.size)
    rows = conn.execute(select(sha, size).distinct().order_by(sha))
    return [(str(digest), int(length)) for digest, length in rows]


def _sqlite_snapshot(db: Engine, dest: Path) -> tuple[str, list[tuple[str, int]]]:
    source_path = make_url(db.url).database
    assert source_path
    target = dest / SQLITE_FILE
    source = sqlite3.connect(source_path)
    try:
        copy = sqlite3.connect(target)
        try:
            # One step (pages=-1): the copy is the database as one read transaction saw it,
            # while writers go on in the WAL.
            source.backup(copy, pages=-1)
        finally:
            copy.close()
    finally:
        source.close()
    snapshot = create_engine(f"sqlite:///{target}")
    try:
        with snapshot.connect() as conn:
            return SQLITE_FILE, _referenced(conn)
    finally:
        snapshot.dispose()


def _pg_snapshot(db: Engine, dest: Path) -> tuple[str, list[tuple[str, int]]]:
    pg_dump = _client("pg_dump")
    conninfo, env = _libpq(db.url.render_as_string(hide_password=False))
    with db.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # pg_dump reads the very snapshot this transaction holds, and so does the list of
            # documents below: the rows dumped and the files copied agree.
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            _run(
                [
                    pg_dump,
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot_id}",
                    f"--file={dest / PG_DUMP_FILE}",
                    f"--dbname={conninfo}",
                ],
                env,
                "pg_dump",
            )
            return PG_DUMP_FILE, _referenced(conn)


def _copy_document(store: Storage, sha256: str, target: Path) -> tuple[str, int]:
    """Copy one stored file, hashing it on the way; the copy is fsynced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for chunk in store.chunks(sha256):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _write_manifest(dest: Path, manifest: dict[str, Any]) -> None:
    fd, name = tempfile.mkstemp(dir=dest, prefix=".manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=1, ensure_ascii=False)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(name, dest / MANIFEST)
    _fsync_dir(dest)


def create_backup(*, db: Engine, store: Storage, dest: Path) -> BackupReport:
    """Write the folder `dest` (refused when it exists): database, documents, manifest."""
    if dest.exists() or dest.is_symlink():
        raise BackupError(f"La destination {dest} existe déjà : indiquez un dossier nouveau.")
    if not dest.parent.is_dir():
        raise BackupError(f"Le dossier {dest.parent} n'existe pas.")
    dialect = db.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise BackupError(f"Base de données « {dialect} » : sauvegarde non prise en charge.")
    dest.mkdir()
    with db.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    snapshot = _sqlite_snapshot if dialect == "sqlite" else _pg_snapshot
    database_file, referenced = snapshot(db, dest)
    digest, size = file_hash(dest / database_file)
    files = [{"path": database_file, "sha256": digest, "size": size}]
    problems = []
    for sha, expected_size in referenced:
        relative = f"{DOCUMENTS}/{sha[:2]}/{sha}"
        try:
            actual, copied = _copy_document(store, sha, dest / relative)
        except Exception as exc:  # noqa: BLE001  (a missing file is reported, the rest goes on)
            (dest / relative).unlink(missing_ok=True)
            problems.append(f"sha256 {sha} · fichier illisible ({exc})")
            continue
        if actual != sha or copied != expected_size:
            problems.append(f"sha256 {sha} · contenu altéré dans le stockage (copié tel quel)")
        files.append({"path": relative, "sha256": actual, "size": copied})
    for folder in {dest / DOCUMENTS, *((dest / str(f["path"])).parent for f in files)}:
        if folder.is_dir():
            _fsync_dir(folder)
    _write_manifest(
        dest,
        {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": {"dialect": dialect, "file": database_file, "revision": revision},
            "files": files,
        },
    )
    total = sum(int(str(f["size"])) for f in files)
    return BackupReport(dest=dest, documents=len(files) - 1, size=total, problems=problems)


# --- restore -----------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup `src`, every file checked against it (all problems at once)."""
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{src} n'est pas une sauvegarde complète de labelflow ({MANIFEST} manquant)."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        database = manifest["database"]
        assert manifest["format"] == FORMAT and isinstance(files, list)
        assert database["dialect"] in ("sqlite", "postgresql")
    except (ValueError, KeyError, TypeError, AssertionError):
        raise BackupError(f"{path} est illisible ou d'un format inconnu.") from None
    problems = []
    root = src.resolve()
    for entry in files:
        relative = str(entry.get("path", ""))
        target = (src / relative).resolve()
        if not relative or not target.is_relative_to(root):
            problems.append(f"{relative!r} : chemin hors de la sauvegarde")
        elif not target.is_file():
            problems.append(f"{relative} : fichier manquant")
        elif file_hash(target) != (entry.get("sha256"), entry.get("size")):
            problems.append(f"{relative} : contenu différent de celui du manifeste")
    listed = {str(e.get("path")) for e in files}
    if database["file"] not in listed:
        problems.append(f"{database['file']} : la base n'est pas dans le manifeste")
    if problems:
        raise BackupError("Sauvegarde altérée, rien n'a été restauré :\n" + "\n".join(problems))
    return dict(manifest)


def _require_empty(db: Engine, store: Storage) -> None:
    if inspect(db).get_table_names():
        where = make_url(db.url).render_as_string(hide_password=True)
        raise BackupError(
            f"La base de données cible ({where}) contient déjà des tables : "
            "la restauration se fait dans une base vide."
        )
    if next(iter(store.objects()), None) is not None:
        raise BackupError(
            f"Le stockage des pièces ({store.describe()}) n'est pas vide : "
            "la restauration se fait dans un stockage vide."
        )


def _restore_sqlite(db: Engine, source: Path) -> None:
    path = make_url(db.url).database
    assert path
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    db.dispose()
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".restore-")
    os.close(fd)
    src = sqlite3.connect(source)
    try:
        copy = sqlite3.connect(name)
        try:
            src.backup(copy)
        finally:
            copy.close()
    finally:
        src.close()
    os.replace(name, target)
    _fsync_dir(target.parent)


def _restore_pg(db: Engine, source: Path) -> None:
    pg_restore = _client("pg_restore")
    conninfo, env = _libpq(db.url.render_as_string(hide_password=False))
    _run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={conninfo}",
            str(source),
        ],
        env,
        "pg_restore",
    )


def restore_backup(*, db: Engine, store: Storage, src: Path) -> RestoreReport:
    """Bring the backup `src` back into an empty database and an empty store."""
    manifest = read_manifest(src)
    dialect = manifest["database"]["dialect"]
    if dialect != db.dialect.name:
        raise BackupError(
            f"Cette sauvegarde est celle d'une base {dialect} : "
            f"elle ne se restaure pas dans une base {db.dialect.name}."
        )
    _require_empty(db, store)
    database_file = src / manifest["database"]["file"]
    (_restore_sqlite if dialect == "sqlite" else _restore_pg)(db, database_file)
    count = 0
    for entry in manifest["files"]:
        if not str(entry["path"]).startswith(f"{DOCUMENTS}/"):
            continue
        size = int(entry["size"])
        with (
            (src / entry["path"]).open("rb") as source,
            store.staging(source, max_bytes=size + 1) as staged,
        ):
            store.commit(staged)
        count += 1
    migrate.upgrade(db)
    return RestoreReport(documents=count, database=dialect)
