"""Configuration, read once from `LABELFLOW_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SECRET = "dev-only-not-secret"
DEFAULT_REQUESTS_IN_FLIGHT = 20


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
    # Largest document accepted, enforced while the upload streams in (413 beyond).
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # The document types accepted: a subset of `files.SAFE_TYPES` (never more).
    allowed_media_types: list[str] = [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/tiff",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/csv",
        "text/plain",
    ]
    # ClamAV's daemon, `host:port` or a socket path: every upload is scanned before it is kept.
    clamd_address: str = ""
    # Where documents are kept: empty for `documents_dir`, or `s3://bucket/prefix`.
    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""
    sqlite_busy_timeout_ms: int = 15_000
    # Requests served at once by one process. The thread pool gets as many threads and the
    # database pool as many connections (plus as many again for a read request's own short
    # write), so that a request admitted never waits for either: see web/limits.py.
    max_requests_in_flight: int = Field(default=DEFAULT_REQUESTS_IN_FLIGHT, ge=1, le=1000)
    # How long a request beyond that waits for its turn before a 503 with Retry-After (and how
    # long a connection is waited for, should the pool ever run dry).
    saturation_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    # Signs the login form's anti-forgery token. Must be set in production (checked at start).
    secret_key: str = DEFAULT_SECRET
    session_idle_minutes: int = Field(default=120, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    # Bureau quorum: present non-recused members must be MORE than this share of the Bureau's
    # non-recused members (0.5: more than half).
    bureau_quorum_fraction: float = Field(default=0.5, ge=0, lt=1)
    # How the national team is reached, shown on the help page and when sign-in is locked.
    contact_email: str = Field(default="equipe.nationale@example.org", min_length=3, max_length=320)
    host: str = "127.0.0.1"
    port: int = 8000
    # How many server processes `labelflow serve` runs (uvicorn's workers), on one database.
    processes: int = Field(default=1, ge=1, le=64)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, `*` for any): empty, the client address is the connection's.
    trusted_proxies: str = ""
    # One line per request on standard output (uvicorn's access log).
    access_log: bool = True
    demo: bool = False

    # Follow-up (DESIGN §9). Without an SMTP host, e-mails go to the local mailbox (`mailbox_dir`).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = "labelflow <ne-pas-repondre@labelflow.invalid>"
    # Links in e-mails are absolute under this address.
    base_url: str = "http://127.0.0.1:8000"
    # `labelflow serve` runs one worker in its process (false where dedicated workers run).
    worker: bool = True
    # How often an idle worker looks for due jobs (and renews the scheduler's lease).
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # How long a claimed job is its worker's before another may take it again.
    job_lease_seconds: int = Field(default=300, ge=5, le=86_400)
    # A deadline is « bientôt » this many days before it is due (its status, the dashboard's
    # count, the first reminder).
    due_soon_days: int = Field(default=30, ge=1, le=365)
    # Webhooks (DESIGN §11): addresses resolving to private or loopback networks are refused
    # unless this is true (tests, a receiver on the same host).
    webhooks_allow_private: bool = False
    # Every hit of a per-process cache (`labelflow.cache`) is computed again and compared: a
    # stale value raises. For the test suite (it doubles the cached work), never production.
    cache_check: bool = False

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'labelflow.db'}"

    @property
    def mailbox_dir(self) -> Path:
        return self.data_dir / "mailbox"

    @property
    def resolved_documents_dir(self) -> Path:
        return self.documents_dir or self.data_dir / "documents"

    def check_production(self) -> None:
        """Refuse to run in production with the development secret."""
        if self.environment == "production" and self.secret_key in ("", DEFAULT_SECRET):
            raise ValueError(
                "LABELFLOW_SECRET_KEY doit être défini (une longue valeur aléatoire) en production."
            )
