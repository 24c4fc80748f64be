"""In-app notifications and their e-mails (DESIGN §9).

A fact's subscriber calls `notify` with the people concerned: in the same transaction, one
`notifications` row per person (the bell, the « Notifications » page) and, for those who want it
at once, one `courriel_notification` job that e-mails it after the commit (the outbox: see
`jobs.py`). Those who chose the daily digest get theirs at 8:00 Paris time (`digest` job);
`application` means in the application only. The person who acts is never told of their own act.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from labelflow import dates, jobs, mail
from labelflow.models import (
    Notification,
    NotificationPreference,
    Project,
    ProjectFollower,
    ProjectMember,
    User,
    id_of,
)

IMMEDIATE = "immediat"
DAILY = "quotidien"
IN_APP = "application"
MODES = (IMMEDIATE, DAILY, IN_APP)
MODE_LABELS = {
    IMMEDIATE: "par courriel, tout de suite",
    DAILY: "par courriel, un résumé chaque jour à 8 h",
    IN_APP: "dans l'application seulement",
}

# Every kind, with the French name shown on « Mon compte » (DESIGN §13).
KINDS: dict[str, str] = {
    "transition": "Changements d'étape, suspensions, reprises",
    "echeance": "Échéances déplacées",
    "rappel": "Rappels d'échéances",
    "document_depose": "Pièces déposées",
    "document_refuse": "Pièces à corriger",
    "message": "Messages",
    "affectation": "Affectations d'expertise",
    "declaration": "Déclarations d'indépendance",
    "rapport": "Rapports d'expertise",
    "seance": "Séances du Bureau",
    "decision": "Décisions du Bureau",
    "invitation": "Invitation à créer votre mot de passe",
    "mot_de_passe": "Réinitialisation du mot de passe",
}
# Sent at once whatever the person chose: without them, no one could sign in.
ESSENTIAL = frozenset({"invitation", "mot_de_passe"})

EMAIL_JOB = "courriel_notification"
DIGEST_JOB = "resume_quotidien"
# The periodic job (once a day, `jobs.PERIODIC`) that enqueues the day's digests.
DIGESTS_JOB = "resumes"
DIGEST_HOUR = 8  # Paris time


# --- who is concerned -----------------------------------------------------------------------------


def staff_in_charge(session: Session, project: Project) -> set[int]:
    """The project's chargé·e de suivi and the staff members following it."""
    people = set(
        session.exec(
            select(ProjectFollower.user_id).where(ProjectFollower.project_id == project.id)
        ).all()
    )
    if project.staff_owner_id is not None:
        people.add(project.staff_owner_id)
    return people


def porteurs_of(session: Session, project: Project) -> set[int]:
    return set(
        session.exec(
            select(ProjectMember.user_id).where(ProjectMember.project_id == project.id)
        ).all()
    )


# --- preferences ----------------------------------------------------------------------------------


def modes_of(session: Session, user_ids: Iterable[int], kind: str) -> dict[int, str]:
    """Each person's delivery for `kind` (the essential kinds: always at once)."""
    ids = list(user_ids)
    modes = dict.fromkeys(ids, IMMEDIATE)
    if kind in ESSENTIAL or not ids:
        return modes
    chosen = session.exec(
        select(NotificationPreference.user_id, NotificationPreference.mode).where(
            col(NotificationPreference.user_id).in_(ids), NotificationPreference.kind == kind
        )
    ).all()
    modes.update({user_id: mode for user_id, mode in chosen})
    return modes


# --- notifying ------------------------------------------------------------------------------------


