"""Forms of the project page's file: stakeholders, board, attestations, documents, consultant,
deadlines (the Bureau's: `pages_bureau`). Each calls the JSON API's service and comes back to
its section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import Response

from labelflow import accounts, assignments, documents, records
from labelflow.errors import Invalid
from labelflow.permissions import (
    DOCUMENT_REVIEW,
    DOCUMENT_UPLOAD,
    MEMBERS_MANAGE,
    PROJECT_WRITE,
    RECORD_WRITE,
)
from labelflow.web.deps import (
    MAX_ID,
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
from labelflow.web.forms import (
    AttestationForm,
    BoardMemberForm,
    ConsultantForm,
    DeadlineForm,
    DocumentForm,
    MemberForm,
    PageForm,
    ReviewForm,
    StakeholderForm,
)
from labelflow.web.pages import PAGE_DEPENDENCIES
from labelflow.web.pages_projects import submit

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

SubId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/projects/{project_id}/stakeholders", dependencies=[permit_on_project(RECORD_WRITE)])
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


@router.post(
    "/projects/{project_id}/stakeholders/{stakeholder_id}/delete",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
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


@router.post("/projects/{project_id}/board-members", dependencies=[permit_on_project(RECORD_WRITE)])
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


@router.post(
    "/projects/{project_id}/board-members/{member_id}/delete",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
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


@router.post("/projects/{project_id}/attestations", dependencies=[permit_on_project(RECORD_WRITE)])
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
    )


@router.post("/projects/{project_id}/consultant", dependencies=[permit_on_project(RECORD_WRITE)])
def set_consultant(
    request: Request,
    form: Annotated[ConsultantForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return assignments.assign(
            session,
            engine=engine,
            project=project,
            consultant_id=form.to_model().user_id,
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


@router.post(
    "/projects/{project_id}/deadlines/{deadline_id}",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
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


# --- porteurs linked to the project ------------------------------------------------------------


@router.post("/projects/{project_id}/members", dependencies=[permit_on_project(MEMBERS_MANAGE)])
def add_member(
    request: Request,
    form: Annotated[MemberForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return accounts.add_member(
            session, project=project, user_id=form.to_model().user_id, actor=actor
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="members",
        form=form,
        anchor="porteurs",
        call=call,
    )


@router.post(
    "/projects/{project_id}/members/{user_id}/delete",
    dependencies=[permit_on_project(MEMBERS_MANAGE)],
)
def remove_member(
    request: Request,
    user_id: SubId,
    form: Annotated[PageForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        accounts.remove_member(session, project=project, user_id=user_id, actor=actor)

    return submit(
        request,
        session,
        engine,
        project,
        form_name="members",
        form=form,
        anchor="porteurs",
        call=call,
    )
