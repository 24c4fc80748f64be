"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine as SAEngine
from sqlalchemy import text

from labelflow import __version__
from labelflow.db import make_engine
from labelflow.documents import DocumentStore
from labelflow.settings import Settings
from labelflow.web import api, api_accounts, api_assignments, api_bureau, api_reports, errors
from labelflow.web.limits import Admission, BodySizeLimit, request_slots
from labelflow.web.security import HardenedFastAPI, install_docs
from labelflow.workflow_store import sync_definitions

log = logging.getLogger("labelflow")


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
    workflows = sync_definitions(db, settings.workflows_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    # HardenedFastAPI: security headers outside every middleware, 500s included.
    app = HardenedFastAPI(
        title="labelflow",
        version=__version__,
        description="Suivi des projets de Régies de Quartier et de Territoire, de la constitution "
        "du groupe projet à la décision du Bureau du Mouvement des Régies.",
        lifespan=lifespan,
        docs_url=None,  # install_docs: Swagger UI from /static, no CDN, no inline script
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.workflows = workflows
    app.state.store = DocumentStore(settings.resolved_documents_dir)

    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    # Outermost of ours: a request waiting for its turn holds no thread and no connection.
    app.add_middleware(
        Admission,
        slots=request_slots(settings, db),
        wait_seconds=settings.saturation_wait_seconds,
    )

    @app.get("/healthz", tags=["service"], summary="État du service")
    def healthz() -> dict[str, str]:
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    app.include_router(api.router)
    app.include_router(api_accounts.router)
    app.include_router(api_bureau.router)
    app.include_router(api_reports.router)
    app.include_router(api_assignments.router)
    install_docs(app)
    from labelflow.web import pages  # noqa: PLC0415  (pages import templates lazily)

    pages.install(app, settings)
    if settings.static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    return app