def notify(
    session: Session,
    *,
    kind: str,
    user_ids: Iterable[int | None],
    title: str,
    url: str,
    project: Project | None = None,
    body: str = "",
    actor_id: int | None = None,
) -> list[Notification]:
    """Tell each active person of `user_ids` (but the actor), in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    wanted = {i for i in user_ids if i is not None and i != actor_id}
    if not wanted:
        return []
    active = session.exec(
        select(User.id).where(col(User.id).in_(wanted), col(User.active).is_(True))
    ).all()
    modes = modes_of(session, [i for i in active if i is not None], kind)
    now = dates.now()
    rows = [
        Notification(
            user_id=user_id,
            kind=kind,
            project_id=project.id if project is not None else None,
            title=title[:300],
            body=body,
            url=url,
            delivery=mode,
            created_at=now,
        )
        for user_id, mode in sorted(modes.items())
    ]
    session.add_all(rows)
    session.flush()
    jobs.enqueue_many(
        session,
        [
            jobs.NewJob(
                EMAIL_JOB,
                {"notification_id": id_of(row)},
                dedupe_key=f"notification:{id_of(row)}",
            )
            for row in rows
            if row.delivery == IMMEDIATE
        ],
    )
    return rows


# --- the e-mails (job handlers) -------------------------------------------------------------------


@dataclass(frozen=True)
class EmailItem:
    title: str
    body: str
    link: str
    project_name: str | None


def absolute(base_url: str, url: str) -> str:
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def _item(session: Session, notification: Notification, base_url: str) -> EmailItem:
    project = (
        session.get(Project, notification.project_id)
        if notification.project_id is not None
        else None
    )
    return EmailItem(
        title=notification.title,
        body=notification.body,
        link=absolute(base_url, notification.url),
        project_name=project.name if project is not None else None,
    )


def send_notification_email(ctx: jobs.JobContext) -> None:
    """Job `courriel_notification`: the e-mail of one notification."""
    session = ctx.session
    notification = session.get(Notification, ctx.payload["notification_id"])
    if notification is None or notification.emailed_at is not None:
        return  # gone with its account, or already sent (a job run twice)
    user = session.get(User, notification.user_id)
    if user is None or not user.active:
        return
    if ctx.runtime is None:
        raise jobs.PermanentFailure("pas de gabarits de courriel (runtime absent)")
    item = _item(session, notification, ctx.settings.base_url)
    rendered = mail.render(
        ctx.runtime.templates,
        "notification",
        {"user": user, "item": item, "kind": notification.kind, "base_url": ctx.settings.base_url},
    )
    message = mail.compose(settings=ctx.settings, to=(user.name, user.email), rendered=rendered)
    mail.send(message, settings=ctx.settings)
    notification.emailed_at = dates.now()
    session.add(notification)


def pending_digest(session: Session, *, user_id: int, until: datetime) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(
                Notification.user_id == user_id,
                Notification.delivery == DAILY,
                col(Notification.emailed_at).is_(None),
                col(Notification.created_at) <= until,
            )
            .order_by(col(Notification.id))
        ).all()
    )


def send_digest(ctx: jobs.JobContext) -> None:
    """Job `resume_quotidien` {user_id, day}: one e-mail gathering the day's notifications."""
    session = ctx.session
    user = session.get(User, ctx.payload["user_id"])
    if user is None or not user.active:
        return
    items = pending_digest(session, user_id=id_of(user), until=dates.now())
    if not items:
        return
    if ctx.runtime is None:
        raise jobs.PermanentFailure("pas de gabarits de courriel (runtime absent)")
    rendered = mail.render(
        ctx.runtime.templates,
        "digest",
        {
            "user": user,
            "items": [_item(session, n, ctx.settings.base_url) for n in items],
            "day": date.fromisoformat(ctx.payload["day"]),
            "base_url": ctx.settings.base_url,
        },
    )
    message = mail.compose(settings=ctx.settings, to=(user.name, user.email), rendered=rendered)
    mail.send(message, settings=ctx.settings)
    now = dates.now()
    session.execute(
        sa.update(Notification)
        .where(col(Notification.id).in_([id_of(n) for n in items]))
        .values(emailed_at=now)
    )


def schedule_digests(session: Session, *, day: date) -> int:
    """One `resume_quotidien` job per person with digest notifications waiting (once per day)."""
    users = session.exec(
        select(Notification.user_id)
        .where(Notification.delivery == DAILY, col(Notification.emailed_at).is_(None))
        .distinct()
    ).all()
    jobs.enqueue_many(
        session,
        [
            jobs.NewJob(
                DIGEST_JOB,
                {"user_id": user_id, "day": day.isoformat()},
                dedupe_key=f"digest:{user_id}:{day.isoformat()}",
            )
            for user_id in users
        ],
    )
    return len(users)


def plan_digests(ctx: jobs.JobContext) -> None:
    """Periodic job `resumes` {slot: day}: the day's `resume_quotidien` jobs."""
    schedule_digests(ctx.session, day=date.fromisoformat(ctx.payload["slot"]))


def unread_count(session: Session, *, user_id: int) -> int:
    return int(
        session.exec(
            select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
        ).one()
    )


def payload_of(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "project_id": notification.project_id,
        "title": notification.title,
        "url": notification.url,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }
