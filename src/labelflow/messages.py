"""A project's messages: one thread, three audiences, attachments, who waits for whom, and how
far each user has read it.

Audiences (`permissions.MESSAGE_AUDIENCES`): `projet` (staff and the project's porteurs),
`interne` (staff only), `expertise` (staff and the assigned consultant). Which role reads and
writes which is `permissions.message_audiences`; which projects a user sees is the visibility
rule (`projects.visible_project`), so a consultant no longer assigned sees none of it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.documents import create_document
from labelflow.errors import (
    AttachmentInvalid,
    EmptyMessage,
    Forbidden,
    MessageTooLong,
    UnknownAudience,
)
from labelflow.events import record_fact
from labelflow.models import (
    Document,
    Message,
    MessageDocument,
    MessageRead,
    Project,
    ProjectMember,
    User,
    id_of,
)
from labelflow.permissions import (
    ATTACHMENT_TYPE,
    MESSAGE_AUDIENCES,
    message_audiences,
    readable_documents_clause,
    require_messages,
)
from labelflow.storage import Storage
from labelflow.workflow import Engine

BODY_MAX_LENGTH = 10_000
MAX_ATTACHMENTS = 20
# The audience porteurs write in: who waits for whom is read there only.
PROJECT_AUDIENCE = "projet"
AwaitingFrom = Literal["porteur", "equipe"]
# The dashboard's lists show this many projects each.
DASHBOARD_LIST_SIZE = 10


@dataclass
class MessageView:
    """A message with its author and the ids of its attached documents."""

    message: Message
    author: User | None
    document_ids: list[int] = field(default_factory=list)


# --- reading ----------------------------------------------------------------------------------


def list_messages(session: Session, *, project: Project, actor: Actor) -> list[MessageView]:
    """The thread oldest first, the audiences `actor` may read only (403 for none)."""
    require_messages(actor)
    rows = session.exec(thread_messages_query(project.id, actor)).all()
    ids = [id_of(m) for m, _ in rows]
    links = session.exec(attachments_query(col(MessageDocument.message_id).in_(ids))) if ids else []
    return message_views(rows, list(links))


def thread_messages_query(project_id: Any, actor: Actor) -> Any:
    """The select of `list_messages` for `project_id` (a value or a parameter): each message
    with its author."""
    return (
        select(Message, User)
        .join(User, col(User.id) == col(Message.author_id), isouter=True)
        .where(
            Message.project_id == project_id,
            col(Message.audience).in_(message_audiences(actor)),
        )
        .order_by(col(Message.created_at), col(Message.id))
    )


def attachments_query(which: Any) -> Any:
    """The attachments of the messages `which` selects, in their order."""
    return select(MessageDocument).where(which).order_by(col(MessageDocument.id))


def message_views(
    rows: Sequence[tuple[Message, User | None]], attachments: Sequence[MessageDocument]
) -> list[MessageView]:
    views = [MessageView(message, author) for message, author in rows]
    by_id = {id_of(v.message): v for v in views}
    for link in attachments:
        if link.message_id in by_id:
            by_id[link.message_id].document_ids.append(link.document_id)
    return views


def _unread_clause(actor: Actor) -> Any:
    """SQL condition on Message: written by someone else, after what `actor` last read."""
    return _unread_condition(actor.user_id, message_audiences(actor), Message)


def _unread_condition(user_id: Any, audiences: Sequence[str], message: Any) -> Any:
    """`_unread_clause` for a user id (a value or a bind parameter) on `message` (Message or
    an alias of it)."""
    last_read = (
        select(MessageRead.last_read_message_id)
        .where(MessageRead.project_id == message.project_id, MessageRead.user_id == user_id)
        .scalar_subquery()
    )
    return sa.and_(
        message.author_id != user_id,
        # Each audience its own plain parameter: the statements built once keep a fixed text,
        # compiled once (an expanding list is rendered again at every execution).
        message.audience.in_([sa.literal(a) for a in audiences]),
        sa.or_(last_read.is_(None), message.id > last_read),
    )


def unread_count(session: Session, *, project: Project, actor: Actor) -> int:
    """The messages of the project `actor` may read and has not read yet (one query)."""
    if actor.user_id is None or not message_audiences(actor):
        return 0
    count = session.exec(
        select(func.count())
        .select_from(Message)
        .where(Message.project_id == project.id, _unread_clause(actor))
    ).one()
    return int(count)


def unread_counts(session: Session, *, project_ids: Sequence[int], actor: Actor) -> dict[int, int]:
    """The unread count of each project listed (one query; projects with none left out)."""
    if actor.user_id is None or not message_audiences(actor) or not project_ids:
        return {}
    rows = session.exec(
        unread_counts_query(tuple(message_audiences(actor)), listed_slots(len(project_ids))),
        params={**listed_parameters(project_ids), "user_id": actor.user_id},
    ).all()
    return {int(project_id): int(n) for project_id, n in rows}


def listed_slots(count: int) -> int:
    """How many parameters a statement takes for `count` projects listed: a few sizes, each
    statement of a fixed text (compiled once: an expanding list is rendered again at every
    execution, about 5 µs a value on PostgreSQL)."""
    return max(8, 1 << (count - 1).bit_length())


def listed_parameters(project_ids: Sequence[int]) -> dict[str, int]:
    """`project_ids` as the parameters of `unread_counts_query`, padded with 0 (no project)."""
    padded = [*project_ids, *[0] * (listed_slots(len(project_ids)) - len(project_ids))]
    return {f"project_id_{n}": project_id for n, project_id in enumerate(padded)}


@functools.lru_cache(maxsize=32)
def unread_counts_query(audiences: tuple[str, ...], slots: int) -> Any:
    """`unread_counts`' statement for readers of `audiences` and `slots` projects listed, built
    once (the project list asks it on every page, `pipeline.page_state` as a part of its own):
    parameters `listed_parameters` and `user_id`; columns `project_id` and `unread`."""
    user_id = sa.bindparam("user_id", type_=sa.Integer)
    listed = [sa.bindparam(f"project_id_{n}", type_=sa.Integer) for n in range(slots)]
    return (
        select(col(Message.project_id), func.count().label("unread"))
        .where(
            col(Message.project_id).in_(listed),
            _unread_condition(user_id, audiences, Message),
        )
        .group_by(col(Message.project_id))
    )


def _followed_clause(role: str, user_id: Any) -> Any:
    """SQL condition on Project: the projects whose unread messages the navigation counts, for
    a user id (a value or a bind parameter).

    A porteur's own projects; the consultant's assigned ones (the visibility rule); for staff,
    the projects they are chargé·e de suivi of (every project's thread would drown the count).
    """
    match role:
        case "staff":
            return col(Project.staff_owner_id) == user_id
        case "consultant":
            return col(Project.consultant_id) == user_id
        case "porteur":
            return (
                select(ProjectMember.id)
                .where(ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id)
                .exists()
            )
    return sa.false()


def unread_total_count(role: str, audiences: Sequence[str], user_id: Any) -> Any:
    """The unread messages of the projects a user of `role` reading `audiences` follows, for
    the navigation: a scalar subquery, for a user id (a bind parameter: built once per shape,
    `project_view.shell_counts`)."""
    if not audiences:
        return sa.literal(0)
    return (
        select(func.count())
        .select_from(Message)
        .join(Project, col(Project.id) == col(Message.project_id))
        .where(_followed_clause(role, user_id), _unread_condition(user_id, audiences, Message))
        .scalar_subquery()
    )


def unread_projects(session: Session, *, actor: Actor) -> list[tuple[Project, int]]:
    """The projects `actor` follows with unread messages, and how many (one query)."""
    if actor.user_id is None or not message_audiences(actor):
        return []
    rows = session.exec(
        select(Project, func.count(col(Message.id)))
        .join(Message, col(Message.project_id) == col(Project.id))
        .where(_followed_clause(actor.role, actor.user_id), _unread_clause(actor))
        .group_by(col(Project.id))
        .order_by(func.min(col(Message.id)))
    ).all()
    return [(project, int(n)) for project, n in rows]


def _last_columns() -> list[Any]:
    """The last porteur message, the last staff message marked « réponse attendue », the last
    staff message (aggregates over Message, to filter on the `projet` audience)."""
    porteur = col(Message.author_role) == "porteur"
    staff = col(Message.author_role) == "staff"
    return [
        func.max(sa.case((porteur, col(Message.id)))).label("porteur"),
        func.max(sa.case((sa.and_(staff, col(Message.awaiting_reply)), col(Message.id)))).label(
            "asked"
        ),
        func.max(sa.case((staff, col(Message.id)))).label("staff"),
    ]


def _last_ids() -> Any:
    """Per project, in the `projet` audience: the `_last_columns()` (a subquery)."""
    return (
        select(col(Message.project_id).label("project_id"), *_last_columns())
        .where(Message.audience == PROJECT_AUDIENCE)
        .group_by(col(Message.project_id))
    )


def awaiting_from(porteur: int | None, asked: int | None, staff: int | None) -> AwaitingFrom | None:
    if asked is not None and (porteur is None or porteur < asked):
        return "porteur"
    if porteur is not None and (staff is None or staff < porteur):
        return "equipe"
    return None


def thread_summary(
    session: Session, *, project: Project, actor: Actor
) -> tuple[int, AwaitingFrom | None]:
    """`unread_count` and `awaiting_reply_from` of the project's thread, in one query."""
    audiences = tuple(message_audiences(actor)) if actor.user_id is not None else ()
    row = session.exec(
        _thread_query(audiences), params={"project_id": project.id, "user_id": actor.user_id}
    ).one()
    return int(row[0]), awaiting_from(row[1], row[2], row[3])


@functools.lru_cache(maxsize=16)
def _thread_query(audiences: tuple[str, ...]) -> Any:
    return thread_query(audiences)


def thread_query(audiences: tuple[str, ...], *leading: Any) -> Any:
    """`thread_summary`'s statement for readers of `audiences` (none: nothing unread), its
    columns after `leading` (scalar subqueries of a caller's): parameters `project_id` and
    `user_id`."""
    project_id = sa.bindparam("project_id", type_=sa.Integer)
    unread: Any = sa.literal(0)
    if audiences:
        counted = aliased(Message)
        user_id = sa.bindparam("user_id", type_=sa.Integer)
        unread = (
            select(func.count())
            .select_from(counted)
            .where(
                counted.project_id == project_id,
                _unread_condition(user_id, audiences, counted),
            )
            .scalar_subquery()
        )
    columns = [*leading, unread.label("unread"), *_last_columns()]
    return sa.select(*columns).where(
        col(Message.project_id) == project_id, col(Message.audience) == PROJECT_AUDIENCE
    )


@dataclass
class WaitingProject:
    """A line of the dashboard: a project and the message it has been waiting on since."""

    id: int
    name: str
    kind: str
    since: datetime
    author: str
    excerpt: str


EXCERPT_LENGTH = 140


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1].rstrip() + "…"


