"""Documents (pièces): streamed to disk, content-addressed, typed by the workflow, reviewed."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.errors import (
    CommentRequired,
    DocumentSuperseded,
    Invalid,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from labelflow.events import record_fact
from labelflow.models import Document, Project
from labelflow.permissions import require_upload
from labelflow.projects import bump, check_if_match, definition_of, require_open
from labelflow.workflow import Engine

CHUNK = 64 * 1024
# Types whose every upload is kept side by side; for the others a new upload replaces the last.
MULTIPLE_TYPES = {"autre", "courrier_decision", "piece_jointe"}
# Documents labelflow makes itself, with their label for definitions that predate their type.
GENERATED_TYPE_LABELS = {"courrier_decision": "Courrier de décision du Bureau"}
REVIEW_LABELS = {
    "en_attente": "Déposée, en attente de relecture",
    "accepted": "Acceptée",
    "rejected": "Refusée",
}


class DocumentStore:
    """Files named by their sha256 under `root/ab/abcdef...`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def save(self, source: BinaryIO, *, max_bytes: int) -> tuple[str, int, bytes]:
        """Copy `source` chunk by chunk; returns (sha256, size, first bytes for sniffing)."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(
                            f"Le fichier dépasse la taille maximale autorisée "
                            f"({max_bytes // (1024 * 1024)} Mo)."
                        )
                    if len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            return sha, size, head
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def sniff_media_type(head: bytes, declared: str | None) -> str | None:
    """The media type from the file's first bytes: the client's claim is not trusted."""
    declared = (declared or "").split(";")[0].strip().lower()
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"PK\x03\x04"):
        if b"application/vnd.oasis.opendocument.text" in head:
            return "application/vnd.oasis.opendocument.text"
        if declared.startswith("application/vnd.openxmlformats-officedocument"):
            return declared
        if b"word/" in head or b"[Content_Types].xml" in head:
            return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        return "application/zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "application/msword"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still text.
            if exc.start < len(head) - 4:
                return None
        return "text/plain"
    return None


def clean_filename(name: str | None) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C"
    )
    name = name.strip().strip(".") or "document"
    return name[:255]


def list_documents(session: Session, *, project: Project) -> Sequence[Document]:
    return session.exec(
        select(Document)
        .where(Document.project_id == project.id)
        .order_by(col(Document.uploaded_at), col(Document.id))
    ).all()


def get_document(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound("Cette pièce est introuvable.")
    return document


def check_type(engine: Engine, project: Project, doc_type: str) -> None:
    definition = definition_of(engine, project)
    if definition.document_type(doc_type) is None:
        known = ", ".join(d.key for d in definition.document_types)
        raise Invalid(
            f"Type de pièce inconnu « {doc_type} » (types attendus : {known}).", field="type"
        )


def create_document(
    session: Session,
    *,
    engine: Engine,
    store: DocumentStore,
    project: Project,
    doc_type: str,
    filename: str | None,
    declared_media_type: str | None,
    source: BinaryIO,
    max_bytes: int,
    allowed_media_types: Sequence[str],
    actor: Actor,
    if_match: int | None,
) -> Document:
    require_open(engine, project)
    check_type(engine, project, doc_type)
    require_upload(actor, doc_type)
    check_if_match(project, if_match)
    sha, size, head = store.save(source, max_bytes=max_bytes)
    media_type = sniff_media_type(head, declared_media_type)
    refusal: Exception | None = None
    if size == 0:
        refusal = Invalid("Le fichier est vide.", field="file")
    elif media_type is None or media_type not in allowed_media_types:
        refusal = UnsupportedMediaType(
            "Ce type de fichier n'est pas accepté : déposez un PDF, une image PNG ou JPEG, "
            "un texte ou un document de traitement de texte."
        )
    if refusal is not None:
        if session.exec(select(Document.id).where(Document.sha256 == sha)).first() is None:
            store.path_for(sha).unlink(missing_ok=True)
        raise refusal
    assert media_type is not None
    bump(session, project, if_match=if_match)
    assert project.id is not None
    now = dates.now()
    document = Document(
        project_id=project.id,
        type=doc_type,
        filename=clean_filename(filename),
        size=size,
        media_type=media_type,
        sha256=sha,
        uploaded_by=actor.name,
        uploaded_at=now,
    )
    session.add(document)
    session.flush()
    if doc_type not in MULTIPLE_TYPES:
        for previous in session.exec(
            select(Document).where(
                Document.project_id == project.id,
                Document.type == doc_type,
                col(Document.superseded_by_id).is_(None),
                Document.id != document.id,
            )
        ):
            previous.superseded_by_id = document.id
            session.add(previous)
    assert project.id is not None
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="document",
        at=now,
        data={
            "id": document.id,
            "type": doc_type,
            "filename": document.filename,
            "size": size,
            "sha256": sha,
        },
    )
    return document


def create_generated_document(
    session: Session,
    *,
    store: DocumentStore,
    project: Project,
    doc_type: str,
    filename: str,
    content: bytes,
    media_type: str,
    actor: Actor,
) -> Document:
    """Store a document labelflow made itself (the Bureau's decision letter) with the project.

    Stored like an upload (content-addressed, atomic write, a `document` event), with three
    differences: the type is not checked against the project's definition, so that projects on
    a definition version that predates `courrier_decision` (version 1 of both) get their letter
    too; it is kept beside earlier ones rather than replacing them (a deferral's letter stays
    when the label is later granted); and it needs no review. The project may already be in a
    final state, and its version is not bumped: the caller's change (the transition) did it.
    """
    assert project.id is not None
    sha, size, _head = store.save(io.BytesIO(content), max_bytes=len(content) + 1)
    now = dates.now()
    document = Document(
        project_id=project.id,
        type=doc_type,
        filename=clean_filename(filename),
        size=size,
        media_type=media_type,
        sha256=sha,
        uploaded_by=actor.name,
        uploaded_at=now,
        review_status="accepted",
        reviewed_by=actor.name,
        reviewed_at=now,
    )
    session.add(document)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="document",
        at=now,
        data={
            "id": document.id,
            "type": doc_type,
            "filename": document.filename,
            "size": size,
            "sha256": sha,
            "generated": True,
        },
    )
    return document


def review_document(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    document: Document,
    status: str,
    comment: str | None,
    actor: Actor,
    if_match: int | None,
) -> Document:
    require_open(engine, project)
    comment = (comment or "").strip() or None
    if status == "rejected" and not comment:
        raise CommentRequired("Indiquez pourquoi la pièce est refusée.", field="comment")
    if document.superseded_by_id is not None:
        raise DocumentSuperseded("Cette pièce a été remplacée par une version plus récente.")
    bump(session, project, if_match=if_match)
    document.review_status = status
    document.review_comment = comment
    document.reviewed_by = actor.name
    document.reviewed_at = dates.now()
    session.add(document)
    assert project.id is not None
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="revue",
        comment=comment,
        data={
            "id": document.id,
            "type": document.type,
            "status": status,
            "filename": document.filename,
        },
    )
    return document
