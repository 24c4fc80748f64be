"""Documents as shown: stored rows → API shapes, sizes in French, the types one may add."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from labelflow.actors import Actor
from labelflow.criteria import document_status
from labelflow.documents import GENERATED_TYPE_LABELS
from labelflow.errors import Forbidden
from labelflow.models import Document
from labelflow.permissions import require_upload
from labelflow.schemas import DocumentPublic, ExpectedDocumentPublic
from labelflow.workflow import BUILTIN_DOCUMENT_TYPES, WorkflowDefinition


def document_public(definition: WorkflowDefinition, d: Document) -> DocumentPublic:
    doc_type = definition.document_type(d.type)
    return DocumentPublic(
        id=d.id or 0,
        project_id=d.project_id,
        type=d.type,
        type_label=doc_type.label if doc_type else GENERATED_TYPE_LABELS.get(d.type, d.type),
        filename=d.filename,
        size=d.size,
        media_type=d.media_type,
        sha256=d.sha256,
        uploaded_by=d.uploaded_by,
        uploaded_at=d.uploaded_at,
        review_status=d.review_status,
        review_comment=d.review_comment,
        reviewed_by=d.reviewed_by,
        reviewed_at=d.reviewed_at,
        superseded_by_id=d.superseded_by_id,
        download_url=f"/api/v1/documents/{d.id}/content",
    )


def documents_public(
    definition: WorkflowDefinition, docs: Sequence[Document]
) -> list[DocumentPublic]:
    return [document_public(definition, d) for d in docs]


def filesize(size: int) -> str:
    """'12,3 ko' — French decimal comma, 1 ko = 1 024 octets (a template filter)."""
    if size < 1024:
        return f"{size} octet{'s' if size > 1 else ''}"
    for unit in ("ko", "Mo", "Go"):
        size_f = size / 1024
        if size_f < 1024 or unit == "Go":
            return f"{size_f:.1f} {unit}".replace(".", ",")
        size = int(size_f)
    return f"{size} Go"  # pragma: no cover


def upload_types(definition: WorkflowDefinition, actor: Actor) -> list[tuple[str, str]]:
    """The document types `actor` may add (the rule itself lives in `permissions`); the
    built-in ones (a message's attachment) are added with their message."""
    allowed = []
    for doc_type in definition.document_types:
        if doc_type in BUILTIN_DOCUMENT_TYPES:
            continue
        try:
            require_upload(actor, doc_type.key)
        except Forbidden:
            continue
        allowed.append((doc_type.key, doc_type.label))
    return allowed


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice (RFC 6266): an ASCII fallback, then `filename*` UTF-8."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def expected_documents_public(
    definition: WorkflowDefinition, state: str, current: list[Document]
) -> list[ExpectedDocumentPublic]:
    """The step's expected documents with their status, from its current (not superseded)
    documents."""
    if definition.is_final(state):
        return []
    shown = []
    for expected in definition.state(state).documents:
        doc_type = definition.document_type(expected.type)
        status = document_status(current, expected.type, multiple=expected.multiple)
        shown.append(
            ExpectedDocumentPublic(
                type=expected.type,
                label=doc_type.label if doc_type else expected.type,
                description=doc_type.description if doc_type else "",
                multiple=expected.multiple,
                needs=expected.needs,
                status=status.status,
                document_ids=[d.id or 0 for d in status.documents],
                reason=status.reason,
            )
        )
    return shown
