"""Documents (pièces): judged by their content, kept by their hash, typed by the workflow,
reviewed. The files themselves live in a `storage.Storage`; `files` says whether one is safe."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from labelflow import dates, files
from labelflow.actors import Actor
from labelflow.errors import CommentRequired, DocumentSuperseded, Invalid, NotFound
from labelflow.events import record_fact
from labelflow.models import Document, Project
from labelflow.permissions import readable_documents_clause, require_upload
from labelflow.projects import bump, check_if_match, definition_of, require_open
from labelflow.storage import LocalStorage, Staged, Storage, too_large
from labelflow.workflow import Engine

# Types whose every upload is kept side by side; for the others a new upload replaces the last.
MULTIPLE_TYPES = {"autre", "courrier_decision", "piece_jointe"}
# Documents labelflow makes itself, with their label for definitions that predate their type.
GENERATED_TYPE_LABELS = {"courrier_decision": "Courrier de décision du Bureau"}
REVIEW_LABELS = {
    "en_attente": "Déposée, en attente de relecture",
    "accepted": "Acceptée",
    "rejected": "Refusée",
}


# The local folder store, under the name the demo and older callers know.
DocumentStore = LocalStorage


def list_documents(session: Session, *, project: Project, actor: Actor) -> Sequence[Document]:
    """The project's documents `actor` may see (`permissions.readable_documents_clause`:
    superseded versions for staff only, a message's attachment for its readers)."""
    return session.exec(documents_query(project.id, actor)).all()


def documents_query(project_id: Any, actor: Actor) -> SelectOfScalar[Document]:
    """The select of `list_documents` for `project_id` (a value or a parameter)."""
    query = select(Document).where(Document.project_id == project_id)
    readable = readable_documents_clause(actor)
    if readable is not None:
        query = query.where(readable)
    return query.order_by(col(Document.uploaded_at), col(Document.id))


def get_document(session: Session, document_id: int, *, actor: Actor) -> Document:
    """A document by id; one `actor` may not read (a superseded version but for staff, another
    audience's attachment) is not found (the project's visibility is the caller's to check)."""
    query = select(Document).where(Document.id == document_id)
    readable = readable_documents_clause(actor)
    if readable is not None:
        query = query.where(readable)
    document = session.exec(query).first()
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
    store: Storage,
    project: Project,
    doc_type: str,
    filename: str | None,
    declared_media_type: str | None,
    source: BinaryIO | None = None,
    staged: Staged | None = None,
    max_bytes: int,
    allowed_media_types: Sequence[str],
    actor: Actor,
    if_match: int | None,
    clamd_address: str = "",
) -> Document:
    """Check, keep and record an upload: read from `source`, or already `staged` by the caller
    (who removes what is left of it). The file is judged by its content
    (`files.inspect_file`), scanned when an antivirus is configured, and made durable before
    the row is written: a refusal keeps nothing. `declared_media_type` is not trusted."""
    require_open(engine, project)
    check_type(engine, project, doc_type)
    require_upload(actor, doc_type)
    check_if_match(project, if_match)
    with _received(store, source, staged, max_bytes=max_bytes) as kept:
        media_type = files.inspect_file(kept.path, size=kept.size)
        files.allowed(media_type, allowed_media_types)
        if clamd_address:
            files.scan(kept.path, address=clamd_address)
        store.commit(kept)
    sha, size = kept.sha256, kept.size
    bump(session, project, if_match=if_match)
    assert project.id is not None
    now = dates.now()
    document = Document(
        project_id=project.id,
        type=doc_type,
        filename=files.display_name(filename),
        size=size,
        media_type=media_type,
        sha256=sha,
        uploaded_by=actor.name,
        uploaded_at=now,
    )
    session.add(document)
    session.flush()
    # A new version supersedes the last one (kept in the history); where several files are
    # allowed, it supersedes only those refused (the correction asked for).
    expected = definition_of(engine, project).expected_document(project.state, doc_type)
    multiple = doc_type in MULTIPLE_TYPES or (expected is not None and expected.multiple)
    for previous in session.exec(
        select(Document).where(
            Document.project_id == project.id,
            Document.type == doc_type,
            col(Document.superseded_by_id).is_(None),
            Document.id != document.id,
        )
    ):
        if multiple and previous.review_status != "rejected":
            continue
        previous.superseded_by_id = document.id
        session.add(previous)
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


@contextmanager
def _received(
    store: Storage, source: BinaryIO | None, staged: Staged | None, *, max_bytes: int
) -> Iterator[Staged]:
    if staged is not None:
        if staged.size > max_bytes:
            raise too_large(max_bytes)
        yield staged
        return
    assert source is not None, "an upload needs its source or its staged file"
    with store.staging(source, max_bytes=max_bytes) as copied:
        yield copied


def create_generated_document(
    session: Session,
    *,
    store: Storage,
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
    staged = store.put_bytes(content)
    sha, size = staged.sha256, staged.size
    now = dates.now()
    document = Document(
        project_id=project.id,
        type=doc_type,
        filename=files.display_name(filename),
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


# --- The store's upkeep: `labelflow storage check` and `labelflow storage gc` ------------------


@dataclass(frozen=True)
class StoreProblem:
    document_id: int | None  # None: a file no document references
    sha256: str
    what: str

    def line(self) -> str:
        who = f"pièce {self.document_id}" if self.document_id is not None else "aucune pièce"
        return f"{who} · sha256 {self.sha256} · {self.what}"


def _referenced(session: Session) -> dict[str, list[Document]]:
    rows: dict[str, list[Document]] = {}
    for document in session.exec(select(Document).order_by(col(Document.id))):
        rows.setdefault(document.sha256, []).append(document)
    return rows


def check_store(session: Session, *, store: Storage) -> list[StoreProblem]:
    """Rows whose file is missing, altered or of another size, and files no row references."""
    problems: list[StoreProblem] = []
    referenced = _referenced(session)
    stored = {o.sha256: o for o in store.objects()}
    for sha, documents_of in referenced.items():
        found = stored.get(sha)
        what = None
        if found is None:
            what = "fichier manquant"
        else:
            actual = store.hash_of(sha)
            if actual != sha:
                what = f"contenu altéré (son sha256 est désormais {actual})"
            elif any(d.size != found.size for d in documents_of):
                what = f"taille différente ({found.size} octets sur le stockage)"
        if what is not None:
            problems.extend(StoreProblem(d.id, sha, what) for d in documents_of)
    for sha in sorted(stored.keys() - referenced.keys()):
        problems.append(StoreProblem(None, sha, "fichier orphelin : aucune pièce ne le référence"))
    return problems


def collect_garbage(session: Session, *, store: Storage, older_than_hours: float) -> list[str]:
    """Remove files no row references, older than the grace period (an upload being recorded
    right now has a younger file), and staging leftovers of that age. Returns what went."""
    limit = datetime.now(UTC) - timedelta(hours=older_than_hours)
    referenced = _referenced(session).keys()
    removed = []
    for stored in list(store.objects()):
        if stored.sha256 not in referenced and stored.modified < limit:
            store.delete(stored.sha256)
            removed.append(stored.sha256)
    for leftover in store.stale_staging(older_than_seconds=older_than_hours * 3600):
        leftover.unlink(missing_ok=True)
        removed.append(str(leftover))
    return removed
