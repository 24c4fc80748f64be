"""Configuration, read once from `LABELFLOW_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELFLOW_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    # Empty means an embedded SQLite file in data_dir.
    database_url: str = ""
    documents_dir: Path | None = None
    workflows_dir: Path = PROJECT_ROOT / "workflows"
    templates_dir: Path = PROJECT_ROOT / "templates"
    static_dir: Path = PROJECT_ROOT / "static"
    # Re-read templates when their files change (for whoever edits them while serving).
    templates_auto_reload: bool = False
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    allowed_media_types: list[str] = [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "text/plain",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/msword",
    ]
    sqlite_busy_timeout_ms: int = 15_000
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'labelflow.db'}"

    @property
    def resolved_documents_dir(self) -> Path:
        return self.documents_dir or self.data_dir / "documents"