def _waiting(
    session: Session, condition: Any, first_id: Any, limit: int, visible: Any
) -> list[WaitingProject]:
    """Projects whose `_last_ids()` match `condition` (among those `visible`, an SQL condition
    of the visibility rule, None: all), with the message `first_id` names, the longest waiting
    first."""
    last = _last_ids().subquery()
    first = select(last.c.project_id, first_id(last).label("message_id")).where(condition(last))
    waited = first.subquery()
    author = aliased(User)
    rows = session.exec(
        select(Project, Message, author)
        .join(waited, waited.c.project_id == col(Project.id))
        .join(Message, col(Message.id) == waited.c.message_id)
        .join(author, col(author.id) == col(Message.author_id), isouter=True)
        .where(*([] if visible is None else [visible]))
        .order_by(col(Message.created_at), col(Message.id))
        .limit(limit)
    ).all()
    return [
        WaitingProject(
            id_of(project),
            project.name,
            project.kind,
            message.created_at,
            user.name if user is not None else "",
            _excerpt(message.body),
        )
        for project, message, user in rows
    ]


def awaiting_porteurs(
    session: Session, *, visible: Any = None, limit: int = DASHBOARD_LIST_SIZE
) -> list[WaitingProject]:
    """Projects where staff asked for an answer no porteur has given yet, oldest question first."""
    return _waiting(
        session,
        lambda last: sa.and_(
            last.c.asked.is_not(None),
            sa.or_(last.c.porteur.is_(None), last.c.porteur < last.c.asked),
        ),
        lambda last: last.c.asked,
        limit,
        visible,
    )


