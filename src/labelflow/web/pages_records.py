"""Forms of the project page's file: stakeholders, board, attestations, documents, consultant,
Bureau decisions, deadlines. Each calls the JSON API's service and comes back to its section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import Response

from labelflow import documents, records
from labelflow.errors import Invalid
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    load_project,
)
from labelflow.web.forms import (
    AttestationForm,
    BoardMemberForm,
    ConsultantForm,
    DeadlineForm,
    DecisionForm,
    DocumentForm,
    PageForm,
    ReviewForm,
    StakeholderForm,
)
from labelflow.web.pages_projects import submit

router = APIRouter(include_in_schema=False)

SubId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/projects/{project_id}/stakeholders")
def add_stakeholder(
    request: Request,
    form: Annotated[StakeholderForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.add_stakeholder(
            session,
            engine=engine,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="stakeholder",
        form=form,
        anchor="parties-prenantes",
        call=call,
    )


@router.post("/projects/{project_id}/stakeholders/{stakeholder_id}/delete")
def delete_stakeholder(
    request: Request,
    stakeholder_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        records.delete_stakeholder(
            session,
            engine=engine,
            project=project,
            stakeholder_id=stakeholder_id,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="stakeholder",
        form=form,
        anchor="parties-prenantes",
        call=call,
    )


@router.post("/projects/{project_id}/board-members")
def add_board_member(
    request: Request,
    form: Annotated[BoardMemberForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.add_board_member(
            session,
            engine=engine,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request, session, engine, project, form_name="board", form=form, anchor="conseil", call=call
    )


@router.post("/projects/{project_id}/board-members/{member_id}/delete")
def delete_board_member(
    request: Request,
    member_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        records.delete_board_member(
            session,
            engine=engine,
            project=project,
            member_id=member_id,
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request, session, engine, project, form_name="board", form=form, anchor="conseil", call=call
    )


@router.post("/projects/{project_id}/attestations")
def add_attestation(
    request: Request,
    form: Annotated[AttestationForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.add_attestation(
            session,
            engine=engine,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="attestation",
        form=form,
        anchor="attestations",
        call=call,
    )


@router.post("/projects/{project_id}/documents")
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
        return documents.add_document(
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
    )


@router.post("/documents/{document_id}/review")
def review_document(
    request: Request,
    document_id: SubId,
    form: Annotated[ReviewForm, Form()],
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    document = documents.get_document(session, document_id)
    project = load_project(document.project_id, session, actor)

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
    )


@router.post("/projects/{project_id}/consultant")
def set_consultant(
    request: Request,
    form: Annotated[ConsultantForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.set_consultant(
            session,
            engine=engine,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="consultant",
        form=form,
        anchor="consultant",
        call=call,
    )


@router.post("/projects/{project_id}/decisions")
def record_decision(
    request: Request,
    form: Annotated[DecisionForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return records.record_decision(
            session,
            engine=engine,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="decision",
        form=form,
        anchor="decision",
        call=call,
    )


@router.post("/projects/{project_id}/deadlines/{deadline_id}")
def move_deadline(
    request: Request,
    deadline_id: SubId,
    form: Annotated[DeadlineForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        records.move_deadline(
            session,
            engine=engine,
            project=project,
            deadline_id=deadline_id,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"deadline-{deadline_id}",
        form=form,
        anchor="echeances",
        call=call,
    )
