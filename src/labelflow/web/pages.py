"""Server-rendered French pages: the templates, the home page and the workflow pages.

The project pages live in `pages_projects` and `pages_records`; every handler calls the same
service functions as the JSON API (`web/api.py`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from labelflow import dates, projects
from labelflow.errors import NotFound
from labelflow.settings import Settings
from labelflow.web import page_views
from labelflow.web.deps import EngineDep, SessionDep
from labelflow.workflow import COLLEGE_LABELS, mermaid

router = APIRouter(include_in_schema=False)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def make_templates(settings: Settings) -> Jinja2Templates:
    # No per-render stat() of every template file unless asked (LABELFLOW_TEMPLATES_AUTO_RELOAD).
    env = Environment(
        loader=FileSystemLoader(settings.templates_dir),
        autoescape=select_autoescape(),
        auto_reload=settings.templates_auto_reload,
    )
    templates = Jinja2Templates(env=env)
    env.filters["french_date"] = dates.french_date
    env.filters["french_datetime"] = dates.french_datetime
    env.filters["filesize"] = page_views.filesize
    env.globals.update(
        college_labels=COLLEGE_LABELS,
        kind_labels=page_views.KIND_LABELS,
        initiator_labels=page_views.INITIATOR_LABELS,
        today=dates.today,
    )
    return templates


@router.get("/")
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
    from labelflow.web import pages_projects, pages_records  # noqa: PLC0415

    app.state.templates = make_templates(settings)
    app.include_router(router)
    app.include_router(pages_projects.router)
    app.include_router(pages_records.router)
