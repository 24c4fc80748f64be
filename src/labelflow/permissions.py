"""What each role may do. Visibility (which projects a user sees) is in `projects.visible`;
within a visible project, which messages and documents a user reads is here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from labelflow.actors import Actor
from labelflow.errors import (
    AudienceNotAllowed,
    Forbidden,
)
from labelflow.models import Document, Event, Message, MessageDocument

# Every permission a handler may require; staff have them all, admins also manage accounts.
PROJECT_READ = "project.read"
PROJECT_WRITE = "project.write"  # create, edit fields, transitions, suspension, deadlines
RECORD_WRITE = "record.write"  # stakeholders, board, attestations, consultant, decisions
DOCUMENT_UPLOAD = "document.upload"
DOCUMENT_REVIEW = "document.review"
# A version a newer one superseded stays in the history for the national team only.
DOCUMENT_SUPERSEDED_READ = "document.superseded.read"
MEMBERS_MANAGE = "members.manage"
PIPELINE_READ = "pipeline.read"
# The project list as a spreadsheet (CSV, XLSX): the national team's.
PROJECTS_EXPORT = "projects.export"
# A consultant declares their links with a project's stakeholders (their own assignments only).
ASSIGNMENT_DECLARE = "assignment.declare"
USERS_MANAGE = "users.manage"
# The jobs (« Tâches ») and the local mailbox (« Courriels envoyés »): administrators only.
JOBS_MANAGE = "jobs.manage"
# Moving running projects to a newer version of their definition: administrators only.
WORKFLOW_MIGRATE = "workflow.migrate"
# Webhooks: the endpoints outside systems receive facts at, and their delivery logs.
WEBHOOKS_MANAGE = "webhooks.manage"
ADMIN_PERMISSIONS = frozenset({USERS_MANAGE, JOBS_MANAGE, WORKFLOW_MIGRATE, WEBHOOKS_MANAGE})
BUREAU_READ = "bureau.read"  # the agenda, the decision files, the meetings, the recusals
BUREAU_MANAGE = "bureau.manage"  # record the Bureau's meetings
RECUSAL_DECLARE = "recusal.declare"  # a Bureau member their own; staff on a member's behalf
# What only the national team is shown: the links to the pages' JSON twins and to the API, the
# API tokens. The twins themselves answer whoever may see the page.
TECHNICAL_SHOW = "technical.show"

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "staff": frozenset(
        {
            PROJECT_READ,
            PROJECT_WRITE,
            RECORD_WRITE,
            DOCUMENT_UPLOAD,
            DOCUMENT_REVIEW,
            DOCUMENT_SUPERSEDED_READ,
            MEMBERS_MANAGE,
            PIPELINE_READ,
            PROJECTS_EXPORT,
            BUREAU_READ,
            BUREAU_MANAGE,
            RECUSAL_DECLARE,
            TECHNICAL_SHOW,
        }
    ),
    "consultant": frozenset({PROJECT_READ, DOCUMENT_UPLOAD, ASSIGNMENT_DECLARE}),
    "porteur": frozenset({PROJECT_READ, DOCUMENT_UPLOAD}),
    "bureau": frozenset({PROJECT_READ, BUREAU_READ, RECUSAL_DECLARE}),
}

# Document types only some roles may add (the expertise report is the consultant's and staff's).
# The Bureau's decision letter is made by labelflow; only staff may add another one by hand.
RESTRICTED_DOCUMENT_TYPES = {
    "rapport_expertise": {"staff", "consultant"},
    "annexe_expertise": {"staff", "consultant"},
    "courrier_decision": {"staff"},
}
CONSULTANT_DOCUMENT_TYPES = {"rapport_expertise", "annexe_expertise", "autre", "piece_jointe"}

# The audiences of a project's messages, and which each role reads and writes: staff all of
# them; a porteur the project's own; the consultant the expertise's (while assigned: the
# visibility rule); the Bureau none.
MESSAGE_AUDIENCES = {
    "projet": "Équipe nationale et porteurs du projet",
    "interne": "Note interne à l'équipe nationale",
    "expertise": "Équipe nationale et consultant·e",
}
AUDIENCES_OF_ROLE: dict[str, tuple[str, ...]] = {
    "staff": tuple(MESSAGE_AUDIENCES),
    "porteur": ("projet",),
    "consultant": ("expertise",),
}


# Webhooks carry facts of every project: a regional administrator, who sees the projects of
# their régions only, may not register them.
NATIONAL_ADMIN_PERMISSIONS = frozenset({WEBHOOKS_MANAGE})


def allows(actor: Actor, permission: str) -> bool:
    if permission in NATIONAL_ADMIN_PERMISSIONS and actor.regions:
        return False
    if permission in ADMIN_PERMISSIONS:
        return actor.role == "staff" and actor.is_admin
    return permission in ROLE_PERMISSIONS.get(actor.role, frozenset())


def require(actor: Actor, permission: str) -> None:
    if not allows(actor, permission):
        raise Forbidden("Votre rôle ne permet pas cette action.")


def require_upload(actor: Actor, doc_type: str) -> None:
    require(actor, DOCUMENT_UPLOAD)
    allowed_roles = RESTRICTED_DOCUMENT_TYPES.get(doc_type)
    if allowed_roles is not None and actor.role not in allowed_roles:
        raise Forbidden("Votre rôle ne permet pas de déposer ce type de pièce.")
    if actor.role == "consultant" and doc_type not in CONSULTANT_DOCUMENT_TYPES:
        raise Forbidden("Un·e consultant·e dépose le rapport d'expertise et ses annexes.")


def message_audiences(actor: Actor) -> tuple[str, ...]:
    """The audiences of a project's messages `actor` may read and write (none: no messages)."""
    return AUDIENCES_OF_ROLE.get(actor.role, ())


