"""The signed-in user as shown: tokens, what they may use, the navigation and breadcrumbs."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from fastapi import Request

from labelflow.actors import Actor
from labelflow.models import ApiToken
from labelflow.permissions import (
    ASSIGNMENT_DECLARE,
    BUREAU_MANAGE,
    BUREAU_READ,
    DOCUMENT_REVIEW,
    DOCUMENT_UPLOAD,
    JOBS_MANAGE,
    MEMBERS_MANAGE,
    PIPELINE_READ,
    PROJECT_WRITE,
    PROJECTS_EXPORT,
    RECORD_WRITE,
    RECUSAL_DECLARE,
    TECHNICAL_SHOW,
    USERS_MANAGE,
    WEBHOOKS_MANAGE,
    WORKFLOW_MIGRATE,
    allows,
)
from labelflow.schemas import TokenPublic

HOME_LABELS = {"porteur": "Mon projet", "consultant": "Mes projets", "bureau": "Dossiers du Bureau"}


RESET_ASKED = (
    "Si un compte actif existe avec cette adresse, un courriel vient de lui être envoyé avec un "
    "lien pour choisir un nouveau mot de passe (valable une heure)."
)


def client_address(request: Request) -> str:
    """The caller's network address, as the sign-in throttle counts it."""
    return request.client.host if request.client else "inconnue"


def token_public(token: ApiToken) -> TokenPublic:
    return TokenPublic.model_validate(token, from_attributes=True)


# Every page's shell asks these two: worked out once per account as signed in (an `Actor` is
# frozen; what it may use follows from it alone).
SHELLS_KEPT = 512


@functools.lru_cache(maxsize=SHELLS_KEPT)
def abilities(actor: Actor) -> Mapping[str, bool]:
    """What the signed-in user may use, by name, for the templates (from `permissions`)."""
    return MappingProxyType(
        {
            "pipeline": allows(actor, PIPELINE_READ),
            "export": allows(actor, PROJECTS_EXPORT),
            "write": allows(actor, PROJECT_WRITE),
            "records": allows(actor, RECORD_WRITE),
            "upload": allows(actor, DOCUMENT_UPLOAD),
            "review": allows(actor, DOCUMENT_REVIEW),
            "members": allows(actor, MEMBERS_MANAGE),
            "users": allows(actor, USERS_MANAGE),
            "jobs": allows(actor, JOBS_MANAGE),
            "bureau": allows(actor, BUREAU_READ),
            "bureau_manage": allows(actor, BUREAU_MANAGE),
            "recusal": allows(actor, RECUSAL_DECLARE),
            "assignments": allows(actor, ASSIGNMENT_DECLARE),
            "technical": allows(actor, TECHNICAL_SHOW),
            "migrate": allows(actor, WORKFLOW_MIGRATE),
        }
    )


@dataclass(frozen=True)
class NavEntry:
    """An entry of the navigation as declared: `permission` is the one its page's route
    requires (None: every signed-in user of the roles listing it), so that no entry leads to a
    refusal."""

    key: str
    href: str
    label: str
    permission: str | None = None


@dataclass(frozen=True)
class NavItem:
    """An entry as shown; `count` is the unread count it carries (the messages')."""

    key: str
    href: str
    label: str
    count: int | None = None


@dataclass(frozen=True)
class Navigation:
    """The role's main entries, then its « Administration » group (empty: no group)."""

    main: tuple[NavItem, ...]
    group: tuple[NavItem, ...]
    group_label: str = "Administration"

    def group_holds(self, key: str | None) -> bool:
        """The current page is in the group (its button is then marked as the main entries)."""
        return any(item.key == key for item in self.group)


MESSAGES = NavEntry("messages", "/messages", "Messages")
WORKFLOWS = NavEntry("workflows", "/workflows", "Parcours")
HELP = NavEntry("help", "/aide", "Aide")

# Each role's navigation, declared once: what it uses every day in the bar, what it uses now
# and then in the « Administration » group (one line at 1280 px for staff; on a phone the whole
# of it behind « Menu »). « Mon compte », the bell and « Se déconnecter » are every role's
# (base.html). « Nouveau projet » is an action of the dashboard and the list, not a place.
ROLE_NAVIGATION: dict[str, tuple[tuple[NavEntry, ...], tuple[NavEntry, ...]]] = {
    "staff": (
        (
            NavEntry("dashboard", "/", "Tableau de bord", PIPELINE_READ),
            NavEntry("projects", "/projects", "Projets"),
            NavEntry("bureau", "/bureau", "Bureau", BUREAU_READ),
            MESSAGES,
            HELP,
        ),
        (
            NavEntry("stats", "/stats/network", "État du réseau", PIPELINE_READ),
            WORKFLOWS,
            NavEntry("users", "/users", "Comptes", USERS_MANAGE),
            NavEntry("jobs", "/taches", "Tâches", JOBS_MANAGE),
            NavEntry("mailbox", "/courriels", "Courriels envoyés", JOBS_MANAGE),
            NavEntry("webhooks", "/webhooks", "Webhooks", WEBHOOKS_MANAGE),
            NavEntry("api", "/docs", "API", TECHNICAL_SHOW),
        ),
    ),
    "porteur": ((NavEntry("home", "/", HOME_LABELS["porteur"]), MESSAGES, WORKFLOWS, HELP), ()),
    "consultant": (
        (
            NavEntry("home", "/", HOME_LABELS["consultant"]),
            NavEntry("assignments", "/assignments", "Mes missions", ASSIGNMENT_DECLARE),
            MESSAGES,
            WORKFLOWS,
            HELP,
        ),
        (),
    ),
    "bureau": (
        (
            NavEntry("home", "/", HOME_LABELS["bureau"]),
            NavEntry("meetings", "/bureau/meetings", "Réunions", BUREAU_READ),
            WORKFLOWS,
            HELP,
        ),
        (),
    ),
}


@functools.lru_cache(maxsize=SHELLS_KEPT)
def navigation(actor: Actor, *, unread_messages: int | None) -> Navigation:
    """The signed-in user's navigation: their role's entries they may open, the messages'
    entry carrying the unread count the page already read (`routing.shell`)."""
    main, group = ROLE_NAVIGATION.get(actor.role, ((HELP,), ()))

    def shown(entries: tuple[NavEntry, ...]) -> tuple[NavItem, ...]:
        return tuple(
            NavItem(e.key, e.href, e.label, unread_messages if e is MESSAGES else None)
            for e in entries
            if e.permission is None or allows(actor, e.permission)
        )

    return Navigation(main=shown(main), group=shown(group))


def home_link(actor: Actor) -> tuple[str, str, str]:
    """(nav key, href, label) of the list a project page belongs to, for its breadcrumb."""
    if allows(actor, PIPELINE_READ):
        return "projects", "/projects", "Projets"
    return "home", "/", HOME_LABELS.get(actor.role, "Accueil")
