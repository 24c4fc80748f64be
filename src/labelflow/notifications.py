"""In-app notifications and their e-mails (DESIGN §9).

A fact's subscriber calls `notify` with the people concerned: in the same transaction, one
`notifications` row per person (the bell, the « Notifications » page) and, for those who want it
at once, one `courriel_notification` job that e-mails it after the commit (the outbox: see
`jobs.py`). Those who chose the daily digest get theirs at 8:00 Paris time (`digest` job);
`application` means in the application only. The person who acts is never told of their own act.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from labelflow import dates, jobs, mail
from labelflow.actors import Actor
from labelflow.bureau import BUREAU_ROLE, decision_file_url
from labelflow.decisions import OUTCOME_LABELS
from labelflow.documents import GENERATED_TYPE_LABELS
from labelflow.errors import EssentialNotification, NotFound
from labelflow.events import Fact
from labelflow.french import de
from labelflow.models import (
    BureauMeeting,
    MeetingAgendaItem,
    Notification,
    NotificationPreference,
    Project,
    ProjectFollower,
    ProjectMember,
    User,
    id_of,
)
from labelflow.permissions import PIPELINE_READ, require
from labelflow.projects import definition_of
from labelflow.workflow import WorkflowDefinition

IMMEDIATE = "immediat"
DAILY = "quotidien"
IN_APP = "application"
MODES = (IMMEDIATE, DAILY, IN_APP)
MODE_LABELS = {
    IMMEDIATE: "par courriel, tout de suite",
    DAILY: "par courriel, un résumé chaque jour à 8 h",
    IN_APP: "dans l’application seulement",
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
    "webhook": "Webhooks désactivés (administrateurs)",
    "invitation": "Invitation à créer votre mot de passe",
    "mot_de_passe": "Réinitialisation du mot de passe",
}
# Sent at once whatever the person chose: without them, no one could sign in.
ESSENTIAL = frozenset({"invitation", "mot_de_passe"})
# Only administrators are ever told of these (a webhook disabled): « Mon compte » shows the
# choice to them alone.
ADMIN_KINDS = frozenset({"webhook"})

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


def _active_modes(
    session: Session, user_ids: set[int], kind: str, region: str | None = None
) -> dict[int, str]:
    """The active accounts among `user_ids`, each with its mode for `kind`, in one query; about
    a project of `region`, regional staff of other régions are left out (they do not see it)."""
    chosen = session.exec(
        select(User.id, NotificationPreference.mode, User.role, User.regions)
        .outerjoin(
            NotificationPreference,
            sa.and_(
                col(NotificationPreference.user_id) == User.id,
                col(NotificationPreference.kind) == kind,
            ),
        )
        .where(col(User.id).in_(user_ids), col(User.active).is_(True))
    ).all()
    return {
        int(user_id): IMMEDIATE if kind in ESSENTIAL or mode is None else mode
        for user_id, mode, role, regions in chosen
        if user_id is not None
        and (region is None or role != "staff" or not regions or region in regions)
    }


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
    modes = _active_modes(session, wanted, kind, project.region if project is not None else None)
    if not modes:
        return []
    now = dates.now()
    values: list[dict[str, Any]] = [
        {
            "user_id": user_id,
            "kind": kind,
            "project_id": project.id if project is not None else None,
            "title": title[:300],
            "body": body,
            "url": url,
            "delivery": mode,
            "created_at": now,
        }
        for user_id, mode in sorted(modes.items())
    ]
    # One INSERT … RETURNING for them all, through the table rather than the ORM's unit of
    # work: a subscriber runs inside its fact's request (bench/notify.py measures the cost).
    table: Any = Notification.__table__  # type: ignore[attr-defined]
    ids = session.execute(
        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), values
    ).scalars()
    # Plain copies of what was written (not attached to the session: read them, do not add them).
    rows = [Notification.model_construct(id=i, **v) for i, v in zip(ids, values, strict=True)]
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


# A page of labelflow closing a line of a notification's body (« — Régie X : /bureau#… »).
_PATH_AT_END = re.compile(r"(?m)(?<=: )(/[^\s]*)$")


def _absolute_paths(body: str, base_url: str) -> str:
    """The body as e-mailed: the pages it names at the end of its lines, absolute."""
    return _PATH_AT_END.sub(lambda m: absolute(base_url, m.group(1)), body)


def _item(session: Session, notification: Notification, base_url: str) -> EmailItem:
    project = (
        session.get(Project, notification.project_id)
        if notification.project_id is not None
        else None
    )
    return EmailItem(
        title=notification.title,
        body=_absolute_paths(notification.body, base_url),
        link=absolute(base_url, notification.url),
        project_name=project.name if project is not None else None,
    )


def _mark_emailed(ids: list[int]) -> jobs.Finish:
    def finish(session: Session) -> None:
        session.execute(
            sa.update(Notification)
            .where(col(Notification.id).in_(ids))
            .values(emailed_at=dates.now())
        )

    return finish


def send_notification_email(ctx: jobs.JobContext) -> jobs.Finish | None:
    """Job `courriel_notification` (outside): the e-mail of one notification."""
    session = ctx.session
    notification = session.get(Notification, ctx.payload["notification_id"])
    if notification is None or notification.emailed_at is not None:
        return None  # gone with its account, or already sent (a job run twice)
    user = session.get(User, notification.user_id)
    if user is None or not user.active:
        return None
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
    return _mark_emailed([id_of(notification)])


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


def send_digest(ctx: jobs.JobContext) -> jobs.Finish | None:
    """Job `resume_quotidien` {user_id, day} (outside): one e-mail gathering the waiting ones."""
    session = ctx.session
    user = session.get(User, ctx.payload["user_id"])
    if user is None or not user.active:
        return None
    items = pending_digest(session, user_id=id_of(user), until=dates.now())
    if not items:
        return None
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
    return _mark_emailed([id_of(n) for n in items])


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


def unread_count(user_id: Any) -> Any:
    """The bell: the user's unread notifications, a scalar subquery for a user id (a bind
    parameter: built once, `project_view.shell_counts`)."""
    return (
        select(sa.func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
        .scalar_subquery()
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


# --- the notifications page and the bell ----------------------------------------------------------


def list_notifications(
    session: Session, *, user_id: int, limit: int, offset: int
) -> tuple[list[Notification], int, int]:
    """A page of the person's notifications, newest first; with their total and unread counts."""
    rows = session.exec(
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total, unread = session.exec(
        select(
            sa.func.count(),
            sa.func.count().filter(col(Notification.read_at).is_(None)),
        )
        .select_from(Notification)
        .where(Notification.user_id == user_id)
    ).one()
    return list(rows), int(total), int(unread)


def project_names(session: Session, rows: Iterable[Notification]) -> dict[int, str]:
    """The names of the projects `rows` are about, in one query (for a page of them)."""
    ids = {n.project_id for n in rows if n.project_id is not None}
    if not ids:
        return {}
    found = session.exec(select(Project.id, Project.name).where(col(Project.id).in_(ids))).all()
    return {int(i): name for i, name in found if i is not None}


def get_notification(session: Session, *, user_id: int, notification_id: int) -> Notification:
    """One of the person's own notifications (another person's does not exist for them: 404)."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound("Cette notification est introuvable.")
    return notification


def mark_read(session: Session, *, user_id: int, notification_id: int) -> Notification:
    notification = get_notification(session, user_id=user_id, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = dates.now()
        session.add(notification)
        session.flush()
    return notification


def mark_all_read(session: Session, *, user_id: int) -> int:
    """Every unread notification of the person, read now; how many were unread."""
    result = session.execute(
        sa.update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=dates.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- preferences ----------------------------------------------------------------------------------


def preferences_of(session: Session, *, user_id: int) -> dict[str, str]:
    """Every kind with the person's mode (the essential kinds: always at once)."""
    chosen = dict(
        session.exec(
            select(NotificationPreference.kind, NotificationPreference.mode).where(
                NotificationPreference.user_id == user_id
            )
        ).all()
    )
    return {kind: IMMEDIATE if kind in ESSENTIAL else chosen.get(kind, IMMEDIATE) for kind in KINDS}


def update_preferences(
    session: Session, *, user_id: int, changes: Mapping[str, str]
) -> dict[str, str]:
    """Apply the kinds given (the others keep their mode); all or nothing."""
    unknown = [k for k in changes if k not in KINDS]
    bad_modes = [k for k, m in changes.items() if m not in MODES]
    if unknown or bad_modes:  # the API's schema refuses these first; a form may not
        raise ValueError(f"unknown kinds {unknown} or modes for {bad_modes}")
    lowered = [k for k, m in changes.items() if k in ESSENTIAL and m != IMMEDIATE]
    if lowered:
        names = " ; ".join(f"« {KINDS[k]} »" for k in lowered)
        raise EssentialNotification(
            f"Ces courriels sont indispensables pour vous connecter et restent envoyés tout de "
            f"suite : {names}.",
            fields=[
                {
                    "field": f"notifications.{k}",
                    "message": f"« {KINDS[k]} » est toujours envoyé par courriel, tout de suite.",
                }
                for k in lowered
            ],
        )
    for kind, mode in changes.items():
        if kind in ESSENTIAL:
            continue
        existing = session.get(NotificationPreference, (user_id, kind))
        if mode == IMMEDIATE:  # the default: no row to keep
            if existing is not None:
                session.delete(existing)
            continue
        if existing is None:
            existing = NotificationPreference(user_id=user_id, kind=kind, mode=mode)
        existing.mode = mode
        session.add(existing)
    session.flush()
    return preferences_of(session, user_id=user_id)


# --- followers ------------------------------------------------------------------------------------


def follow(session: Session, *, project: Project, actor: Actor) -> bool:
    """A staff member follows the project (idempotent); whether they follow it now."""
    require(actor, PIPELINE_READ)
    assert actor.user_id is not None
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(ProjectFollower)
        .values(project_id=id_of(project), user_id=actor.user_id, created_at=dates.now())
        .on_conflict_do_nothing(index_elements=["project_id", "user_id"])
    )
    return True