def awaiting_staff(
    session: Session, *, visible: Any = None, limit: int = DASHBOARD_LIST_SIZE
) -> list[WaitingProject]:
    """Projects whose porteurs wrote last, with the first of their messages since staff's last
    one (how long they have waited), oldest first."""
    later = aliased(Message)

    def first_unanswered(last: Any) -> Any:
        return (
            select(func.min(later.id))
            .where(
                later.project_id == last.c.project_id,
                later.audience == PROJECT_AUDIENCE,
                later.author_role == "porteur",
                sa.or_(last.c.staff.is_(None), col(later.id) > last.c.staff),
            )
            .scalar_subquery()
        )

    return _waiting(
        session,
        lambda last: sa.and_(
            last.c.porteur.is_not(None),
            sa.or_(last.c.staff.is_(None), last.c.staff < last.c.porteur),
        ),
        first_unanswered,
        limit,
        visible,
    )


# --- writing ----------------------------------------------------------------------------------


def _check_audience(audience: str) -> None:
    if audience not in MESSAGE_AUDIENCES:
        allowed = ", ".join(
            f"« {key} » ({label.lower()})" for key, label in MESSAGE_AUDIENCES.items()
        )
        raise UnknownAudience(
            f"Destinataires inconnus « {audience} » : choisissez parmi {allowed}.",
            field="audience",
        )


