"""Server-rendered French pages: the templates, the home page and the workflow pages.

The project pages live in `pages_projects` and `pages_records`; every handler calls the same
service functions as the JSON API (`web/api.py`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from labelflow import accounts, assignments, dates, pdf, projects
from labelflow.actors import ROLE_LABELS
from labelflow.errors import NotFound
from labelflow.permissions import ASSIGNMENT_DECLARE, PIPELINE_READ, allows
from labelflow.settings import Settings
from labelflow.web import page_views
from labelflow.web.deps import ActorDep, EngineDep, IdentityDep, SessionDep, csrf_form
from labelflow.workflow import COLLEGE_LABELS, mermaid


def remember_viewer(request: Request, identity: IdentityDep) -> None:
    """Keep a plain snapshot of who is signed in for the templates: an error page is rendered
    after the request's database session is rolled back and closed, when the row is unusable."""
    request.state.viewer = accounts.actor_of(identity.user)
    web_session = identity.web_session
    request.state.csrf_token = web_session.csrf_token if web_session is not None else ""


# Pages need a signed-in user (else: the login page) and forms their anti-forgery token.
PAGE_DEPENDENCIES = [Depends(remember_viewer), Depends(csrf_form)]
router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _identity_context(request: Request) -> dict[str, Any]:
    """Who is signed in, what they may use, and the session's anti-forgery token for forms."""
    viewer = getattr(request.state, "viewer", None)
    return {
        "current_user": viewer,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav_items": page_views.nav_items(viewer) if viewer is not None else [],
        "viewer_can": page_views.abilities(viewer) if viewer is not None else {},
    }


def make_templates(settings: Settings) -> Jinja2Templates:
    # No per-render stat() of every template file unless asked (LABELFLOW_TEMPLATES_AUTO_RELOAD).
    env = pdf.make_environment(settings.templates_dir, auto_reload=settings.templates_auto_reload)
    templates = Jinja2Templates(env=env, context_processors=[_identity_context])
    env.filters["filesize"] = page_views.filesize
    env.globals.update(
        college_labels=COLLEGE_LABELS,
        kind_labels=page_views.KIND_LABELS,
        initiator_labels=page_views.INITIATOR_LABELS,
        role_labels=ROLE_LABELS,
        today=dates.today,
    )
    return templates


@router.get("/")
def home(request: Request, session: SessionDep, engine: EngineDep, actor: ActorDep) -> Response:
    """The home page of the signed-in role: the pipeline for staff, else their own projects."""
    if allows(actor, PIPELINE_READ):
        return dashboard(request, session, engine)
    if actor.role == "bureau":
        from labelflow.web.pages_bureau import agenda_page  # noqa: PLC0415 (imports us)

        return agenda_page(request, session, engine, actor)
    rows, total = page_views.home_projects(session, actor)
    if page_views.single_project_home(actor, total):
        from labelflow.web.pages_projects import show_project  # noqa: PLC0415 (imports us)

        return show_project(request, session, engine, rows[0][0], at_home=True)
    context = page_views.role_home(engine, actor, rows, total)
    if allows(actor, ASSIGNMENT_DECLARE):
        context["pending_missions"] = assignments.pending_count(session, actor=actor)
    return render(request, "home.html", context)


def dashboard(request: Request, session: SessionDep, engine: EngineDep) -> Response:
    """The staff home page: the pipeline, each number linking to its filtered list."""
    return render(
        request,
        "dashboard.html",
        {
            "pipeline": projects.pipeline(session, engine=engine, today=dates.today()),
            "json_url": "/api/v1/pipeline",
        },
    )


@router.get("/workflows")
def workflows_page(request: Request, engine: EngineDep) -> Response:
    return render(
        request,
        "workflows.html",
        {
            "definitions": engine.latest(),
            "json_url": "/api/v1/workflows",
        },
    )


@router.get("/workflows/{key}")
def workflow_page(request: Request, key: str, engine: EngineDep) -> Response:
    try:
        definition = engine.definition(key)
    except KeyError:
        raise NotFound("Ce parcours est introuvable.") from None
    return render(
        request,
        "workflow.html",
        {
            "definition": definition,
            "mermaid": mermaid(definition),
            "criterion_label": page_views.criterion_label,
            "state_label": page_views.state_label,
            "json_url": f"/api/v1/workflows/{definition.key}",
        },
    )


def install(app: FastAPI, settings: Settings) -> None:
    from labelflow.web import (  # noqa: PLC0415
        pages_account,
        pages_assignments,
        pages_auth,
        pages_bureau,
        pages_projects,
        pages_records,
        pages_reports,
        pages_users,
    )

    app.state.templates = make_templates(settings)
    app.include_router(pages_auth.router)
    app.include_router(router)
    app.include_router(pages_projects.router)
    app.include_router(pages_records.router)
    app.include_router(pages_bureau.router)
    app.include_router(pages_reports.router)
    app.include_router(pages_users.router)
    app.include_router(pages_account.router)
    app.include_router(pages_assignments.router)
