"""Who is acting: the signed-in user as the services see it (no HTTP, no ORM row)."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("staff", "consultant", "porteur", "bureau")
ROLE_LABELS = {
    "staff": "Équipe nationale",
    "consultant": "Consultant·e",
    "porteur": "Porteur de projet",
    "bureau": "Membre du Bureau",
}


@dataclass(frozen=True)
class Actor:
    name: str
    role: str = "staff"
    user_id: int | None = None
    is_admin: bool = False
    email: str = ""
    # A regional staff account: the régions whose projects it sees and drives (empty: national).
    regions: tuple[str, ...] = ()

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"


# For the command line and demo data: facts recorded without a signed-in user.
SYSTEM = Actor(name="labelflow", role="staff", is_admin=True)
