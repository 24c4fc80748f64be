"""Server-rendered French pages (placeholder until the pages land)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from labelflow.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    app.state.templates = Jinja2Templates(directory=settings.templates_dir)
