"""Project pages: list, creation form, the project page, transitions, suspension, fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import projects, views
from labelflow.actors import Actor
from labelflow.models import Project
from labelflow.permissions import PROJECT_WRITE
from labelflow.projects import ProjectFilters
from labelflow.web import page_views
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    LettersDep,
    ProjectDep,
    SessionDep,
    permit,
    permit_on_project,
)
from labelflow.web.forms import (
    REFUSALS,
    CommentForm,
    Forms,
    FormState,
    PageForm,
    ProjectEditForm,
    ProjectForm,
    TransitionForm,
    communes_text,
    refusal,
)
from labelflow.web.pages import PAGE_DEPENDENCIES, render
from labelflow.workflow import Engine

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

PAGE_SIZE = 25
OVERDUE_CHOICES = {"oui": True, "non": False}


# --- shared by every form of the project page -------------------------------------------------


def show_project(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    forms: Forms | None = None,
    status_code: int = 200,
    refused_anchor: str = "",
    *,
    at_home: bool = False,
) -> Response:
    # The signed-in user, as remembered by the pages' router dependency.
    actor: Actor = request.state.viewer
    context = page_views.project_page(session, engine, project, actor)
    forms = forms or Forms()
    context.update(
        forms=forms,
        refused_anchor=refused_anchor,
        refused_message=next((f.message for f in forms.values() if f.refused), ""),
        edit_values=edit_values(context["project"]),
        json_url=f"/api/v1/projects/{project.id}",
    )
    if at_home:
        context["nav"] = "home"
    return render(request, page_views.project_template(actor), context, status_code)


def submit(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    *,
    form_name: str,
    form: PageForm,
    anchor: str,
    call: Callable[[], object],
) -> Response:
    """Run one service call; on success 303 back to the section, else the page with reasons."""
    try:
        call()
    except REFUSALS as exc:
        # Nothing of a refused request may stay (a version bump before the refusal, say).
        session.rollback()
        state = refusal(exc, form.values())
        return show_project(
            request, session, engine, project, Forms({form_name: state}), state.status, anchor
        )
    return RedirectResponse(f"/projects/{project.id}#{anchor}", status_code=303)


# --- list and creation -------------------------------------------------------------------------


def _state_choices(engine: Engine) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for definition in engine.latest():
        for state in sorted(definition.states, key=lambda s: (s.final, s.step or 0)):
            seen.setdefault(state.key, state.label)
    return list(seen.items())


@router.get("/projects")
def project_list(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    state: Annotated[str, Query(max_length=50)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    region: Annotated[str, Query(max_length=100)] = "",
    overdue: Annotated[str, Query(max_length=3)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_ID // PAGE_SIZE)] = 1,
    due_soon: Annotated[str, Query(max_length=3)] = "",
    suspended: Annotated[str, Query(max_length=3)] = "",
) -> Response:
    filters = ProjectFilters(
        state=state or None,
        kind=kind or None,
        region=region or None,
        overdue=OVERDUE_CHOICES.get(overdue),
        q=q or None,
        due_soon=OVERDUE_CHOICES.get(due_soon),
        suspended=OVERDUE_CHOICES.get(suspended),
    )
    offset = (page - 1) * PAGE_SIZE
    rows, total = projects.list_projects(
        session, actor=actor, filters=filters, limit=PAGE_SIZE, offset=offset
    )
    params = {
        k: v
        for k, v in {
            "state": state,
            "kind": kind,
            "region": region,
            "overdue": overdue if overdue in OVERDUE_CHOICES else "",
            "q": q,
            "due_soon": due_soon if due_soon in OVERDUE_CHOICES else "",
            "suspended": suspended if suspended in OVERDUE_CHOICES else "",
        }.items()
        if v
    }
    api_params = {**params, "limit": PAGE_SIZE, "offset": offset}
    for flag in ("overdue", "due_soon", "suspended"):
        if flag in params:
            api_params[flag] = "true" if OVERDUE_CHOICES[params[flag]] else "false"
    pages = max(1, -(-total // PAGE_SIZE))

    def page_url(number: int) -> str:
        return "/projects?" + urlencode({**params, "page": number})

    return render(
        request,
        "projects.html",
        {
            "items": [views.project_summary(engine, p, overdue=o) for p, o in rows],
            "total": total,
            "page": page,
            "pages": pages,
            "page_url": page_url,
            "filters": {
                "state": state,
                "kind": kind,
                "region": region,
                "overdue": overdue,
                "q": q,
                "due_soon": params.get("due_soon", ""),
                "suspended": params.get("suspended", ""),
            },
            "filtered": bool(params),
            "state_choices": _state_choices(engine),
            "json_url": "/api/v1/projects?" + urlencode(api_params),
        },
    )


@router.get("/projects/new", dependencies=[permit(PROJECT_WRITE)])
def new_project(request: Request) -> Response:
    return render(request, "project_new.html", {"form": FormState()})


@router.post("/projects", dependencies=[permit(PROJECT_WRITE)])
def create_project(
    request: Request,
    form: Annotated[ProjectForm, Form()],
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    try:
        project = projects.create_project(session, engine=engine, data=form.to_model(), actor=actor)
        session.flush()
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return render(request, "project_new.html", {"form": state}, state.status)
    return RedirectResponse(f"/projects/{project.id}", status_code=303)


# --- the project page and its own forms --------------------------------------------------------


@router.get("/projects/{project_id}")
def project_page(
    request: Request, project: ProjectDep, session: SessionDep, engine: EngineDep
) -> Response:
    return show_project(request, session, engine, project)


@router.get("/projects/{project_id}/history")
def history_page(
    request: Request, project: ProjectDep, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> Response:
    context = page_views.history_page(session, engine, project)
    nav, crumb_href, crumb_label = page_views.home_link(actor)
    context.update(
        nav=nav,
        crumb_href=crumb_href,
        crumb_label=crumb_label,
        json_url=f"/api/v1/projects/{project.id}/events",
    )
    return render(request, "history.html", context)


@router.post("/projects/{project_id}/transitions", dependencies=[permit_on_project(PROJECT_WRITE)])
def post_transition(
    request: Request,
    form: Annotated[TransitionForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    letters: LettersDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return projects.transition(
            session,
            engine=engine,
            project=project,
            action=data.action,
            comment=data.comment,
            actor=actor,
            if_match=form.if_match(),
            letters=letters,
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"action-{form.action}",
        form=form,
        anchor="actions",
        call=call,
    )


def _suspension(
    request: Request,
    form: CommentForm,
    project: Project,
    session: Session,
    engine: Engine,
    actor: Any,
    *,
    suspend: bool,
) -> Response:
    def call() -> Any:
        return projects.set_suspended(
            session,
            project=project,
            suspend=suspend,
            comment=form.comment,
            actor=actor,
            engine=engine,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="suspension",
        form=form,
        anchor="suspension",
        call=call,
    )


@router.post("/projects/{project_id}/suspend", dependencies=[permit_on_project(PROJECT_WRITE)])
def suspend(
    request: Request,
    form: Annotated[CommentForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _suspension(request, form, project, session, engine, actor, suspend=True)


@router.post("/projects/{project_id}/resume", dependencies=[permit_on_project(PROJECT_WRITE)])
def resume(
    request: Request,
    form: Annotated[CommentForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _suspension(request, form, project, session, engine, actor, suspend=False)


@router.post("/projects/{project_id}/edit", dependencies=[permit_on_project(PROJECT_WRITE)])
def edit_project(
    request: Request,
    form: Annotated[ProjectEditForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        return projects.update_project(
            session,
            project=project,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
            engine=engine,
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="edit",
        form=form,
        anchor="informations",
        call=call,
    )


def edit_values(project: Any) -> dict[str, str]:
    """The edit form's initial values, from the project as shown."""
    return {
        "name": project.name,
        "communes": communes_text(project.communes),
        "region": project.region,
        "departement": project.departement or "",
        "qpv": "\n".join(project.qpv),
        "association_name": project.association_name or "",
        "rna_number": project.rna_number or "",
        "association_created_on": str(project.association_created_on or ""),
        "charge_mission_recruited_on": str(project.charge_mission_recruited_on or ""),
    }
