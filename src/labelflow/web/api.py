"""The JSON API under /api/v1: parse, load through dependencies, call one service, present."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from labelflow import bureau, dates, documents, events, projects, records, views
from labelflow.errors import NotFound
from labelflow.models import Project
from labelflow.permissions import (
    DOCUMENT_REVIEW,
    DOCUMENT_UPLOAD,
    PIPELINE_READ,
    PROJECT_WRITE,
    RECORD_WRITE,
)
from labelflow.projects import ProjectFilters, definition_of
from labelflow.schemas import (
    AttestationCreate,
    AttestationPublic,
    BoardMemberCreate,
    BoardMemberPublic,
    CommentIn,
    DeadlineMove,
    DeadlinePublic,
    DecisionCreate,
    DecisionPublic,
    DocumentPublic,
    EventPublic,
    PipelinePublic,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
    ProjectUpdate,
    ReviewIn,
    StakeholderCreate,
    StakeholderPublic,
    TransitionIn,
)
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    DocumentDep,
    EngineDep,
    IfMatchDep,
    LettersDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    current_identity,
    permit,
    permit_on_document,
    permit_on_project,
)
from labelflow.workflow import mermaid

# Every route needs a signed-in user (401); each write route also names its permission (403).
router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_identity)])

SubId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _etag(response: Response, project: Project) -> None:
    response.headers["ETag"] = f'"{project.version}"'


# --- workflows --------------------------------------------------------------------------------


@router.get("/workflows", tags=["workflows"], summary="Définitions de parcours")
def list_workflows(engine: EngineDep) -> list[dict[str, Any]]:
    return [d.model_dump(mode="json") for d in engine.latest()]


@router.get("/workflows/{key}", tags=["workflows"], summary="Une définition de parcours")
def get_workflow(
    key: str, engine: EngineDep, version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> dict[str, Any]:
    try:
        definition = engine.definition(key, version)
    except KeyError:
        raise NotFound("Ce parcours est introuvable.") from None
    return {**definition.model_dump(mode="json"), "mermaid": mermaid(definition)}


# --- projects ---------------------------------------------------------------------------------


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    tags=["projets"],
    summary="Créer un projet",
    dependencies=[permit(PROJECT_WRITE)],
)
def create_project(
    data: ProjectCreate, session: SessionDep, engine: EngineDep, actor: ActorDep, response: Response
) -> ProjectPublic:
    project = projects.create_project(session, engine=engine, data=data, actor=actor)
    session.flush()
    response.headers["Location"] = f"/api/v1/projects/{project.id}"
    _etag(response, project)
    return views.project_public(session, engine, project)


@router.get("/projects", tags=["projets"], summary="Lister les projets")
def list_projects(
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    state: Annotated[str | None, Query(max_length=50)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    due_soon: Annotated[
        bool | None, Query(description="Échéance dans les 30 jours (et aucune en retard)")
    ] = None,
    suspended: bool | None = None,
) -> ProjectList:
    filters = ProjectFilters(
        state=state,
        kind=kind,
        region=region,
        overdue=overdue,
        q=q,
        due_soon=due_soon,
        suspended=suspended,
    )
    rows, total = projects.list_projects(
        session, actor=actor, filters=filters, limit=limit, offset=offset
    )
    return ProjectList(
        items=[views.project_summary(engine, p, overdue=o) for p, o in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/pipeline",
    tags=["projets"],
    summary="Tableau de bord : projets par étape",
    dependencies=[permit(PIPELINE_READ)],
)
def get_pipeline(session: SessionDep, engine: EngineDep) -> PipelinePublic:
    result = projects.pipeline(session, engine=engine, today=dates.today())
    return PipelinePublic.model_validate(result, from_attributes=True)


@router.get("/projects/{project_id}", tags=["projets"], summary="Un projet et ses actions")
def get_project(
    project: ProjectDep, session: SessionDep, engine: EngineDep, response: Response
) -> ProjectPublic:
    _etag(response, project)
    return views.project_public(session, engine, project)


@router.patch(
    "/projects/{project_id}",
    tags=["projets"],
    summary="Modifier un projet",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def patch_project(
    data: ProjectUpdate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ProjectPublic:
    projects.update_project(
        session, project=project, data=data, actor=actor, if_match=if_match, engine=engine
    )
    _etag(response, project)
    return views.project_public(session, engine, project)


@router.post(
    "/projects/{project_id}/transitions",
    tags=["projets"],
    summary="Déclencher une action du parcours",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def post_transition(
    data: TransitionIn,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    letters: LettersDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ProjectPublic:
    projects.transition(
        session,
        engine=engine,
        project=project,
        action=data.action,
        comment=data.comment,
        actor=actor,
        if_match=if_match,
        letters=letters,
    )
    _etag(response, project)
    return views.project_public(session, engine, project)


@router.post(
    "/projects/{project_id}/suspend",
    tags=["projets"],
    summary="Suspendre un projet",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def suspend(
    data: CommentIn,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ProjectPublic:
    projects.set_suspended(
        session,
        project=project,
        suspend=True,
        comment=data.comment,
        actor=actor,
        engine=engine,
        if_match=if_match,
    )
    _etag(response, project)
    return views.project_public(session, engine, project)


@router.post(
    "/projects/{project_id}/resume",
    tags=["projets"],
    summary="Reprendre un projet",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def resume(
    data: CommentIn,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ProjectPublic:
    projects.set_suspended(
        session,
        project=project,
        suspend=False,
        comment=data.comment,
        actor=actor,
        engine=engine,
        if_match=if_match,
    )
    _etag(response, project)
    return views.project_public(session, engine, project)


@router.get("/projects/{project_id}/events", tags=["projets"], summary="Historique")
def list_events(project: ProjectDep, session: SessionDep) -> list[EventPublic]:
    assert project.id is not None
    return [
        EventPublic.model_validate(e, from_attributes=True)
        for e in events.list_events(session, project_id=project.id)
    ]


# --- stakeholders, board, attestations ---------------------------------------------------------


@router.get("/projects/{project_id}/stakeholders", tags=["dossier"], summary="Parties prenantes")
def list_stakeholders(project: ProjectDep, session: SessionDep) -> list[StakeholderPublic]:
    return [
        views.stakeholder_public(s) for s in records.list_stakeholders(session, project=project)
    ]


@router.post(
    "/projects/{project_id}/stakeholders",
    status_code=201,
    tags=["dossier"],
    summary="Ajouter une partie prenante",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def add_stakeholder(
    data: StakeholderCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> StakeholderPublic:
    s = records.add_stakeholder(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    _etag(response, project)
    return views.stakeholder_public(s)


@router.delete(
    "/projects/{project_id}/stakeholders/{stakeholder_id}",
    status_code=204,
    tags=["dossier"],
    summary="Retirer une partie prenante",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def delete_stakeholder(
    stakeholder_id: SubId,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
) -> Response:
    records.delete_stakeholder(
        session,
        engine=engine,
        project=project,
        stakeholder_id=stakeholder_id,
        actor=actor,
        if_match=if_match,
    )
    return Response(status_code=204, headers={"ETag": f'"{project.version}"'})


@router.get(
    "/projects/{project_id}/board-members", tags=["dossier"], summary="Conseil d'administration"
)
def list_board(project: ProjectDep, session: SessionDep) -> list[BoardMemberPublic]:
    return [
        BoardMemberPublic.model_validate(m, from_attributes=True)
        for m in records.list_board(session, project=project)
    ]


@router.post(
    "/projects/{project_id}/board-members",
    status_code=201,
    tags=["dossier"],
    summary="Ajouter un membre du conseil d'administration",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def add_board_member(
    data: BoardMemberCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> BoardMemberPublic:
    m = records.add_board_member(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    _etag(response, project)
    return BoardMemberPublic.model_validate(m, from_attributes=True)


@router.delete(
    "/projects/{project_id}/board-members/{member_id}",
    status_code=204,
    tags=["dossier"],
    summary="Retirer un membre du conseil d'administration",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def delete_board_member(
    member_id: SubId,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
) -> Response:
    records.delete_board_member(
        session, engine=engine, project=project, member_id=member_id, actor=actor, if_match=if_match
    )
    return Response(status_code=204, headers={"ETag": f'"{project.version}"'})


@router.get("/projects/{project_id}/attestations", tags=["dossier"], summary="Attestations")
def list_attestations(
    project: ProjectDep, session: SessionDep, engine: EngineDep
) -> list[AttestationPublic]:
    definition = definition_of(engine, project)
    return [
        views.attestation_public(definition, a)
        for a in records.list_attestations(session, project=project)
    ]


@router.post(
    "/projects/{project_id}/attestations",
    status_code=201,
    tags=["dossier"],
    summary="Enregistrer une attestation",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def add_attestation(
    data: AttestationCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> AttestationPublic:
    a = records.add_attestation(
        session, engine=engine, project=project, data=data, actor=actor, if_match=if_match
    )
    _etag(response, project)
    return views.attestation_public(definition_of(engine, project), a)


@router.get("/projects/{project_id}/decisions", tags=["bureau"], summary="Décisions du Bureau")
def list_decisions(project: ProjectDep, session: SessionDep) -> list[DecisionPublic]:
    decisions = bureau.list_decisions(session, project=project)
    votes = bureau.votes_of(session, decisions)
    return [views.decision_public(d, votes[d.id or 0]) for d in decisions]


@router.post(
    "/projects/{project_id}/decisions",
    status_code=201,
    tags=["bureau"],
    summary="Enregistrer la décision du Bureau (réunion, votes, décision, motivation)",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def post_decision(
    data: DecisionCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DecisionPublic:
    d = bureau.record_decision(
        session,
        engine=engine,
        project=project,
        meeting_id=data.meeting_id,
        outcome=data.outcome,
        motivation=data.motivation,
        votes=[(v.user_id, v.vote) for v in data.votes],
        actor=actor,
        settings=settings,
        if_match=if_match,
    )
    _etag(response, project)
    return views.decision_public(d, bureau.votes_of(session, [d])[d.id or 0])


# --- deadlines --------------------------------------------------------------------------------


@router.get("/projects/{project_id}/deadlines", tags=["dossier"], summary="Échéances")
def list_deadlines(project: ProjectDep, session: SessionDep) -> list[DeadlinePublic]:
    return views.deadline_views(session, project)


@router.patch(
    "/projects/{project_id}/deadlines/{deadline_id}",
    tags=["dossier"],
    summary="Déplacer une échéance",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def move_deadline(
    deadline_id: SubId,
    data: DeadlineMove,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DeadlinePublic:
    records.move_deadline(
        session,
        engine=engine,
        project=project,
        deadline_id=deadline_id,
        data=data,
        actor=actor,
        if_match=if_match,
    )
    _etag(response, project)
    return next(d for d in views.deadline_views(session, project) if d.id == deadline_id)


# --- documents --------------------------------------------------------------------------------


@router.get("/projects/{project_id}/documents", tags=["pièces"], summary="Pièces du projet")
def list_documents(
    project: ProjectDep, session: SessionDep, engine: EngineDep
) -> list[DocumentPublic]:
    return views.documents_public(
        definition_of(engine, project), documents.list_documents(session, project=project)
    )


@router.post(
    "/projects/{project_id}/documents",
    status_code=201,
    tags=["pièces"],
    summary="Déposer une pièce",
    dependencies=[permit_on_project(DOCUMENT_UPLOAD)],
)
def upload_document(
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
    file: Annotated[UploadFile, File(description="Le fichier")],
    type: Annotated[str, Form(min_length=1, max_length=50, description="Type de pièce")],
) -> DocumentPublic:
    document = documents.add_document(
        session,
        engine=engine,
        store=store,
        project=project,
        doc_type=type.strip(),
        filename=file.filename,
        declared_media_type=file.content_type,
        source=file.file,
        max_bytes=settings.max_upload_bytes,
        allowed_media_types=settings.allowed_media_types,
        actor=actor,
        if_match=if_match,
    )
    _etag(response, project)
    return views.document_public(definition_of(engine, project), document)


@router.get(
    "/documents/{document_id}/content",
    tags=["pièces"],
    summary="Télécharger une pièce",
    response_class=FileResponse,
)
def download_document(loaded: DocumentDep, store: StoreDep) -> FileResponse:
    document = loaded.document
    path = store.path_for(document.sha256)
    if not path.is_file():
        raise NotFound("Le fichier de cette pièce est introuvable sur le serveur.")
    return FileResponse(path, media_type=document.media_type, filename=document.filename)


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
    _etag(response, project)
    return views.document_public(definition_of(engine, project), document)
