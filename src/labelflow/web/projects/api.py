"""Projects in the JSON API: the workflow definitions, projects (list, pipeline, one project and
its actions), transitions, suspension, history, deadlines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from labelflow import dates, deadlines, events, pipeline, projects, stats
from labelflow.actors import Actor
from labelflow.errors import NotFound
from labelflow.models import Project
from labelflow.permissions import PIPELINE_READ, PROJECT_WRITE
from labelflow.project_view import ProjectHead, ViewState
from labelflow.schemas import (
    CommentIn,
    DeadlineMove,
    DeadlinePublic,
    EventPublic,
    PipelinePublic,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
    TransitionIn,
)
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    JsonViewDep,
    ListSortDep,
    ProjectDep,
    ProjectFiltersDep,
    SessionDep,
    SubId,
    commit_writes,
    known_list_parameters,
    permit,
    permit_on_project,
)
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.projects.present import (
    cached_project_json,
    deadline_views,
    list_item,
    project_json,
    project_public,
)
from labelflow.web.routing import api_router
from labelflow.workflow import Engine, mermaid

# Every route needs a signed-in user (401); each write route also names its permission (403).
router = api_router()
JSON = "application/json"


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
    set_etag(response, project.version)
    return project_public(session, engine, project, viewer=actor)


@router.get(
    "/projects",
    tags=["projets"],
    summary="Lister les projets",
    description="Un paramètre qui n'est ni un filtre, ni `sort`, ni `limit`/`offset` est "
    "refusé (422 `filtre_inconnu`).",
    dependencies=[Depends(known_list_parameters)],
    response_model=ProjectList,
)
def list_projects(
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    filters: ProjectFiltersDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    sort: ListSortDep = "recent",
) -> Response:
    def answer() -> bytes:
        rows, total = pipeline.list_projects(
            session,
            engine=engine,
            actor=actor,
            filters=filters,
            limit=limit,
            offset=offset,
            sort=sort,
        )
        page = ProjectList(
            items=[list_item(engine, row) for row in rows], total=total, limit=limit, offset=offset
        )
        return page.model_dump_json().encode()

    # The same bytes until a fact, the figures or the day change them.
    key = ("liste", *pipeline.list_key(actor, engine, filters, sort, limit, offset))
    return Response(content=pipeline.cached(session, key, answer), media_type="application/json")


@router.get(
    "/pipeline",
    tags=["projets"],
    summary="Tableau de bord : projets par étape",
    dependencies=[permit(PIPELINE_READ)],
    response_model=PipelinePublic,
)
def get_pipeline(session: SessionDep, engine: EngineDep, actor: ActorDep) -> Response:
    def answer() -> bytes:
        result = pipeline.dashboard(session, engine=engine, today=dates.today(), actor=actor)
        public = PipelinePublic.model_validate(result, from_attributes=True)
        return public.model_dump_json().encode()

    key = ("tableau", *stats.scope_key(actor, engine))
    return Response(content=pipeline.cached(session, key, answer), media_type="application/json")


@router.get(
    "/projects/{project_id}",
    tags=["projets"],
    summary="Un projet et ses actions",
    response_model=ProjectPublic,
)
async def get_project(
    project: ProjectDep, view: JsonViewDep, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> Response:
    # Async: the project and its view's tokens were read with the identity (one thread-pool
    # hop); the body as cached (`present.project_json`) is answered from here, not validated
    # and serialised again; only a miss draws it in the thread pool.
    kept = kept_project_response(project, view)
    if kept is not None:
        return kept
    body = await run_in_threadpool(project_json, session, engine, project, viewer=actor, state=view)
    return project_response(project, body)


def project_response(project: ProjectHead, body: bytes) -> Response:
    """The project JSON's answer: its body and its version (`ETag`)."""
    response = Response(body, media_type=JSON)
    set_etag(response, project.version)
    return response


def kept_project_response(project: ProjectHead, view: ViewState) -> Response | None:
    """The answer of `get_project` when its body is kept (`kept.KeptReads`), else None."""
    body = cached_project_json(project, view)
    return None if body is None else project_response(project, body)


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
    )
    commit_writes(session)
    set_etag(response, project.version)
    return project_public(session, engine, project, viewer=actor)


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
    return _set_suspended(session, engine, project, actor, data, if_match, response, True)


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
    return _set_suspended(session, engine, project, actor, data, if_match, response, False)


def _set_suspended(
    session: Session,
    engine: Engine,
    project: Project,
    actor: Actor,
    data: CommentIn,
    if_match: int | None,
    response: Response,
    suspend: bool,
) -> ProjectPublic:
    projects.set_suspended(
        session,
        project=project,
        suspend=suspend,
        comment=data.comment,
        actor=actor,
        engine=engine,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return project_public(session, engine, project, viewer=actor)


@router.get("/projects/{project_id}/events", tags=["projets"], summary="Historique")
def list_events(project: ProjectDep, session: SessionDep, actor: ActorDep) -> list[EventPublic]:
    assert project.id is not None
    return [
        EventPublic.model_validate(e, from_attributes=True)
        for e in events.list_events(session, project=project, viewer=actor)
    ]


@router.get("/projects/{project_id}/deadlines", tags=["dossier"], summary="Échéances")
def list_deadlines(project: ProjectDep, session: SessionDep) -> list[DeadlinePublic]:
    return deadline_views(session, project)


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
    deadlines.move_deadline(
        session,
        engine=engine,
        project=project,
        deadline_id=deadline_id,
        data=data,
        actor=actor,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return next(d for d in deadline_views(session, project) if d.id == deadline_id)
