"""Messages as shown: the API shape, the project page's « Messages » section, the dashboard's
lists of projects waiting for an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from labelflow import messages
from labelflow.actors import ROLE_LABELS, Actor
from labelflow.messages import AwaitingFrom, MessageView
from labelflow.permissions import MESSAGE_AUDIENCES, message_audiences, require_messages
from labelflow.projects import visibility_clause
from labelflow.schemas import DocumentPublic, MessageAuthor, MessagePublic
from labelflow.workflow import Engine

AWAITING_LABELS = {
    "porteur": "En attente de réponse du porteur de projet",
    "equipe": "En attente de réponse de l'équipe nationale",
}
# The same, as the porteur reads it on « Mon projet ».
AWAITING_LABELS_FOR_PORTEUR = {**AWAITING_LABELS, "porteur": "En attente de votre réponse"}
# How each audience is named above a message and in the form's choice.
AUDIENCE_BADGES = {"projet": "Projet", "interne": "Note interne", "expertise": "Expertise"}


MESSAGE_FACTS = {
    "projet": "Message échangé avec les porteurs du projet",
    "interne": "Note interne de l'équipe nationale",
    "expertise": "Message échangé avec le ou la consultant·e",
}


def message_summary(data: dict[str, Any]) -> str:
    """The history's sentence for a `message` fact (the text stays in the thread)."""
    text = MESSAGE_FACTS.get(str(data.get("audience")), "Message")
    if data.get("awaiting_reply"):
        text += ", réponse attendue"
    count = len(data.get("document_ids") or [])
    if count:
        text += f", {count} pièce{'s' if count > 1 else ''} jointe{'s' if count > 1 else ''}"
    return text + "."


def message_public(view: MessageView) -> MessagePublic:
    m, author = view.message, view.author
    return MessagePublic(
        id=m.id or 0,
        project_id=m.project_id,
        author=MessageAuthor(
            id=m.author_id,
            name=author.name if author is not None else "",
            role=author.role if author is not None else m.author_role,
        ),
        audience=m.audience,
        body=m.body,
        awaiting_reply=m.awaiting_reply,
        document_ids=view.document_ids,
        created_at=m.created_at,
    )


@dataclass
class MessageLine:
    """A message as the thread shows it: who, when, for whom, its text and attachments."""

    public: MessagePublic
    author_role_label: str
    audience_label: str
    unread: bool
    attachments: list[DocumentPublic]


def messages_section(
    actor: Actor,
    views: list[MessageView],
    documents: list[DocumentPublic],
    *,
    last_read: int,
    awaiting: AwaitingFrom | None,
) -> dict[str, Any]:
    """The thread (`views`, `messages.list_messages`) and its form, for the roles that use
    messages (empty for the others). `last_read`: the id of the last message the viewer read
    before this page marks the thread read, so new messages stand out. `awaiting`: who the
    thread waits for, as the project's JSON says (both read once per page)."""
    audiences = message_audiences(actor)
    if not audiences:
        return {"messages_shown": False}
    by_id = {d.id: d for d in documents}
    lines = [
        MessageLine(
            message_public(v),
            ROLE_LABELS.get(v.message.author_role, v.message.author_role),
            AUDIENCE_BADGES.get(v.message.audience, v.message.audience),
            (v.message.id or 0) > last_read and v.message.author_id != actor.user_id,
            [by_id[i] for i in v.document_ids if i in by_id],
        )
        for v in views
    ]
    unread = sum(1 for line in lines if line.unread)
    return {
        "messages_shown": True,
        "message_lines": lines,
        "messages_unread": unread,
        "awaiting_label": (
            AWAITING_LABELS_FOR_PORTEUR if actor.role == "porteur" else AWAITING_LABELS
        ).get(awaiting or "", ""),
        # A choice only for whoever has one (staff); the others write in their one audience.
        "audience_choices": [(a, MESSAGE_AUDIENCES[a]) for a in audiences]
        if len(audiences) > 1
        else [],
        "message_audience": audiences[0],
        "can_ask_reply": actor.is_staff,
        # The project's documents one may link to a message (the current versions).
        "attachable_documents": [d for d in documents if not d.superseded_by_id],
    }


def waiting_lists(session: Session, engine: Engine, actor: Actor) -> dict[str, Any]:
    """The dashboard's two lists among the projects `actor` sees, the longest waiting first."""
    visible = visibility_clause(actor, engine)
    return {
        "awaiting_porteurs": messages.awaiting_porteurs(session, visible=visible),
        "awaiting_staff": messages.awaiting_staff(session, visible=visible),
    }


def unread_context(session: Session, actor: Actor) -> dict[str, Any]:
    """The « Messages » page: the projects followed with unread messages (403 for a role
    without messages)."""
    require_messages(actor)
    return {
        "unread_projects": messages.unread_projects(session, actor=actor),
        "followed_note": actor.is_staff,
        "nav": "messages",
    }
