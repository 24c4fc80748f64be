"""Documents, pages side: the upload and review forms of the project page. Each calls the same
service as the JSON API (`documents.api`) and comes back to its section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import Response

from labelflow import documents
from labelflow.errors import Invalid
from labelflow.permissions import DOCUMENT_REVIEW, DOCUMENT_UPLOAD
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
from labelflow.web.forms import DocumentForm, ReviewForm
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router

router = page_router()


@router.post("/projects/{project_id}/documents", dependencies=[permit_on_project(DOCUMENT_UPLOAD)])
def upload_document(
    request: Request,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    type: Annotated[str, Form(max_length=50)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    # Plain parameters: a form model cannot sit beside a file in one multipart body.
    form = DocumentForm(type=type, version=version)

    def call() -> Any:
        if file is None or not file.filename:
            raise Invalid("Choisissez le fichier à déposer.", field="file")
        return documents.create_document(
            session,
            engine=engine,
            store=store,
            project=project,
            doc_type=form.type.strip(),
            filename=file.filename,
            declared_media_type=file.content_type,
            source=file.file,
            max_bytes=settings.max_upload_bytes,
            allowed_media_types=settings.allowed_media_types,
            clamd_address=settings.clamd_address,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="document",
        form=form,
        anchor="pieces",
        call=call,
        done="piece_deposee",
    )


@router.post("/documents/{document_id}/review", dependencies=[permit_on_document(DOCUMENT_REVIEW)])
def review_document(
    request: Request,
    loaded: DocumentDep,
    form: Annotated[ReviewForm, Form()],
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    document, project = loaded.document, loaded.project
    document_id = document.id

    def call() -> Any:
        data = form.to_model()
        return documents.review_document(
            session,
            engine=engine,
            project=project,
            document=document,
            status=data.status,
            comment=data.comment,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"review-{document_id}",
        form=form,
        anchor=f"piece-{document_id}",
        call=call,
        done="piece_revue",
    )