def unfollow(session: Session, *, project: Project, actor: Actor) -> bool:
    """The staff member stops following the project (idempotent); whether they follow it now."""
    require(actor, PIPELINE_READ)
    session.execute(
        sa.delete(ProjectFollower).where(
            col(ProjectFollower.project_id) == project.id,
            col(ProjectFollower.user_id) == actor.user_id,
        )
    )
    return False


# --- who is told of which fact (subscribed in labelflow.consequences; DESIGN §9's table) --------


def project_url(project: Project) -> str:
    """The project page for staff, « Mon projet » for its porteurs (the same address)."""
    return f"/projects/{project.id}"


def concerned(
    session: Session,
    project: Project,
    *,
    porteurs: bool = False,
    staff: bool = False,
    consultant: bool = False,
) -> set[int]:
    """The people of the project to tell, in one query: its porteurs, its chargé·e de suivi and
    followers, its assigned consultant."""
    queries: list[Any] = []
    if porteurs:
        queries.append(select(ProjectMember.user_id).where(ProjectMember.project_id == project.id))
    if staff:
        queries.append(
            select(ProjectFollower.user_id).where(ProjectFollower.project_id == project.id)
        )
    people: set[int] = set()
    if queries:
        query: Any = queries[0] if len(queries) == 1 else sa.union_all(*queries)
        found: list[Any] = list(session.execute(query).scalars())
        people.update(int(i) for i in found)
    if staff and project.staff_owner_id is not None:
        people.add(project.staff_owner_id)
    if consultant and project.consultant_id is not None:
        people.add(project.consultant_id)
    return people


