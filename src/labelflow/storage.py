"""Where document files live: an interface and its two implementations.

Every file is named by its sha256 (content-addressed), never by the user's name. An upload is
first *staged*: copied chunk by chunk into a temporary file while its size is checked and its hash
computed, so that it can be inspected before anything is kept. `commit` then makes it durable:

- `LocalStorage` (the default): fsync the staged file, rename it to `root/ab/abcdef…`, fsync the
  folder. A rename is atomic: a reader sees the whole file or none.
- `S3Storage` (`LABELFLOW_STORAGE_URL=s3://bucket/prefix`): the staged file is streamed to the
  object store (multipart beyond 8 MB); downloads are streamed back.

The document's row is written only after `commit` returns. A request rolled back after that
leaves an unreferenced file: `labelflow storage gc` removes those older than its grace period.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from labelflow.errors import InsufficientStorage, NotFound, PayloadTooLarge
from labelflow.settings import Settings

CHUNK = 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MISSING = "Le fichier de cette pièce est introuvable sur le serveur."


@dataclass(frozen=True)
class Staged:
    """An upload copied to a temporary file, not yet kept."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    size: int
    modified: datetime


def too_large(max_bytes: int) -> PayloadTooLarge:
    megabytes = max(1, max_bytes // (1024 * 1024))
    return PayloadTooLarge(f"Le fichier dépasse la taille maximale autorisée ({megabytes} Mo).")


NO_ROOM = (
    "Le stockage des pièces est plein : la pièce n'a pas été enregistrée. Réessayez plus tard "
    "ou prévenez l'équipe."
)


@contextmanager
def no_room_is_refused() -> Iterator[None]:
    """A full disk (or quota) while writing a file becomes a 507, not a 500."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(NO_ROOM) from exc
        raise


class Stager:
    """An upload written into the staging area as it arrives, hashed and measured on the way:
    each byte is written once. `finish` makes it durable (fsync); `discard` removes it (a no-op
    once the store has renamed it away)."""

    def __init__(self, staging_dir: Path, *, max_bytes: int) -> None:
        with no_room_is_refused():
            staging_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=staging_dir, prefix="upload-")
        self.path = Path(name)
        self.size = 0
        self.max_bytes = max_bytes
        self._fd = fd
        self._digest = hashlib.sha256()

    def write(self, chunk: bytes | bytearray) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self._digest.update(chunk)
        view = memoryview(chunk)
        with no_room_is_refused():
            while view:
                view = view[os.write(self._fd, view) :]

    def finish(self) -> Staged:
        with no_room_is_refused():
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        return Staged(path=self.path, sha256=self._digest.hexdigest(), size=self.size)

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


class Storage(ABC):
    """Content-addressed files. `staging_dir` holds the uploads being checked."""

    staging_dir: Path

    def stager(self, *, max_bytes: int) -> Stager:
        """A temporary file in the staging area that an upload is written into as it comes."""
        return Stager(self.staging_dir, max_bytes=max_bytes)

    @contextmanager
    def staging(self, source: BinaryIO, *, max_bytes: int) -> Iterator[Staged]:
        """Copy `source` to a temporary file (413 beyond `max_bytes`); removed on exit."""
        stager = self.stager(max_bytes=max_bytes)
        try:
            while chunk := source.read(CHUNK):
                stager.write(chunk)
            yield stager.finish()
        finally:
            # Whatever happened (a full disk midway included), no partial file stays.
            stager.discard()

    def put_bytes(self, content: bytes) -> Staged:
        """Keep `content` (a document labelflow made itself)."""
        with self.staging(io.BytesIO(content), max_bytes=len(content) + 1) as staged:
            self.commit(staged)
            return staged

    @abstractmethod
    def commit(self, staged: Staged) -> None:
        """Make the staged file durable under its hash (a no-op when that content is kept)."""

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The file's content, streamed; `NotFound` when it is missing (raised at once)."""

    @abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abstractmethod
    def objects(self) -> Iterator[StoredObject]:
        """Every kept file (the staging area aside)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the files are, for the command line."""

    def local_path(self, sha256: str) -> Path | None:
        """The file on this machine's disk, when it is there (served with sendfile)."""
        return None

    def hash_of(self, sha256: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks(sha256):
            digest.update(chunk)
        return digest.hexdigest()

    def stale_staging(self, *, older_than_seconds: float) -> list[Path]:
        """Temporary files left by a process that died while receiving an upload."""
        if not self.staging_dir.is_dir():
            return []
        limit = time.time() - older_than_seconds
        return [
            p
            for p in self.staging_dir.iterdir()
            if p.is_file() and p.name.startswith("upload-") and p.stat().st_mtime < limit
        ]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    """Files under `root/ab/abcdef…`; uploads staged in `root/tmp` (same file system)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging_dir = root / "tmp"

    def path_for(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise NotFound(MISSING)
        return self.root / sha256[:2] / sha256

    def commit(self, staged: Staged) -> None:
        final = self.path_for(staged.sha256)
        with no_room_is_refused():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, final)
            _fsync_dir(final.parent)

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def local_path(self, sha256: str) -> Path | None:
        path = self.path_for(sha256)
        return path if path.is_file() else None

    def chunks(self, sha256: str) -> Iterator[bytes]:
        try:
            f = self.path_for(sha256).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(MISSING) from exc
        return _read_chunks(f)

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def objects(self) -> Iterator[StoredObject]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or len(folder.name) != 2 or folder == self.staging_dir:
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and SHA256.match(path.name) and path.name[:2] == folder.name:
                    st = path.stat()
                    yield StoredObject(
                        path.name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)
                    )

    def describe(self) -> str:
        return str(self.root)


def _read_chunks(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(CHUNK):
            yield chunk


class S3Storage(Storage):
    """Objects `prefix/ab/abcdef…` in an S3-compatible bucket (boto3)."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        staging_dir: Path,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
    ) -> None:
        import boto3  # boto3 takes ~0.3 s to import: only when S3 is used
        from boto3.s3.transfer import TransferConfig

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.staging_dir = staging_dir
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
        )
        self.transfer = TransferConfig(multipart_chunksize=8 * 1024 * 1024, use_threads=False)

    def key_for(self, sha256: str) -> str:
        if not SHA256.match(sha256):
            raise NotFound(MISSING)
        name = f"{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _missing(self, exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def commit(self, staged: Staged) -> None:
        if self.exists(staged.sha256):
            return
        self.client.upload_file(
            str(staged.path), self.bucket, self.key_for(staged.sha256), Config=self.transfer
        )

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def chunks(self, sha256: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))["Body"]
        except ClientError as exc:
            if self._missing(exc):
                raise NotFound(MISSING) from exc
            raise
        return _body_chunks(body)

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))

    def objects(self) -> Iterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        start = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                rest = item["Key"][len(start) :]
                folder, _, name = rest.partition("/")
                if SHA256.match(name) and folder == name[:2]:
                    yield StoredObject(name, int(item["Size"]), item["LastModified"])

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def open_storage(
    *,
    url: str,
    documents_dir: Path,
    staging_dir: Path,
    endpoint_url: str = "",
    access_key: str = "",
    secret_key: str = "",
    region: str = "",
) -> Storage:
    """The storage `url` names: empty for the local folder, `s3://bucket/prefix` for S3."""
    if not url:
        return LocalStorage(documents_dir)
    parts = urlsplit(url)
    if parts.scheme == "s3" and parts.netloc:
        return S3Storage(
            bucket=parts.netloc,
            prefix=parts.path,
            staging_dir=staging_dir,
            endpoint_url=endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
        )
    if parts.scheme == "file":
        return LocalStorage(Path(parts.path))
    raise ValueError(
        f"LABELFLOW_STORAGE_URL « {url} » : attendu vide (dossier local), file:///chemin "
        "ou s3://compartiment/préfixe."
    )


def from_settings(settings: Settings) -> Storage:
    return open_storage(
        url=settings.storage_url,
        documents_dir=settings.resolved_documents_dir,
        staging_dir=settings.data_dir / "tmp",
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
    )