def _check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise EmptyMessage("Écrivez votre message avant de l'envoyer.", field="body")
    if len(text) > BODY_MAX_LENGTH:
        raise MessageTooLong(
            f"Le message est trop long : {len(text)} caractères, au plus {BODY_MAX_LENGTH}.",
            field="body",
        )
    return text


def _check_documents(
    session: Session, *, project: Project, actor: Actor, document_ids: Sequence[int]
) -> list[int]:
    """The ids, once each, in the order given; each must be a document of this project that
    `actor` may read (`permissions.readable_documents_clause`: another audience's attachment
    is as unknown as another project's document)."""
    wanted = list(dict.fromkeys(document_ids))
    if len(wanted) > MAX_ATTACHMENTS:
        raise AttachmentInvalid(
            f"Un message porte au plus {MAX_ATTACHMENTS} pièces.", field="document_ids"
        )
    if not wanted:
        return []
    query = select(Document.id).where(
        col(Document.id).in_(wanted), Document.project_id == project.id
    )
    readable = readable_documents_clause(actor)
    if readable is not None:
        query = query.where(readable)
    found = set(session.exec(query).all())
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise AttachmentInvalid(
            f"Pièce introuvable dans ce projet : {', '.join(missing)}. Joignez une pièce du "
            "projet, ou déposez d'abord le fichier comme pièce jointe.",
            field="document_ids",
        )
    return wanted


def _check_message(
    actor: Actor, *, body: str, audience: str | None, awaiting_reply: bool
) -> tuple[str, str]:
    """(audience, body) once every check that needs no database passed."""
    require_messages(actor)
    audience = audience or message_audiences(actor)[0]
    _check_audience(audience)
    require_messages(actor, audience)
    if actor.user_id is None:
        raise Forbidden("Un message est écrit depuis un compte.")
    text = _check_body(body)
    if awaiting_reply and not actor.is_staff:
        raise Forbidden("Seule l'équipe nationale peut demander une réponse.")
    return audience, text