def _short(text: str, limit: int = 120) -> str:
    """A reason quoted in a title (an e-mail's subject): its first `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _definition(fact: Fact) -> WorkflowDefinition | None:
    if fact.definition is not None:
        return fact.definition
    runtime = fact.runtime
    if runtime is None or fact.project is None:
        return None
    return definition_of(runtime.workflows, fact.project)


def _tell(fact: Fact, *, kind: str, user_ids: Iterable[int], title: str, url: str) -> None:
    notify(
        fact.session,
        kind=kind,
        user_ids=user_ids,
        title=title,
        url=url,
        project=fact.project,
        body=fact.event.comment or "",
        actor_id=fact.actor.user_id,
    )


def on_transition(fact: Fact) -> None:
    """A step changed, or the project was suspended, resumed, closed: porteurs and staff."""
    project, definition = fact.subject
    if fact.kind == "suspension":
        title = "Le projet est suspendu"
    elif fact.kind == "reprise":
        days = int(fact.event.data.get("paused_days") or 0)
        title = "Le projet a repris"
        if days:
            title += f" : ses échéances sont décalées de {days} jour{'s' if days > 1 else ''}"
    else:
        target = definition.state(fact.event.to_state or project.state)
        if target.final or target.step is None:
            title = f"Le projet est passé à « {target.label} »"
        else:
            title = f"Le projet est passé à l'étape {target.step} : {target.label}"
    people = concerned(fact.session, project, porteurs=True, staff=True)
    _tell(fact, kind="transition", user_ids=people, title=title, url=project_url(project))


def _document_label(fact: Fact, doc_type: str) -> str:
    definition = _definition(fact)
    known = definition.document_type(doc_type) if definition is not None else None
    if known is not None:
        return known.label
    return GENERATED_TYPE_LABELS.get(doc_type, doc_type)


def on_document(fact: Fact) -> None:
    """A document added: the staff in charge (not for the letters labelflow makes itself)."""
    project, data = fact.project, fact.event.data
    if project is None or data.get("generated"):
        return
    label = _document_label(fact, str(data.get("type", "")))
    _tell(
        fact,
        kind="document_depose",
        user_ids=concerned(fact.session, project, staff=True),
        title=f"Pièce déposée : {label} (par {fact.actor.name})",
        url=f"{project_url(project)}#pieces",
    )


def on_review(fact: Fact) -> None:
    """A document refused (a correction requested): the porteurs."""
    project, data = fact.project, fact.event.data
    if project is None or data.get("status") != "rejected":
        return
    label = _document_label(fact, str(data.get("type", "")))
    notify(
        fact.session,
        kind="document_refuse",
        user_ids=concerned(fact.session, project, porteurs=True),
        title=f"Pièce refusée : {label} — motif : {_short(fact.event.comment or '')}",
        url=f"{project_url(project)}#pieces",
        project=project,
        body=f"Motif : {fact.event.comment or ''}\n\n"
        "Déposez une nouvelle version de cette pièce sur la page de votre projet.",
        actor_id=fact.actor.user_id,
    )


def on_consultant(fact: Fact) -> None:
    """Assignments: the consultant is told when solicited or when it ends; the staff in charge
    when the consultant declared their independence (active) or a link (refused)."""
    project, data = fact.project, fact.event.data
    if project is None:
        return
    op = data.get("op")
    consultant_id = data.get("user_id")
    if op == "assign" and consultant_id is not None:
        _tell(
            fact,
            kind="affectation",
            user_ids=[int(consultant_id)],
            title="Vous êtes sollicité·e pour une expertise : déclarez votre indépendance",
            url=f"/assignments#mission-{data.get('assignment_id')}",
        )
    elif op == "end" and consultant_id is not None:
        _tell(
            fact,
            kind="affectation",
            user_ids=[int(consultant_id)],
            title="Votre mission d'expertise a pris fin",
            url="/assignments",
        )
    elif op in ("activate", "refuse"):
        name = data.get("name") or fact.actor.name
        title = (
            f"{name} a déclaré son indépendance : l'expertise peut commencer"
            if op == "activate"
            else f"{name} a déclaré un lien avec une partie prenante : l'affectation est refusée"
        )
        _tell(
            fact,
            kind="declaration",
            user_ids=concerned(fact.session, project, staff=True),
            title=title,
            url=f"{project_url(project)}#consultant",
        )


def on_report(fact: Fact) -> None:
    """The report submitted (staff in charge) or reopened (staff in charge and consultant)."""
    project, op = fact.project, fact.event.data.get("op")
    if project is None or op not in ("soumission", "reouverture"):
        return
    reopened = op == "reouverture"
    _tell(
        fact,
        kind="rapport",
        user_ids=concerned(fact.session, project, staff=True, consultant=reopened),
        title=(
            "Le rapport d'expertise est rouvert pour être complété"
            if reopened
            else f"Rapport d'expertise soumis par {fact.actor.name}"
        ),
        url=f"{project_url(project)}/report",
    )


def on_meeting(fact: Fact) -> None:
    """A Bureau meeting convened ahead, moved or cancelled: every active member of the Bureau,
    with the agenda and a link to each decision file. A meeting recorded once held (after the
    fact) or its attendance told no one: the members were there."""
    data = fact.event.data
    op = data.get("op")
    if op not in ("convocation", "deplacement", "annulation"):
        return
    session = fact.session
    meeting = session.get(BureauMeeting, int(data["meeting_id"]))
    if meeting is None:
        return
    members = session.exec(
        select(User.id).where(User.role == BUREAU_ROLE, col(User.active).is_(True))
    ).all()
    when = dates.french_date(meeting.held_on)
    agenda = session.exec(
        select(Project)
        .join(MeetingAgendaItem, col(MeetingAgendaItem.project_id) == Project.id)
        .where(MeetingAgendaItem.meeting_id == meeting.id)
        .order_by(col(MeetingAgendaItem.id))
    ).all()
    lines = [f"— {p.name} : {decision_file_url(p)}" for p in agenda]
    if op == "annulation":
        title = f"Séance du Bureau du {when} annulée"
        body = f"Motif : {fact.event.comment or ''}"
        if lines:
            body += "\n\nDossiers qui étaient à l'ordre du jour :\n" + "\n".join(lines)
    else:
        if op == "convocation":
            title = f"Convocation : séance du Bureau le {when}"
            body = f"Vous êtes convoqué·e à la séance du Bureau du {when}."
        else:
            moved_from = dates.french_date(date.fromisoformat(str(data["moved_from"])))
            title = f"Séance du Bureau déplacée au {when}"
            body = f"La séance du Bureau prévue le {moved_from} se tiendra le {when}."
            if fact.event.comment:
                body += f"\nMotif : {fact.event.comment}"
        if meeting.notes:
            body += f"\n\n{meeting.notes}"
        if lines:
            body += "\n\nOrdre du jour (dossiers de décision) :\n" + "\n".join(lines)
    notify(
        session,
        kind="seance",
        user_ids=members,
        title=title,
        url=f"/bureau/meetings#reunion-{meeting.id}",
        body=body,
        actor_id=fact.actor.user_id,
    )


def on_decision(fact: Fact) -> None:
    """The Bureau's decision: porteurs, staff in charge, the assigned consultant."""
    project = fact.project
    if project is None:
        return
    outcome = str(fact.event.data.get("outcome", ""))
    label = OUTCOME_LABELS.get(outcome, outcome)
    _tell(
        fact,
        kind="decision",
        user_ids=concerned(fact.session, project, porteurs=True, staff=True, consultant=True),
        title=f"Décision du Bureau : {label}",
        url=project_url(project),
    )


