"""Accounts as shown: the API shape, the users page's list, the project page's members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelflow.models import User
from labelflow.schemas import UserPublic


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


def user_choices(
    users: Sequence[User], *, exclude: set[int] | None = None
) -> list[tuple[str, str]]:
    """The active accounts as the options of a select: (id, « name (e-mail) »)."""
    exclude = exclude or set()
    return [(str(u.id), f"{u.name} ({u.email})") for u in users if u.active and u.id not in exclude]


def members_section(
    members: Sequence[User], porteurs: Sequence[User], *, can_manage: bool
) -> dict[str, Any]:
    """The project page's « Porteurs » section: the linked accounts (`members`) and those one
    may add (among every porteur account, `porteurs`)."""
    if not can_manage:
        return {"members": [], "member_choices": []}
    return {
        "members": list(members),
        "member_choices": user_choices(porteurs, exclude={m.id or 0 for m in members}),
    }
