"""Accounts as shown: the API shape, the users page's list, the project page's members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from labelflow import accounts
from labelflow.models import Project, User
from labelflow.schemas import UserPublic


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


def user_choices(
    users: Sequence[User], *, exclude: set[int] | None = None
) -> list[tuple[str, str]]:
    """The active accounts as the options of a select: (id, « name (e-mail) »)."""
    exclude = exclude or set()
    return [(str(u.id), f"{u.name} ({u.email})") for u in users if u.active and u.id not in exclude]


def members_section(session: Session, project: Project, *, can_manage: bool) -> dict[str, Any]:
    """The project page's « Porteurs » section: the linked accounts and those one may add."""
    if not can_manage:
        return {"members": [], "member_choices": []}
    members = accounts.list_members(session, project=project)
    return {
        "members": members,
        "member_choices": user_choices(
            accounts.list_users(session, role="porteur"), exclude={m.id or 0 for m in members}
        ),
    }
