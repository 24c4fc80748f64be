"""Jobs and the local mailbox as shown: the API's shape, the pages' French labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from labelflow import jobs, notifications, webhooks
from labelflow.models import Job
from labelflow.schemas import JobPublic

KIND_LABELS = {
    notifications.EMAIL_JOB: "Courriel d'une notification",
    notifications.DIGEST_JOB: "Résumé quotidien",
    notifications.DIGESTS_JOB: "Préparation des résumés quotidiens",
    jobs.REMINDERS_JOB: "Rappels d'échéances",
    webhooks.JOB: "Envoi d'un webhook",
}
STATUS_BADGES = {
    jobs.PENDING: "neutral",
    jobs.RUNNING: "info",
    jobs.DONE: "success",
    jobs.ABANDONED: "danger",
}
# The counts above the list (short: they stay on one line on a phone).
STATUS_COUNTS = {
    jobs.PENDING: "En attente",
    jobs.RUNNING: "En cours",
    jobs.DONE: "Faites",
    jobs.ABANDONED: "Abandonnées",
}
STATUS_FILTERS = {
    jobs.PENDING: "En attente (dont les nouvelles tentatives prévues)",
    jobs.RUNNING: "En cours",
    jobs.DONE: "Faites",
    jobs.ABANDONED: "Abandonnées",
}


def delay_label(delay: timedelta) -> str:
    minutes = int(delay.total_seconds() // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"


# « 1 min, 5 min, 30 min, 2 h, 6 h, 24 h »: the retry schedule as the page tells it.
RETRY_SCHEDULE = ", ".join(delay_label(d) for d in jobs.RETRY_DELAYS)


def job_public(job: Job) -> JobPublic:
    return JobPublic.model_validate(job, from_attributes=True)


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    kind_label: str
    status: str
    status_label: str
    badge: str
    attempts: int
    next_attempt_at: Any
    last_error: str | None
    created_at: Any
    done_at: Any
    locked_until: Any  # while en_cours: another worker may take it again after this
    retryable: bool
    detail: str  # what the job is about (its payload), in a few words


def _detail(job: Job) -> str:
    payload = job.payload or {}
    if "delivery_id" in payload:
        return f"envoi n° {payload['delivery_id']}"
    if "notification_id" in payload:
        return f"notification n° {payload['notification_id']}"
    if "user_id" in payload and "day" in payload:
        return f"compte n° {payload['user_id']}, jour {payload['day']}"
    if "slot" in payload:
        return f"créneau {payload['slot']}"
    return ""


def job_row(job: Job) -> JobRow:
    return JobRow(
        id=job.id or 0,
        kind=job.kind,
        kind_label=KIND_LABELS.get(job.kind, job.kind),
        status=job.status,
        status_label=jobs.STATUS_LABELS.get(job.status, job.status),
        badge=STATUS_BADGES.get(job.status, "neutral"),
        attempts=job.attempts,
        next_attempt_at=job.next_attempt_at,
        last_error=job.last_error,
        created_at=job.created_at,
        done_at=job.done_at,
        locked_until=job.locked_until if job.status == jobs.RUNNING else None,
        retryable=job.status == jobs.ABANDONED,
        detail=_detail(job),
    )
