"""« Tâches » and « Courriels envoyés », pages side (administrators): the jobs with their status
and last error, « Relancer » for an abandoned one (the service of `POST /api/v1/jobs/{id}/retry`),
and the local mailbox where e-mails go when no SMTP host is configured."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import jobs, mail
from labelflow.errors import JobNotAbandoned, NotFound
from labelflow.permissions import JOBS_MANAGE
from labelflow.web.deps import MAX_ID, SessionDep, SettingsDep, permit
from labelflow.web.jobs.present import RETRY_SCHEDULE, STATUS_COUNTS, STATUS_FILTERS, job_row
from labelflow.web.routing import page_router, render

router = page_router()
ADMIN = [permit(JOBS_MANAGE)]
PAGE_SIZE = 50

JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
NOTICES = {"relancee": "La tâche est relancée : le worker l'exécute dans un instant."}


def _jobs_page(
    request: Request,
    session: Session,
    *,
    status: str = "",
    offset: int = 0,
    notice: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    status = status if status in jobs.STATUSES else ""
    rows, total = jobs.list_jobs(session, status=status or None, limit=PAGE_SIZE, offset=offset)
    query = f"?status={status}" if status else ""
    return render(
        request,
        "jobs.html",
        {
            "jobs": [job_row(j) for j in rows],
            "total": total,
            "offset": offset,
            "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
            "counts": jobs.count_by_status(session),
            "status": status,
            "status_filters": STATUS_FILTERS,
            "status_counts": STATUS_COUNTS,
            "retry_schedule": RETRY_SCHEDULE,
            "notice": NOTICES.get(notice, ""),
            "error": error,
            "nav": "jobs",
            "json_url": "/api/v1/jobs" + query,
        },
        status_code,
    )


@router.get("/taches", dependencies=ADMIN)
def jobs_page(
    request: Request,
    session: SessionDep,
    status: Annotated[str, Query(max_length=20)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    fait: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _jobs_page(request, session, status=status, offset=offset, notice=fait)


@router.post("/taches/{job_id}/relancer", dependencies=ADMIN)
def retry_job(
    request: Request,
    job_id: JobId,
    session: SessionDep,
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    try:
        jobs.retry(session, job=jobs.get_job(session, job_id))
    except (JobNotAbandoned, NotFound) as exc:
        session.rollback()
        return _jobs_page(
            request, session, status=status, error=exc.message, status_code=exc.status
        )
    back = f"&status={status}" if status in jobs.STATUSES else ""
    return RedirectResponse(f"/taches?fait=relancee{back}", status_code=303)


@router.get("/courriels", dependencies=ADMIN)
def mailbox_page(request: Request, settings: SettingsDep) -> Response:
    entries, total = mail.list_mailbox(settings.mailbox_dir)
    return render(
        request,
        "mailbox.html",
        {
            "entries": entries,
            "total": total,
            "smtp_host": settings.smtp_host,
            "mailbox_dir": settings.mailbox_dir,
            "message": None,
            "nav": "mailbox",
        },
    )


MailName = Annotated[str, Path(max_length=60, pattern=r"^[0-9A-Za-z.-]+$")]


@router.get("/courriels/{name}", dependencies=ADMIN)
def mailbox_message_page(request: Request, name: MailName, settings: SettingsDep) -> Response:
    message = mail.read_mailbox(settings.mailbox_dir, name)
    return render(
        request,
        "mailbox.html",
        {
            "entries": [],
            "total": 0,
            "smtp_host": settings.smtp_host,
            "mailbox_dir": settings.mailbox_dir,
            "message": message,
            "nav": "mailbox",
        },
    )