def post_message_with_file(
    session: Session,
    *,
    engine: Engine,
    store: Storage,
    project: Project,
    actor: Actor,
    body: str,
    audience: str | None,
    awaiting_reply: bool,
    document_ids: Sequence[int],
    filename: str | None,
    declared_media_type: str | None,
    source: BinaryIO,
    max_bytes: int,
    allowed_media_types: Sequence[str],
    clamd_address: str = "",
) -> MessageView:
    """A message with a file uploaded at once as a `piece_jointe` document (the same checks as
    every document). The message is checked first, so that a refused one stores no file."""
    _check_message(actor, body=body, audience=audience, awaiting_reply=awaiting_reply)
    _check_documents(session, project=project, actor=actor, document_ids=document_ids)
    document = create_document(
        session,
        engine=engine,
        store=store,
        project=project,
        doc_type=ATTACHMENT_TYPE,
        filename=filename,
        declared_media_type=declared_media_type,
        source=source,
        max_bytes=max_bytes,
        allowed_media_types=allowed_media_types,
        clamd_address=clamd_address,
        actor=actor,
        if_match=None,
    )
    return post_message(
        session,
        project=project,
        actor=actor,
        body=body,
        audience=audience,
        awaiting_reply=awaiting_reply,
        document_ids=[*document_ids, id_of(document)],
    )


def post_message(
    session: Session,
    *,
    project: Project,
    actor: Actor,
    body: str,
    audience: str | None,
    awaiting_reply: bool = False,
    document_ids: Sequence[int] = (),
) -> MessageView:
    """Add a message to the thread (a `message` fact); the author has read the thread up to it.
    Without `audience`, the first the role writes in.

    Checked before anything is written: the audience exists and the role may use it, the body
    is not empty nor too long, only staff ask for an answer, attachments are the project's.
    """
    audience, text = _check_message(
        actor, body=body, audience=audience, awaiting_reply=awaiting_reply
    )
    assert actor.user_id is not None
    attached = _check_documents(session, project=project, actor=actor, document_ids=document_ids)
    now = dates.now()
    message = Message(
        project_id=id_of(project),
        author_id=actor.user_id,
        author_role=actor.role,
        audience=audience,
        body=text,
        awaiting_reply=awaiting_reply,
        created_at=now,
    )
    session.add(message)
    session.flush()
    for document_id in attached:
        session.add(MessageDocument(message_id=id_of(message), document_id=document_id))
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="message",
        at=now,
        data={
            "message_id": message.id,
            "audience": audience,
            "awaiting_reply": awaiting_reply,
            "document_ids": attached,
        },
    )
    _read_up_to(session, project=project, actor=actor, message_id=id_of(message))
    return MessageView(message, session.get(User, actor.user_id), attached)


def _read_up_to(session: Session, *, project: Project, actor: Actor, message_id: int) -> None:
    """Move the user's read mark forward to `message_id` (never back), in one statement: two
    requests of the same user (two tabs) never collide on the unique (project, user) row."""
    assert actor.user_id is not None
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = MessageRead.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(
        project_id=id_of(project),
        user_id=actor.user_id,
        last_read_message_id=message_id,
        read_at=dates.now(),
    )
    newer = statement.excluded.last_read_message_id > table.c.last_read_message_id
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "user_id"],
        set_={
            "last_read_message_id": sa.case(
                (newer, statement.excluded.last_read_message_id),
                else_=table.c.last_read_message_id,
            ),
            "read_at": sa.case((newer, statement.excluded.read_at), else_=table.c.read_at),
        },
    )
    session.execute(statement)


def mark_read(session: Session, *, project: Project, actor: Actor) -> int:
    """Mark the thread read for `actor` up to its latest message they may read; returns how
    many were unread."""
    require_messages(actor)
    unread = unread_count(session, project=project, actor=actor)
    if not unread or actor.user_id is None:
        return 0
    latest = session.exec(
        select(func.max(Message.id)).where(
            Message.project_id == project.id,
            col(Message.audience).in_(message_audiences(actor)),
        )
    ).one()
    if latest is not None:
        _read_up_to(session, project=project, actor=actor, message_id=int(latest))
    return unread
