"""The signed-in user as shown: tokens, what they may use, the navigation and breadcrumbs."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class NavItem:
    key: str
    href: str
    label: str


def abilities(actor: Actor) -> dict[str, bool]:
    """What the signed-in user may use, by name, for the templates (from `permissions`)."""
    return {
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


def nav_items(actor: Actor) -> list[NavItem]:
    """The main navigation: only what the role may use."""
    can = abilities(actor)
    items = []
    if can["pipeline"]:
        items += [
            NavItem("dashboard", "/", "Tableau de bord"),
            NavItem("projects", "/projects", "Projets"),
            NavItem("stats", "/stats/network", "État du réseau"),
        ]
    else:
        items.append(NavItem("home", "/", HOME_LABELS.get(actor.role, "Accueil")))
    if can["assignments"]:
        items.append(NavItem("assignments", "/assignments", "Mes missions"))
    if can["write"]:
        items.append(NavItem("new", "/projects/new", "Nouveau projet"))
    items.append(NavItem("workflows", "/workflows", "Parcours"))
    if can["pipeline"] and can["bureau"]:
        items.append(NavItem("bureau", "/bureau", "Bureau"))
    if can["users"]:
        items.append(NavItem("users", "/users", "Comptes"))
    if can["jobs"]:
        items.append(NavItem("jobs", "/taches", "Tâches"))
        items.append(NavItem("mailbox", "/courriels", "Courriels envoyés"))
    if can["technical"]:
        items.append(NavItem("api", "/docs", "API"))
    items.append(NavItem("help", "/aide", "Aide"))
    items.append(NavItem("account", "/account", "Mon compte"))
    return items


def home_link(actor: Actor) -> tuple[str, str, str]:
    """(nav key, href, label) of the list a project page belongs to, for its breadcrumb."""
    if allows(actor, PIPELINE_READ):
        return "projects", "/projects", "Projets"
    return "home", "/", HOME_LABELS.get(actor.role, "Accueil")
