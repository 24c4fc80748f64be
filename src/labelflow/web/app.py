"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine as SAEngine
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from labelflow import __version__, cache, consequences, deadlines
from labelflow.db import make_engine, ping
from labelflow.settings import Settings
from labelflow.web import errors, openapi
from labelflow.web.account import api as account_api
from labelflow.web.account import pages as account_pages
from labelflow.web.assignments import api as assignments_api
from labelflow.web.assignments import pages as assignments_pages
from labelflow.web.bureau import api as bureau_api
from labelflow.web.bureau import pages as bureau_pages
from labelflow.web.documents import api as documents_api
from labelflow.web.documents import pages as documents_pages
from labelflow.web.exports import api as exports_api
from labelflow.web.feeds import api as feeds_api
from labelflow.web.help import pages as help_pages
from labelflow.web.jobs import api as jobs_api
from labelflow.web.jobs import pages as jobs_pages
from labelflow.web.kept import KeptReads
from labelflow.web.limits import Edge, request_slots
from labelflow.web.messages import api as messages_api
from labelflow.web.messages import pages as messages_pages
from labelflow.web.migrations import api as migrations_api
from labelflow.web.migrations import pages as migrations_pages
from labelflow.web.milestones import api as milestones_api
from labelflow.web.milestones import pages as milestones_pages
from labelflow.web.notifications import api as notifications_api
from labelflow.web.notifications import pages as notifications_pages
from labelflow.web.open_data import api as open_data_api
from labelflow.web.open_data import pages as open_data_pages
from labelflow.web.projects import api as projects_api
from labelflow.web.projects import pages as projects_pages
from labelflow.web.records import api as records_api
from labelflow.web.records import pages as records_pages
from labelflow.web.report import api as report_api
from labelflow.web.report import pages as report_pages
from labelflow.web.security import HardenedFastAPI, install_docs
from labelflow.web.stats import api as stats_api
from labelflow.web.stats import pages as stats_pages
from labelflow.web.templating import make_templates
from labelflow.web.users import api as users_api
from labelflow.web.users import pages as users_pages
from labelflow.web.webhooks import api as webhooks_api
from labelflow.web.webhooks import pages as webhooks_pages
from labelflow.worker import build_runtime

log = logging.getLogger("labelflow")


API_ROOT = "/api/"


class _Under(APIRouter):
    """Routers whose every route lives under `root`: an address elsewhere skips them at once.

    FastAPI tries an app's routes one after the other, 2 µs each: a page tried the 89 routes
    of the JSON API before its own (0.16 ms in-process: more than the bare app's whole
    request, served).
    """

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def include_router(self, router: APIRouter, **options: Any) -> None:
        outside = [r.path for r in router.routes if not r.path.startswith(self.root)]  # type: ignore[attr-defined]
        assert not outside, f"not under {self.root}: {outside}"
        super().include_router(router, **options)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(self.root):
            return Match.NONE, {}
        return super().matches(scope)


def create_app(settings: Settings | None = None, *, db: SAEngine | None = None) -> FastAPI:
    """Build the app. Definitions are validated and their machines built here, once."""
    settings = settings or Settings()
    settings.check_production()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = db or make_engine(
        settings.resolved_database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.max_requests_in_flight,
        pool_timeout=settings.saturation_wait_seconds,
    )
    templates = make_templates(settings)
    # What the subscribers of facts need (the worker builds the same): attached to every
    # request's session (deps.get_session).
    runtime = build_runtime(settings, db, templates=templates.env)
    consequences.install()
    deadlines.configure(due_soon_days=settings.due_soon_days)
    cache.configure(check=settings.cache_check)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    # HardenedFastAPI: the edge (security headers, limits) outside every middleware, 500s
    # included.
    app = HardenedFastAPI(
        title="labelflow",
        version=__version__,
        description="Suivi des projets de Régies de Quartier et de Territoire, de la constitution "
        "du groupe projet à la décision du Bureau du Mouvement des Régies.",
        lifespan=lifespan,
        docs_url=None,  # install_docs: Swagger UI from /static, no CDN, no inline script
        redoc_url=None,
        # No OpenTelemetry here: on, FastAPI asks its global providers at every request (3 % of
        # a kept project JSON's CPU, served).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.db = db
    app.state.workflows = runtime.workflows
    app.state.store = runtime.store
    app.state.runtime = runtime

    errors.install(app)
    # Outside every middleware: a request waiting for its turn holds no thread and no connection.
    edge = partial(
        Edge,
        slots=request_slots(settings, db),
        wait_seconds=settings.saturation_wait_seconds,
        max_bytes=settings.max_upload_bytes,
        health_check=lambda: ping(db),
    )
    # Inside the edge (its headers, its limits), before the rest: the kept project reads.
    app.edge = lambda stack: edge(KeptReads(stack))

    @app.get("/healthz", tags=["service"], summary="État du service")
    async def healthz() -> dict[str, str]:
        # limits.Edge answers while the database does; this route answers when the check
        # fails (through the error handlers), and documents the address.
        ping(db)
        return {"status": "ok"}

    # One JSON API router and one pages router per concept (see ARCHITECTURE.md).
    api_routes = _Under(API_ROOT)
    for api in (
        projects_api,
        records_api,
        bureau_api,
        documents_api,
        account_api,
        users_api,
        report_api,
        assignments_api,
        messages_api,
        milestones_api,
        notifications_api,
        jobs_api,
        feeds_api,
        webhooks_api,
        exports_api,
        stats_api,
        migrations_api,
    ):
        api_routes.include_router(api.router)
    # Before any sign-in: the invitation and password-reset links.
    api_routes.include_router(account_api.public_router)
    # The open data: anyone's, without signing in.
    api_routes.include_router(open_data_api.public_router)
    app.include_router(api_routes)
    app.include_router(open_data_api.files_router)
    # A calendar application knows only the feed's secret address.
    app.include_router(feeds_api.public_router)
    install_docs(app)
    openapi.install(app)
    app.state.templates = templates
    for pages in (
        account_pages,
        projects_pages,
        records_pages,
        documents_pages,
        bureau_pages,
        report_pages,
        users_pages,
        assignments_pages,
        messages_pages,
        milestones_pages,
        help_pages,
        notifications_pages,
        jobs_pages,
        open_data_pages,
        stats_pages,
        webhooks_pages,
        migrations_pages,
    ):
        app.include_router(pages.router)
    if settings.static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    return app


def served_app() -> FastAPI:
    """The app of each process of `labelflow serve --workers N` (uvicorn imports it by name):
    its settings from the environment, as the command's own."""
    return create_app(Settings())
