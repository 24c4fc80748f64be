"""What each role may do. Visibility (which projects a user sees) is in `projects.visible`."""

from __future__ import annotations

from labelflow.actors import Actor
from labelflow.errors import Forbidden

# Every permission a handler may require; staff have them all, admins also manage accounts.
PROJECT_READ = "project.read"
PROJECT_WRITE = "project.write"  # create, edit fields, transitions, suspension, deadlines
RECORD_WRITE = "record.write"  # stakeholders, board, attestations, consultant, decisions
DOCUMENT_UPLOAD = "document.upload"
DOCUMENT_REVIEW = "document.review"
MEMBERS_MANAGE = "members.manage"
PIPELINE_READ = "pipeline.read"
USERS_MANAGE = "users.manage"

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
        }
    ),
    "consultant": frozenset({PROJECT_READ, DOCUMENT_UPLOAD}),
    "porteur": frozenset({PROJECT_READ, DOCUMENT_UPLOAD}),
    "bureau": frozenset({PROJECT_READ}),
}

# Document types only some roles may add (the expertise report is the consultant's and staff's).
RESTRICTED_DOCUMENT_TYPES = {"rapport_expertise": {"staff", "consultant"}}
CONSULTANT_DOCUMENT_TYPES = {"rapport_expertise", "autre"}


def allows(actor: Actor, permission: str) -> bool:
    if permission == USERS_MANAGE:
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
