"""The demo accounts: the fixed team, one porteur per project, and the logins `serve` prints."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine as SAEngine
from sqlmodel import Session, col, select

from labelflow import accounts, consequences, dates
from labelflow.actors import ROLE_LABELS, SYSTEM, Actor
from labelflow.db import transaction
from labelflow.demo.people import BUREAU, CONSULTANTS, REGIONAL_STAFF, STAFF
from labelflow.demo.scenarios import MAIN_PATH
from labelflow.models import Project, ProjectMember, User
from labelflow.schemas import UserCreate

# Demo mode only: every demo account signs in with this password (printed by `serve --demo`,
# written in the README). Outside demo mode no account exists until `labelflow users create`.
DEMO_PASSWORD = "demo-labelflow-2026"
DEMO_DOMAIN = "demo.labelflow.fr"
DEMO_ACCOUNTS_AGE = 1100  # days: the fixed accounts predate every demo project


@dataclass(frozen=True)
class DemoPeople:
    """The fixed demo accounts, as the actors the builder records facts with."""

    staff: list[Actor]
    consultants: list[Actor]
    bureau: list[Actor]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    label: str
    email: str
    name: str
    project: str | None = None


def demo_email(name: str, number: int = 1) -> str:
    """`Hélène Garnier` → `helene.garnier@demo.labelflow.fr` (`…garnier2@…` for a second one)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    local = ".".join("".join(c if c.isalnum() or c == "-" else " " for c in folded).split())
    return f"{local}{number if number > 1 else ''}@{DEMO_DOMAIN}"


@functools.cache
def _demo_password_hash() -> str:
    # One Argon2id hash shared by every demo account: hashing is deliberately slow, and the
    # demo password is public anyway.
    return accounts.hash_password(DEMO_PASSWORD)


def demo_user(
    session: Session,
    *,
    name: str,
    role: str,
    is_admin: bool = False,
    unique: bool = False,
    regions: list[str] | None = None,
) -> User:
    """The demo account for `name`, created if missing; with `unique`, always a new one."""
    number = 1
    while (existing := accounts.get_user_by_email(session, demo_email(name, number))) is not None:
        if not unique:
            return existing
        number += 1
    data = UserCreate(
        email=demo_email(name, number),
        name=name,
        role=role,
        is_admin=is_admin,
        regions=regions or [],
    )
    user = accounts.create_user(session, data=data, actor=SYSTEM)
    user.password_hash = _demo_password_hash()
    session.add(user)
    session.flush()
    return user


def ensure_demo_accounts(db: SAEngine, *, since: datetime | None = None) -> DemoPeople:
    """The staff, consultant and Bureau demo accounts, created when missing (demo mode only)."""
    consequences.install()  # creating an account is a fact
    with dates.frozen(since or dates.now()), transaction(db) as session:
        staff = [
            demo_user(session, name=name, role="staff", is_admin=admin) for name, admin in STAFF
        ]
        consultants = [demo_user(session, name=name, role="consultant") for name in CONSULTANTS]
        bureau = [demo_user(session, name=name, role="bureau") for name in BUREAU]
        for name, regions in REGIONAL_STAFF:
            demo_user(session, name=name, role="staff", regions=regions)
        return DemoPeople(
            staff=[accounts.actor_of(u) for u in staff],
            consultants=[accounts.actor_of(u) for u in consultants],
            bureau=[accounts.actor_of(u) for u in bureau],
        )


def demo_logins(db: SAEngine) -> list[DemoLogin]:
    """One active demo account per role, for `serve --demo` to print (empty outside the demo).

    The porteur shown is the one of the most recently created project still in progress, so
    that « Mon projet » has something missing to show.
    """
    domain = f"%@{DEMO_DOMAIN}"
    in_progress = [state for state, _ in MAIN_PATH]
    logins: list[DemoLogin] = []
    with transaction(db, write=False) as session:
        users = session.exec(
            select(User)
            .where(col(User.email).like(domain), col(User.active).is_(True))
            .order_by(col(User.is_admin).desc(), col(User.id))
        ).all()
        for role in ("staff", "consultant", "bureau"):
            user = next((u for u in users if u.role == role and not u.regions), None)
            if user is not None:
                label = ROLE_LABELS[role] + (" (admin)" if user.is_admin else "")
                logins.append(DemoLogin(role, label, user.email, user.name))
        regional = next((u for u in users if u.role == "staff" and u.regions), None)
        if regional is not None:
            logins.append(
                DemoLogin(
                    "staff",
                    "Équipe régionale",
                    regional.email,
                    regional.name,
                    ", ".join(regional.regions),
                )
            )
        porteur = session.exec(
            select(User, Project)
            .join(ProjectMember, col(ProjectMember.user_id) == User.id)
            .join(Project, col(Project.id) == ProjectMember.project_id)
            .where(
                col(User.email).like(domain),
                col(User.active).is_(True),
                col(Project.state).in_(in_progress),
                col(Project.suspended).is_(False),
            )
            .order_by(col(Project.created_at).desc(), col(Project.id).desc())
        ).first()
    if porteur is not None:
        user, project = porteur
        logins.insert(
            2, DemoLogin("porteur", ROLE_LABELS["porteur"], user.email, user.name, project.name)
        )
    return logins


def demo_login_lines(logins: list[DemoLogin]) -> list[str]:
    """What `serve --demo` prints of the demo logins, line by line (also the README's block)."""
    if not logins:
        return []
    width = max(len(login.label) for login in logins)
    lines = ["Comptes de démonstration (e-mail / mot de passe) :"]
    for login in logins:
        where = f"  ({login.project})" if login.project else ""
        lines.append(f"  {login.label:<{width}}  {login.email} / {DEMO_PASSWORD}{where}")
    lines.append("  Chaque projet de démonstration a son porteur, avec le même mot de passe.")
    return lines
