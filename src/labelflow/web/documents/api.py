"""Documents in the JSON API: list, upload, download, review."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response
from fastapi.responses import FileResponse, StreamingResponse

from labelflow import documents
from labelflow.permissions import DOCUMENT_REVIEW, DOCUMENT_UPLOAD
from labelflow.projects import definition_of
from labelflow.schemas import DocumentPublic, ReviewIn
from labelflow.web.deps import (
    ActorDep,
    DocumentDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    permit_on_document,
    permit_on_project,
)
from labelflow.web.documents.present import content_disposition, document_public, documents_public
from labelflow.web.documents.upload import UPLOAD_BODY, UploadDep
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.routing import api_router

router = api_router()


@router.get("/projects/{project_id}/documents", tags=["pièces"], summary="Pièces du projet")
def list_documents(
    project: ProjectDep, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> list[DocumentPublic]:
    """The project's documents; versions a newer one superseded are listed to staff only."""
    return documents_public(
        definition_of(engine, project),
        documents.list_documents(session, project=project, actor=actor),
    )


@router.post(
    "/projects/{project_id}/documents",
    status_code=201,
    tags=["pièces"],
    summary="Déposer une pièce",
    openapi_extra=UPLOAD_BODY,
)
def upload_document(
    # First: the body is received (and the file staged) before a connection is taken.
    upload: UploadDep,
    project: ProjectDep,
    allowed: Annotated[None, permit_on_project(DOCUMENT_UPLOAD)],
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DocumentPublic:
    """Multipart: `type` and `file`; the file is staged as it arrives (`upload.py`)."""
    doc_type, staged = upload.valid()
    document = documents.create_document(
        session,
        engine=engine,
        store=store,
        project=project,
        doc_type=doc_type.strip(),
        filename=upload.filename,
        declared_media_type=upload.content_type,
        staged=staged,
        max_bytes=settings.max_upload_bytes,
        allowed_media_types=settings.allowed_media_types,
        clamd_address=settings.clamd_address,
        actor=actor,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return document_public(definition_of(engine, project), document)


@router.get(
    "/documents/{document_id}/content",
    tags=["pièces"],
    summary="Télécharger une pièce",
    response_class=FileResponse,
)
def download_document(loaded: DocumentDep, store: StoreDep) -> Response:
    """Always an attachment (RFC 6266 name); the security headers add `nosniff` and the
    sandbox policy of attachments."""
    document = loaded.document
    headers = {"Content-Disposition": content_disposition(document.filename)}
    path = store.local_path(document.sha256)
    if path is not None:
        return FileResponse(path, media_type=document.media_type, headers=headers)
    # Another store: streamed from it (a missing file is a 404 before anything is sent).
    return StreamingResponse(
        store.chunks(document.sha256),
        media_type=document.media_type,
        headers={**headers, "Content-Length": str(document.size)},
    )


@router.post(
    "/documents/{document_id}/review",
    tags=["pièces"],
    summary="Revoir une pièce",
    dependencies=[permit_on_document(DOCUMENT_REVIEW)],
)
def review_document(
    loaded: DocumentDep,
    data: ReviewIn,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DocumentPublic:
    document, project = loaded.document, loaded.project
    documents.review_document(
        session,
        engine=engine,
        project=project,
        document=document,
        status=data.status,
        comment=data.comment,
        actor=actor,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return document_public(definition_of(engine, project), document)
