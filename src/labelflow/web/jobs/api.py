"""The jobs in the JSON API (administrators): the list, and putting an abandoned one back."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from labelflow import jobs
from labelflow.permissions import JOBS_MANAGE
from labelflow.schemas import JobList, JobPublic, JobStatus
from labelflow.web.deps import MAX_ID, SessionDep, permit
from labelflow.web.jobs.present import job_public
from labelflow.web.routing import api_router

router = api_router()

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de la tâche")]


@router.get(
    "/jobs",
    tags=["tâches"],
    summary="Tâches (courriels, résumés, rappels), les plus récentes d'abord",
    dependencies=[permit(JOBS_MANAGE)],
)
def list_jobs(
    session: SessionDep,
    status: Annotated[JobStatus | None, Query(description="Seulement ce statut")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JobList:
    rows, total = jobs.list_jobs(session, status=status, limit=limit, offset=offset)
    return JobList(items=[job_public(j) for j in rows], total=total, limit=limit, offset=offset)


@router.post(
    "/jobs/{job_id}/retry",
    tags=["tâches"],
    summary="Relancer une tâche abandonnée",
    dependencies=[permit(JOBS_MANAGE)],
)
def retry_job(job_id: JobId, session: SessionDep) -> JobPublic:
    return job_public(jobs.retry(session, job=jobs.get_job(session, job_id)))