def require_messages(actor: Actor, audience: str | None = None) -> None:
    """The role may use a project's messages (of `audience`, when given), else 403."""
    allowed = message_audiences(actor)
    if not allowed:
        raise AudienceNotAllowed("Votre rôle ne donne pas accès aux messages des projets.")
    if audience is not None and audience not in allowed:
        raise AudienceNotAllowed(
            "Votre rôle ne donne pas accès aux messages destinés à : "
            f"{MESSAGE_AUDIENCES.get(audience, audience).lower()}."
        )


# The built-in document type of the files attached to messages (`workflow.BUILTIN_DOCUMENT_TYPES`).
ATTACHMENT_TYPE = "piece_jointe"


def readable_documents_clause(actor: Actor) -> Any | None:
    """SQL condition on Document: the documents of a visible project `actor` may see (None: all
    of them). The one rule for documents: superseded versions are staff's
    (`DOCUMENT_SUPERSEDED_READ`); a message's attachment is its readers' (`_attachment_clause`);
    every other document is for whoever sees the project."""
    conditions = [c for c in (_attachment_clause(actor),) if c is not None]
    if not allows(actor, DOCUMENT_SUPERSEDED_READ):
        conditions.append(col(Document.superseded_by_id).is_(None))
    return sa.and_(*conditions) if conditions else None


def _attachment_clause(actor: Actor) -> Any | None:
    """A message's attachment (`piece_jointe`) is read by whoever reads one of the messages
    carrying it (`message_audiences`) and by the person who uploaded it (before it is
    attached): a file attached to an `interne` note never reaches a porteur nor the
    consultant. Staff read them all (None)."""
    if actor.role == "staff":
        return None
    carried = (
        select(MessageDocument.id)
        .join(Message, col(Message.id) == col(MessageDocument.message_id))
        .where(
            col(MessageDocument.document_id) == col(Document.id),
            col(Message.audience).in_(message_audiences(actor)),
        )
        .exists()
    )
    # Its own alias: the history's query (`hidden_document_facts_clause`) is on Event too.
    upload = aliased(Event)
    uploaded = (
        select(upload.id)
        .where(
            upload.project_id == col(Document.project_id),
            upload.kind == "document",
            upload.actor_id == actor.user_id,
            upload.data["id"].as_integer() == col(Document.id),
        )
        .exists()
    )
    return sa.or_(col(Document.type) != ATTACHMENT_TYPE, carried, uploaded)


def hidden_document_facts_clause(actor: Actor) -> Any | None:
    """SQL condition on Event: the `document` facts of attachments `actor` may not read (their
    file name stays out of the history too). None: nothing hidden (staff)."""
    readable = _attachment_clause(actor)
    if readable is None:
        return None
    shown = (
        select(Document.id)
        .where(col(Document.id) == col(Event.data)["id"].as_integer(), readable)
        .exists()
    )
    return sa.and_(
        col(Event.kind) == "document",
        col(Event.data)["type"].as_string() == ATTACHMENT_TYPE,
        sa.not_(shown),
    )
