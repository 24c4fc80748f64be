"""Who is acting. Until accounts exist every request acts as one built-in staff member."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    name: str
    role: str = "staff"
    user_id: int | None = None


BUILTIN_STAFF = Actor(name="Équipe nationale", role="staff")
SYSTEM = Actor(name="labelflow", role="system")