def on_deadline_moved(fact: Fact) -> None:
    """A due date moved: porteurs and staff in charge."""
    project, data = fact.project, fact.event.data
    if project is None:
        return
    definition = _definition(fact)
    state = str(data.get("state") or "")
    if data.get("kind") == "label" or not state:
        what = "L'échéance du label"
    elif definition is not None:
        what = f"L'échéance de l'étape « {definition.state(state).label} »"
    else:
        what = "Une échéance"
    moved_to = dates.french_date(date.fromisoformat(str(data["to"])))
    _tell(
        fact,
        kind="echeance",
        user_ids=concerned(fact.session, project, porteurs=True, staff=True),
        title=f"{what} est déplacée au {moved_to}",
        url=f"{project_url(project)}#echeances",
    )


def on_message(fact: Fact) -> None:
    """A message reaches the other side of its audience: porteurs ↔ the staff in charge on
    `projet`, the assigned consultant ↔ the staff in charge on `expertise`, the staff in charge
    for an `interne` note."""
    project = fact.project
    if project is None:
        return
    session, audience = fact.session, fact.event.data.get("audience")
    from_staff = fact.actor.role == "staff"
    people: set[int | None]
    if audience == "projet":
        people = set(
            porteurs_of(session, project) if from_staff else staff_in_charge(session, project)
        )
    elif audience == "expertise":
        people = {project.consultant_id} if from_staff else set(staff_in_charge(session, project))
    else:
        people = set(staff_in_charge(session, project))
    notify(
        session,
        kind="message",
        user_ids=people,
        title=f"Nouveau message {de(fact.actor.name)}",  # « d'Awa Diallo »
        url=f"/projects/{project.id}#messages",
        project=project,
        actor_id=fact.actor.user_id,
    )
