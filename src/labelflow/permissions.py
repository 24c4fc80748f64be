"""What each role may do. Visibility (which projects a user sees) is in `projects.visible`."""

from __future__ import annotations

from labelflow.actors import Actor
from labelflow.errors import (
    AudienceNotAllowed,
    Forbidden,
)

# Every permission a handler may require; staff have them all, admins also manage accounts.
PROJECT_READ = "project.read"
PROJECT_WRITE = "project.write"  # create, edit fields, transitions, suspension, deadlines
RECORD_WRITE = "record.write"  # stakeholders, board, attestations, consultant, decisions
DOCUMENT_UPLOAD = "document.upload"
DOCUMENT_REVIEW = "document.review"
MEMBERS_MANAGE = "members.manage"
PIPELINE_READ = "pipeline.read"
# A consultant declares their links with a project's stakeholders (their own assignments only).
ASSIGNMENT_DECLARE = "assignment.declare"
USERS_MANAGE = "users.manage"
# The jobs (« Tâches ») and the local mailbox (« Courriels envoyés »): administrators only.
JOBS_MANAGE = "jobs.manage"
# Webhooks: the endpoints outside systems receive facts at, and their delivery logs.
WEBHOOKS_MANAGE = "webhooks.manage"
ADMIN_PERMISSIONS = frozenset({USERS_MANAGE, JOBS_MANAGE, WEBHOOKS_MANAGE})
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
            MEMBERS_MANAGE,
            PIPELINE_READ,
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


def allows(actor: Actor, permission: str) -> bool:
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
