"""Who may call what: every route of the app × every role × their own / someone else's project.

The routes come from the app's route table: a route added without a row in `MATRIX` (or a row
left for a route that no longer exists) fails `test_every_route_is_in_the_matrix`.

Each cell sends one real request with the role's credentials: a Bearer token for the API, a
session cookie (and its anti-forgery field) for the pages. Write requests carry a deliberately
minimal body, so that a caller who is let through gets a validation answer (422, 409) and
nothing changes, while a caller who is not gets 401/403/404 before the body is even looked at.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import Mount, Route

from labelflow import accounts, dates, notifications, webhooks
from labelflow.actors import SYSTEM
from labelflow.db import transaction
from labelflow.models import Job, User
from labelflow.settings import Settings
from tests.conftest import make_user, token_for
from tests.factories import (
    QUARTIER,
    add_stakeholder,
    complete_prefiguration,
    create_project,
    decide,
    fire,
    hold_meeting,
    upload,
    walk_to,
)

# --- outcomes ---------------------------------------------------------------------------------

Outcome = int | str
LOGIN = "login"  # 303 to /login?next=... (a page asked without a session)
OK = "ok"  # let through: anything but 401/403/404 or the login page, and never a 5xx
ANY = "any"  # public: never 401 nor the login page, never a 5xx

# Project routes give a pair: (their own project, someone else's project). "Own" is the project
# the consultant is assigned to, the porteur is linked to, and that is at the Bureau step;
# "someone else's" is none of these. Staff see both, so they get one value.
SEEN = (200, 404)  # reads their project; another one does not exist for them
DENY = (403, 404)  # sees their project but the role may not do this; another one does not exist

Cell = Outcome | tuple[Outcome, Outcome]
# The région of the "other" project: not the regional staff account's.
OTHER_REGION = "Bretagne"

# --- the matrix -------------------------------------------------------------------------------
#
#            anonymous  staff admin  staff   consultant   porteur      bureau
MATRIX: dict[tuple[str, str], tuple[Cell, Cell, Cell, Cell, Cell, Cell]] = {
    # service, documentation
    ("GET", "/healthz"): (200, 200, 200, 200, 200, 200),
    ("GET", "/openapi.json"): (200, 200, 200, 200, 200, 200),
    ("GET", "/docs"): (200, 200, 200, 200, 200, 200),
    # workflows
    ("GET", "/api/v1/workflows"): (401, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/workflows/{key}"): (401, 200, 200, 200, 200, 200),
    # moving running projects to a newer version: administrators
    ("POST", "/api/v1/workflows/{key}/migrations/plan"): (401, 422, 403, 403, 403, 403),
    ("POST", "/api/v1/workflows/{key}/migrations"): (401, 422, 403, 403, 403, 403),
    # projects (the list is filtered by role: see test_lists_show_exactly_the_visible_projects)
    ("POST", "/api/v1/projects"): (401, 422, 422, 403, 403, 403),
    ("GET", "/api/v1/projects"): (401, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/pipeline"): (401, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/stats/network"): (401, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/projects/{project_id}"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("PATCH", "/api/v1/projects/{project_id}"): (401, 200, 200, DENY, DENY, DENY),
    ("POST", "/api/v1/projects/{project_id}/transitions"): (401, 422, 422, DENY, DENY, DENY),
    ("POST", "/api/v1/projects/{project_id}/suspend"): (401, 422, 422, DENY, DENY, DENY),
    ("POST", "/api/v1/projects/{project_id}/resume"): (401, 409, 409, DENY, DENY, DENY),
    ("GET", "/api/v1/projects/{project_id}/events"): (401, 200, 200, SEEN, SEEN, SEEN),
    # the project's records
    ("GET", "/api/v1/projects/{project_id}/stakeholders"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/projects/{project_id}/stakeholders"): (401, 422, 422, DENY, DENY, DENY),
    ("DELETE", "/api/v1/projects/{project_id}/stakeholders/{stakeholder_id}"): (
        401, 204, 204, DENY, DENY, DENY,
    ),
    ("GET", "/api/v1/projects/{project_id}/board-members"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/projects/{project_id}/board-members"): (401, 422, 422, DENY, DENY, DENY),
    ("DELETE", "/api/v1/projects/{project_id}/board-members/{member_id}"): (
        401, 204, 204, DENY, DENY, DENY,
    ),
    ("GET", "/api/v1/projects/{project_id}/attestations"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/projects/{project_id}/attestations"): (401, 422, 422, DENY, DENY, DENY),
    ("PUT", "/api/v1/projects/{project_id}/consultant"): (401, 422, 422, DENY, DENY, DENY),
    ("GET", "/api/v1/projects/{project_id}/assignments"): (401, 200, 200, DENY, DENY, DENY),
    # an assignment: staff end it, only its consultant declares (another's does not exist)
    ("POST", "/api/v1/assignments/{assignment_id}/end"): (401, 422, 422, 403, 403, 403),
    ("POST", "/api/v1/assignments/{assignment_id}/declaration"): (
        401, 403, 403, 422, 403, 403,
    ),
    ("GET", "/api/v1/me/assignments"): (401, 403, 403, 200, 403, 403),
    # the expertise report: the "own" project is at the Bureau, its report transmitted (porteurs
    # and the Bureau read it); only the assigned consultant writes it, before that step (409)
    ("GET", "/api/v1/projects/{project_id}/report"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("PUT", "/api/v1/projects/{project_id}/report"): (401, 403, 403, (409, 404), DENY, DENY),
    ("POST", "/api/v1/projects/{project_id}/report/submit"): (
        401, 403, 403, (409, 404), DENY, DENY,
    ),
    ("POST", "/api/v1/projects/{project_id}/report/reopen"): (401, 409, 409, DENY, DENY, DENY),
    ("GET", "/api/v1/projects/{project_id}/report/versions"): (401, 200, 200, SEEN, DENY, DENY),
    ("GET", "/api/v1/projects/{project_id}/report.pdf"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("GET", "/api/v1/projects/{project_id}/decisions"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/projects/{project_id}/decisions"): (401, 422, 422, DENY, DENY, DENY),
    # the Bureau: staff record meetings; its members read them and declare their own recusals
    ("GET", "/api/v1/bureau/agenda"): (401, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/bureau/meetings"): (401, 200, 200, 403, 403, 200),
    ("POST", "/api/v1/bureau/meetings"): (401, 422, 422, 403, 403, 403),
    ("GET", "/api/v1/bureau/meetings/{meeting_id}"): (401, 200, 200, 403, 403, 200),
    ("PATCH", "/api/v1/bureau/meetings/{meeting_id}"): (401, 422, 422, 403, 403, 403),
    ("POST", "/api/v1/bureau/meetings/{meeting_id}/cancel"): (401, 422, 422, 403, 403, 403),
    ("PUT", "/api/v1/bureau/meetings/{meeting_id}/attendance"): (401, 422, 422, 403, 403, 403),
    ("GET", "/api/v1/projects/{project_id}/recusals"): (401, 200, 200, DENY, DENY, SEEN),
    ("POST", "/api/v1/projects/{project_id}/recusals"): (
        401, 422, 422, DENY, DENY, (422, 404),
    ),
    ("GET", "/api/v1/projects/{project_id}/deadlines"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("PATCH", "/api/v1/projects/{project_id}/deadlines/{deadline_id}"): (
        401, 422, 422, DENY, DENY, DENY,
    ),
    # milestones: everyone who sees the project reads them, staff write them
    ("GET", "/api/v1/projects/{project_id}/milestones"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/projects/{project_id}/milestones"): (401, 422, 422, DENY, DENY, DENY),
    ("PATCH", "/api/v1/projects/{project_id}/milestones/{milestone_id}"): (
        401, 200, 200, DENY, DENY, DENY,
    ),
    ("DELETE", "/api/v1/projects/{project_id}/milestones/{milestone_id}"): (
        401, 204, 204, DENY, DENY, DENY,
    ),
    # documents: consultants and porteurs add them (which types: test_upload_types_per_role)
    ("GET", "/api/v1/projects/{project_id}/documents"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/projects/{project_id}/documents"): (
        401, 422, 422, (422, 404), (422, 404), DENY,
    ),
    ("GET", "/api/v1/documents/{document_id}/content"): (401, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/api/v1/documents/{document_id}/review"): (401, 422, 422, DENY, DENY, DENY),
    # messages: staff every audience, the consultant and the porteurs their own, the Bureau none
    ("GET", "/api/v1/projects/{project_id}/messages"): (401, 200, 200, SEEN, SEEN, DENY),
    ("POST", "/api/v1/projects/{project_id}/messages"): (
        401, 422, 422, (422, 404), (422, 404), DENY,
    ),
    ("POST", "/api/v1/projects/{project_id}/messages/read"): (
        401, 204, 204, (204, 404), (204, 404), DENY,
    ),
    # accounts
    ("GET", "/api/v1/me"): (401, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/me/tokens"): (401, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/me/tokens"): (401, 422, 422, 422, 422, 422),
    ("DELETE", "/api/v1/me/tokens/{token_id}"): (401, 204, 204, 204, 204, 204),
    ("PUT", "/api/v1/me/password"): (401, 422, 422, 422, 422, 422),
    ("GET", "/api/v1/users"): (401, 200, 403, 403, 403, 403),
    ("POST", "/api/v1/users"): (401, 422, 403, 403, 403, 403),
    ("PATCH", "/api/v1/users/{user_id}"): (401, 200, 403, 403, 403, 403),
    # jobs (administrators)
    ("GET", "/api/v1/jobs"): (401, 200, 403, 403, 403, 403),
    ("POST", "/api/v1/jobs/{job_id}/retry"): (401, 200, 403, 403, 403, 403),
    ("GET", "/api/v1/projects/{project_id}/members"): (401, 200, 200, DENY, DENY, DENY),
    ("POST", "/api/v1/projects/{project_id}/members"): (401, 422, 422, DENY, DENY, DENY),
    ("DELETE", "/api/v1/projects/{project_id}/members/{user_id}"): (
        401, 204, 204, DENY, DENY, DENY,
    ),
    # notifications: one's own (another's does not exist: test_notifications.py); following a
    # project is for staff
    ("GET", "/api/v1/me/notifications"): (401, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/me/notifications/read-all"): (401, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/me/notifications/{notification_id}/read"): (
        401, 200, 200, 200, 200, 200,
    ),
    ("GET", "/api/v1/me/preferences"): (401, 200, 200, 200, 200, 200),
    ("PUT", "/api/v1/me/preferences"): (401, 422, 422, 422, 422, 422),
    ("POST", "/api/v1/projects/{project_id}/followers/me"): (401, 200, 200, DENY, DENY, DENY),
    ("DELETE", "/api/v1/projects/{project_id}/followers/me"): (
        401, 200, 200, DENY, DENY, DENY,
    ),
    # exports of the project list: staff (see test_exports.py)
    ("GET", "/api/v1/exports/projects.csv"): (401, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/exports/projects.xlsx"): (401, 200, 200, 403, 403, 403),
    # the open data: anyone's (see test_open_data.py)
    ("GET", "/api/v1/open-data/regies"): (200, 200, 200, 200, 200, 200),
    ("GET", "/open-data/regies.csv"): (200, 200, 200, 200, 200, 200),
    ("GET", "/regies"): (200, 200, 200, 200, 200, 200),
    # --- pages ---
    ("GET", "/login"): (200, ANY, ANY, ANY, ANY, ANY),
    ("POST", "/login"): (ANY, ANY, ANY, ANY, ANY, ANY),  # see test_auth.py
    ("POST", "/logout"): (LOGIN, 303, 303, 303, 303, 303),
    ("GET", "/"): (LOGIN, 200, 200, 200, 200, 200),
    ("GET", "/workflows"): (LOGIN, 200, 200, 200, 200, 200),
    ("GET", "/workflows/{key}"): (LOGIN, 200, 200, 200, 200, 200),
    ("GET", "/workflows/{key}/migration"): (LOGIN, 200, 403, 403, 403, 403),
    ("POST", "/workflows/{key}/migration"): (LOGIN, OK, 403, 403, 403, 403),
    ("GET", "/projects"): (LOGIN, 200, 200, 200, 200, 200),
    ("GET", "/stats/network"): (LOGIN, 200, 200, 403, 403, 403),
    ("GET", "/projects/new"): (LOGIN, 200, 200, 403, 403, 403),
    ("POST", "/projects"): (LOGIN, OK, OK, 403, 403, 403),
    ("GET", "/projects/{project_id}"): (LOGIN, 200, 200, SEEN, SEEN, SEEN),
    ("GET", "/projects/{project_id}/history"): (LOGIN, 200, 200, SEEN, SEEN, SEEN),
    ("GET", "/projects/{project_id}/report"): (LOGIN, 200, 200, SEEN, SEEN, SEEN),
    ("POST", "/projects/{project_id}/report"): (LOGIN, 403, 403, (409, 404), DENY, DENY),
    ("POST", "/projects/{project_id}/report/reopen"): (LOGIN, 409, 409, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/transitions"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/suspend"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/resume"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/edit"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/staff-owner"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/stakeholders"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/stakeholders/{stakeholder_id}/delete"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("POST", "/projects/{project_id}/board-members"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/board-members/{member_id}/delete"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("POST", "/projects/{project_id}/attestations"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/documents"): (
        LOGIN, OK, OK, (OK, 404), (OK, 404), DENY,
    ),
    ("POST", "/documents/{document_id}/review"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/consultant"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("GET", "/assignments"): (LOGIN, 403, 403, 200, 403, 403),
    ("POST", "/assignments/{assignment_id}/declaration"): (LOGIN, 403, 403, OK, 403, 403),
    ("POST", "/assignments/{assignment_id}/end"): (LOGIN, OK, OK, 403, 403, 403),
    ("POST", "/projects/{project_id}/decisions"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("GET", "/bureau"): (LOGIN, 200, 200, 403, 403, 200),
    ("GET", "/bureau/meetings"): (LOGIN, 200, 200, 403, 403, 200),
    ("POST", "/bureau/meetings"): (LOGIN, OK, OK, 403, 403, 403),
    ("POST", "/bureau/meetings/{meeting_id}/move"): (LOGIN, OK, OK, 403, 403, 403),
    ("POST", "/bureau/meetings/{meeting_id}/cancel"): (LOGIN, OK, OK, 403, 403, 403),
    ("POST", "/bureau/meetings/{meeting_id}/attendance"): (LOGIN, OK, OK, 403, 403, 403),
    ("POST", "/projects/{project_id}/recusals"): (LOGIN, OK, OK, DENY, DENY, (OK, 404)),
    ("POST", "/projects/{project_id}/deadlines/{deadline_id}"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("POST", "/projects/{project_id}/milestones"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/milestones/{milestone_id}/move"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("POST", "/projects/{project_id}/milestones/{milestone_id}/done"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("POST", "/projects/{project_id}/milestones/{milestone_id}/delete"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("POST", "/projects/{project_id}/members"): (LOGIN, OK, OK, DENY, DENY, DENY),
    ("POST", "/projects/{project_id}/members/{user_id}/delete"): (
        LOGIN, OK, OK, DENY, DENY, DENY,
    ),
    ("GET", "/users"): (LOGIN, 200, 403, 403, 403, 403),
    ("POST", "/users"): (LOGIN, OK, 403, 403, 403, 403),
    ("GET", "/users/{user_id}"): (LOGIN, 200, 403, 403, 403, 403),
    ("POST", "/users/{user_id}"): (LOGIN, OK, 403, 403, 403, 403),
    ("POST", "/users/{user_id}/deactivate"): (LOGIN, OK, 403, 403, 403, 403),
    ("POST", "/users/{user_id}/reactivate"): (LOGIN, OK, 403, 403, 403, 403),
    ("GET", "/messages"): (LOGIN, 200, 200, 200, 200, 403),
    ("POST", "/projects/{project_id}/messages"): (LOGIN, OK, OK, (OK, 404), (OK, 404), DENY),
    ("GET", "/taches"): (LOGIN, 200, 403, 403, 403, 403),
    ("POST", "/taches/{job_id}/relancer"): (LOGIN, OK, 403, 403, 403, 403),
    ("GET", "/courriels"): (LOGIN, 200, 403, 403, 403, 403),
    ("GET", "/courriels/{name}"): (LOGIN, 404, 403, 403, 403, 403),
    ("GET", "/account"): (LOGIN, 200, 200, 200, 200, 200),
    ("GET", "/aide"): (LOGIN, 200, 200, 200, 200, 200),
    ("POST", "/account/tokens"): (LOGIN, OK, OK, OK, OK, OK),
    ("POST", "/account/password"): (LOGIN, OK, OK, OK, OK, OK),
    ("POST", "/account/tokens/{token_id}/revoke"): (LOGIN, OK, OK, OK, OK, OK),
    # accounts by e-mail: before any sign-in (a link's secret is its only credential)
    ("POST", "/api/v1/auth/password-reset"): (ANY, ANY, ANY, ANY, ANY, ANY),
    ("POST", "/api/v1/auth/password-reset/confirm"): (ANY, ANY, ANY, ANY, ANY, ANY),
    ("POST", "/api/v1/auth/invitation/confirm"): (ANY, ANY, ANY, ANY, ANY, ANY),
    ("GET", "/mot-de-passe-oublie"): (200, 200, 200, 200, 200, 200),
    ("POST", "/mot-de-passe-oublie"): (ANY, ANY, ANY, ANY, ANY, ANY),
    ("GET", "/mot-de-passe/{token}"): (400, 400, 400, 400, 400, 400),
    ("POST", "/mot-de-passe/{token}"): (ANY, ANY, ANY, ANY, ANY, ANY),
    ("GET", "/invitation/{token}"): (400, 400, 400, 400, 400, 400),
    ("POST", "/invitation/{token}"): (ANY, ANY, ANY, ANY, ANY, ANY),
    ("GET", "/notifications"): (LOGIN, 200, 200, 200, 200, 200),
    ("GET", "/notifications/{notification_id}"): (LOGIN, 303, 303, 303, 303, 303),
    ("POST", "/notifications/read-all"): (LOGIN, 303, 303, 303, 303, 303),
    ("POST", "/account/preferences"): (LOGIN, 303, 303, 303, 303, 303),
    ("POST", "/projects/{project_id}/follow"): (LOGIN, 303, 303, DENY, DENY, DENY),
    # calendar feeds: one's own; the feed is public by its secret (an unknown one: 404)
    ("POST", "/api/v1/me/calendar"): (401, 201, 201, 201, 201, 201),
    ("DELETE", "/api/v1/me/calendar"): (401, 204, 204, 204, 204, 204),
    ("GET", "/calendar/{secret}.ics"): (404, 404, 404, 404, 404, 404),
    ("POST", "/account/calendar"): (LOGIN, 201, 201, 201, 201, 201),
    ("POST", "/account/calendar/revoke"): (LOGIN, 303, 303, 303, 303, 303),
    # webhooks (administrators)
    ("GET", "/api/v1/webhooks"): (401, 200, 403, 403, 403, 403),
    ("POST", "/api/v1/webhooks"): (401, 422, 403, 403, 403, 403),
    ("DELETE", "/api/v1/webhooks/{wid}"): (401, 204, 403, 403, 403, 403),
    ("GET", "/api/v1/webhooks/{wid}/deliveries"): (401, 200, 403, 403, 403, 403),
    ("GET", "/webhooks"): (LOGIN, 200, 403, 403, 403, 403),
    ("POST", "/webhooks"): (LOGIN, 422, 403, 403, 403, 403),
    ("GET", "/webhooks/{wid}"): (LOGIN, 200, 403, 403, 403, 403),
    ("POST", "/webhooks/{wid}/delete"): (LOGIN, 303, 403, 403, 403, 403),
    ("POST", "/projects/{project_id}/unfollow"): (LOGIN, 303, 303, DENY, DENY, DENY),
}  # fmt: skip

ROLE_COLUMNS = ("anonymous", "admin", "staff", "consultant", "porteur", "bureau", "regional")


def regional_cell(path: str, staff: Cell) -> Cell:
    """A regional staff account (limited to the "own" project's région): what national staff get
    on a project of its région, and on a project of another région the project does not exist
    for it (404). Routes on no project answer it as they answer staff."""
    return (staff, 404) if project_scoped(path) and not isinstance(staff, tuple) else staff


def row_of(method: str, path: str) -> tuple[Cell, ...]:
    """The matrix's row with its last column, the regional staff account."""
    row = MATRIX[(method, path)]
    return (*row, regional_cell(path, row[2]))


# Mounted applications are not routes of ours: only the static files, which need no session.
MOUNTS = {"/static"}
# Request bodies other than the default (`{}` for the API, the anti-forgery field for pages).
NO_BODY = {("POST", "/api/v1/projects/{project_id}/documents")}


def project_scoped(path: str) -> bool:
    """Whether the route acts on one project (a document belongs to one)."""
    return "{project_id}" in path or "{document_id}" in path


def app_routes(app: Any) -> tuple[set[tuple[str, str]], set[str]]:
    """Every (method, path) the app answers (HEAD goes with GET), and its mounts."""
    routes: set[tuple[str, str]] = set()
    mounts: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            mounts.add(str(context.path))
            continue
        assert isinstance(route, APIRoute | Route), f"unexpected route type {route!r}"
        for method in context.methods or ():
            if method != "HEAD":
                routes.add((method, str(context.path)))
    return routes, mounts


def test_every_route_is_in_the_matrix(app: Any) -> None:
    routes, mounts = app_routes(app)
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"routes without a row in MATRIX (who may call them?): {missing}"
    assert not stale, f"rows of MATRIX for routes that no longer exist: {stale}"
    assert mounts == MOUNTS


def test_the_matrix_is_well_formed() -> None:
    for method, path in MATRIX:
        for role, cell in zip(ROLE_COLUMNS, row_of(method, path), strict=True):
            if isinstance(cell, tuple):
                assert project_scoped(path), (method, path)
                assert role in ("consultant", "porteur", "bureau", "regional"), (method, path)


# --- the world the matrix runs in -------------------------------------------------------------


@dataclass
class Who:
    """One role's credentials: an API token and a web session."""

    user: User | None
    bearer: str = ""
    cookie: str = ""
    csrf: str = ""


@dataclass
class World:
    api: Any  # the staff admin's API client, to prepare records
    db: Engine
    settings: Settings
    who: dict[str, Who]
    projects: dict[str, dict[str, Any]]  # "own" and "other"
    documents: dict[str, int]
    deadlines: dict[str, int]
    assignment: int  # the consultant's active assignment on the "own" project


def open_web_session(db: Engine, settings: Settings, user: User) -> tuple[str, str]:
    with transaction(db) as session:
        opened = accounts.open_session(session, user=user, settings=settings)
        return opened.raw_token, opened.record.csrf_token


def credentials(db: Engine, settings: Settings, user: User) -> Who:
    cookie, csrf = open_web_session(db, settings, user)
    return Who(user, token_for(db, user), cookie, csrf)


@pytest.fixture
def world(client: Any, db: Engine, settings: Settings, staff_user: User) -> World:
    users = {
        "admin": staff_user,
        "staff": make_user(db, role="staff", name="Sacha Staff"),
        "consultant": make_user(db, role="consultant", name="Claude Consultant"),
        "porteur": make_user(db, role="porteur", name="Paule Porteur"),
        "bureau": make_user(db, role="bureau", name="Bérénice Bureau"),
        # Staff of the "own" project's région only (the other one is in another région).
        "regional": make_user(
            db, role="staff", name="Régine Régionale", regions=[QUARTIER["region"]]
        ),
    }
    own = walk_to(client, create_project(client, name="Projet suivi"), "prefiguration")
    complete_prefiguration(client, own, consultant_id=users["consultant"].id)
    own = walk_to(client, fire(client, own["id"], "demander_expertise"), "decision_bureau")
    (assignment,) = client.get(f"/api/v1/projects/{own['id']}/assignments").json()
    r = client.post(f"/api/v1/projects/{own['id']}/members", json={"user_id": users["porteur"].id})
    assert r.status_code == 201, r.text
    other = create_project(client, name="Projet d'autrui", region=OTHER_REGION)
    upload(client, other["id"], "note_cadrage")
    projects = {"own": own, "other": other}
    who = {"anonymous": Who(None)} | {
        role: credentials(db, settings, user) for role, user in users.items()
    }
    return World(
        api=client,
        db=db,
        settings=settings,
        who=who,
        projects=projects,
        documents={
            k: client.get(f"/api/v1/projects/{p['id']}/documents").json()[0]["id"]
            for k, p in projects.items()
        },
        deadlines={k: p["deadlines"][0]["id"] for k, p in projects.items()},
        assignment=assignment["id"],
    )


def fresh_porteur_link(world: World, project_id: int) -> int:
    user = make_user(world.db, role="porteur", name="Lien à retirer")
    r = world.api.post(f"/api/v1/projects/{project_id}/members", json={"user_id": user.id})
    assert r.status_code == 201, r.text
    return user.id or 0


def fresh_board_member(world: World, project_id: int) -> int:
    r = world.api.post(
        f"/api/v1/projects/{project_id}/board-members",
        json={"name": "Membre à retirer", "college": "partenaire"},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def fresh_milestone(world: World, project_id: int) -> int:
    admin = world.who["admin"].user
    assert admin is not None
    r = world.api.post(
        f"/api/v1/projects/{project_id}/milestones",
        json={
            "title": "Jalon visé",
            "due_on": (dates.today() + timedelta(days=90)).isoformat(),
            "user_id": admin.id,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def fresh_abandoned_job(world: World) -> int:
    with transaction(world.db) as session:
        job = Job(
            kind="courriel_notification",
            payload={},
            dedupe_key=f"matrice:{uuid.uuid4().hex}",
            status="abandonnee",
            attempts=1,
            next_attempt_at=dates.now(),
            created_at=dates.now(),
        )
        session.add(job)
        session.flush()
        return job.id or 0


def fresh_webhook(world: World) -> int:
    with transaction(world.db) as session:
        endpoint = webhooks.create_endpoint(
            session,
            url="https://93.184.215.14/labelflow",
            events=["transition"],
            actor=SYSTEM,
            allow_private=False,
        )
        return endpoint.id or 0


def path_values(world: World, method: str, path: str, role: str, which: str) -> dict[str, Any]:
    """Values for the path's parameters: the project in play, and fresh records for the routes
    that would consume them (a delete, a revocation) so each cell starts from the same world."""
    project_id = int(world.projects[which]["id"])
    values: dict[str, Any] = {}
    if "{project_id}" in path:
        values["project_id"] = project_id
    if "{document_id}" in path:
        values["document_id"] = world.documents[which]
    if "{key}" in path:
        values["key"] = "regie-de-quartier"
    if "{deadline_id}" in path:
        values["deadline_id"] = world.deadlines[which]
    if "{stakeholder_id}" in path:
        values["stakeholder_id"] = add_stakeholder(world.api, project_id, "partenaire")["id"]
    if "{member_id}" in path:
        values["member_id"] = fresh_board_member(world, project_id)
    if "{milestone_id}" in path:
        values["milestone_id"] = fresh_milestone(world, project_id)
    if "{user_id}" in path:
        if "/members/" in path:
            values["user_id"] = fresh_porteur_link(world, project_id)
        else:
            values["user_id"] = make_user(world.db, role="bureau", name="Compte cible").id
    if "{assignment_id}" in path:
        values["assignment_id"] = world.assignment
    if "{meeting_id}" in path:
        values["meeting_id"] = hold_meeting(world.api)["id"]
    if "{token}" in path:
        values["token"] = "lien-inconnu"  # an invitation or reset link: see test_invitation.py
    if "{job_id}" in path:
        values["job_id"] = fresh_abandoned_job(world)
    if "{wid}" in path:
        values["wid"] = fresh_webhook(world)
    if "{secret}" in path:
        values["secret"] = "adresse-jamais-donnee-" + uuid.uuid4().hex
    if "{name}" in path:
        values["name"] = "20261202T101010123456-deadbeef.eml"  # a mailbox name, absent
    if "{token_id}" in path:
        user = world.who[role].user or world.who["admin"].user
        assert user is not None
        with transaction(world.db) as session:
            values["token_id"] = accounts.create_token(session, user=user, name="cible")[1].id
    if "{notification_id}" in path:
        user = world.who[role].user or world.who["admin"].user
        with transaction(world.db) as session:
            (made,) = notifications.notify(
                session, kind="transition", user_ids=[user.id if user else None], title="t", url="/"
            )
            values["notification_id"] = made.id
    placeholders = path.count("{")
    assert len(values) == placeholders, f"no value for a parameter of {path}: add one here"
    return values


def send(raw: TestClient, world: World, method: str, path: str, role: str, which: str) -> Any:
    url = path.format(**path_values(world, method, path, role, which))
    who = world.who[role]
    if (method, path) == ("POST", "/logout") and who.user is not None:
        # Logging out ends the session: use one of its own.
        cookie, csrf = open_web_session(world.db, world.settings, who.user)
        who = Who(who.user, who.bearer, cookie, csrf)
    headers: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    raw.cookies.clear()
    if path.startswith("/api/"):
        if who.bearer:
            headers["Authorization"] = f"Bearer {who.bearer}"
        if method in ("POST", "PUT", "PATCH") and (method, path) not in NO_BODY:
            kwargs["json"] = {}
    else:
        if who.cookie:
            headers["Cookie"] = f"labelflow_session={who.cookie}"
        if method == "POST":
            kwargs["data"] = {"csrf_token": who.csrf} if who.csrf else {}
    return raw.request(method, url, headers=headers, **kwargs)


def matches(expected: Outcome, response: Any) -> bool:
    status = response.status_code
    to_login = status == 303 and response.headers.get("location", "").startswith("/login?next=")
    if expected == LOGIN:
        return to_login
    if expected == OK:
        return status < 500 and status not in (401, 403, 404) and not to_login
    if expected == ANY:
        return status < 500 and status != 401 and not to_login
    return bool(status == expected)


def cells() -> Iterator[tuple[str, str, str, str, Outcome]]:
    """(method, path, role, project in play, expected outcome) for every cell of the matrix."""
    for method, path in MATRIX:
        for role, cell in zip(ROLE_COLUMNS, row_of(method, path), strict=True):
            if not project_scoped(path):
                yield method, path, role, "own", cell  # type: ignore[misc]
            elif isinstance(cell, tuple):
                yield method, path, role, "own", cell[0]
                yield method, path, role, "other", cell[1]
            else:
                for which in ("own", "other"):
                    yield method, path, role, which, cell


def test_access_matrix(app: Any, world: World) -> None:
    failures = []
    count = 0
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as raw:
        for method, path, role, which, expected in cells():
            response = send(raw, world, method, path, role, which)
            count += 1
            if not matches(expected, response):
                where = f" on {which} project" if project_scoped(path) else ""
                failures.append(
                    f"{method} {path} as {role}{where}: expected {expected}, "
                    f"got {response.status_code} {response.text[:120]!r}"
                )
    assert count > 300
    assert not failures, "\n" + "\n".join(failures)
    # Nothing a refused caller sent changed the projects in play.
    own = world.api.get(f"/api/v1/projects/{world.projects['own']['id']}").json()
    assert own["state"] == "decision_bureau"
    assert own["consultant"]["user_id"] == world.who["consultant"].user.id  # type: ignore[union-attr]


# --- visibility beyond single requests ---------------------------------------------------------


def listed(client: Any) -> set[int]:
    body = client.get("/api/v1/projects").json()
    assert body["total"] == len(body["items"])
    return {p["id"] for p in body["items"]}


def test_lists_show_exactly_the_visible_projects(world: World, client_as: Any) -> None:
    own, other = world.projects["own"]["id"], world.projects["other"]["id"]
    for role in ("admin", "staff"):
        assert listed(client_as(world.who[role].user)) == {own, other}
    for role in ("consultant", "porteur", "bureau", "regional"):
        assert listed(client_as(world.who[role].user)) == {own}, role


def test_a_hidden_project_looks_like_a_missing_one(world: World, client_as: Any) -> None:
    other = world.projects["other"]["id"]
    for role in ("consultant", "porteur", "bureau", "regional"):
        client = client_as(world.who[role].user)
        hidden = client.get(f"/api/v1/projects/{other}")
        missing = client.get("/api/v1/projects/999999")
        assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
        document = client.get(f"/api/v1/documents/{world.documents['other']}/content")
        assert document.status_code == 404


def test_consultant_access_ends_with_the_assignment(world: World, client_as: Any) -> None:
    own = world.projects["own"]["id"]
    consultant = client_as(world.who["consultant"].user)
    assert consultant.get(f"/api/v1/projects/{own}").status_code == 200
    r = world.api.post(
        f"/api/v1/assignments/{world.assignment}/end", json={"reason": "Indisponible."}
    )
    assert r.status_code == 200, r.text
    assert consultant.get(f"/api/v1/projects/{own}").status_code == 404
    assert own not in listed(consultant)
    assert consultant.get(f"/api/v1/projects/{own}/documents").status_code == 404


def test_bureau_sees_a_project_only_at_the_bureau_step(world: World, client_as: Any) -> None:
    own = world.projects["own"]["id"]
    bureau = client_as(world.who["bureau"].user)
    assert bureau.get(f"/api/v1/projects/{own}/decisions").status_code == 200
    decide(world.api, own, "attribution")
    fire(world.api, own, "attribuer_label")
    assert bureau.get(f"/api/v1/projects/{own}").status_code == 404
    assert listed(bureau) == set()


def test_upload_types_per_role(world: World, client_as: Any) -> None:
    """Porteurs add the project's documents but not the expertise report; consultants add the
    report and its annexes only."""
    own = world.projects["own"]["id"]
    porteur = client_as(world.who["porteur"].user)
    consultant = client_as(world.who["consultant"].user)

    def post(client: Any, doc_type: str) -> int:
        return int(
            client.post(
                f"/api/v1/projects/{own}/documents",
                data={"type": doc_type},
                files={"file": ("piece.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
            ).status_code
        )

    assert post(porteur, "rapport_expertise") == 403
    assert post(porteur, "statuts") == 201
    assert post(consultant, "statuts") == 403
    assert post(consultant, "rapport_expertise") == 201
    assert post(consultant, "autre") == 201


def test_porteur_takes_no_action_even_when_allowed_by_the_workflow(
    world: World, client_as: Any
) -> None:
    own = world.projects["own"]["id"]
    porteur = client_as(world.who["porteur"].user)
    seen = porteur.get(f"/api/v1/projects/{own}").json()
    assert seen["state"] == "decision_bureau" and seen["actions"]
    for action in seen["actions"]:
        r = porteur.post(
            f"/api/v1/projects/{own}/transitions",
            json={"action": action["action"], "comment": "Par le porteur"},
        )
        assert r.status_code == 403, (action, r.text)
    assert world.api.get(f"/api/v1/projects/{own}").json()["version"] == seen["version"]


# Writes that no session authorises: sign-in, and what only a link's secret allows (their pages
# carry a double-submit token of their own: see test_password_reset.py).
BEFORE_SIGN_IN = {
    ("POST", "/login"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/invitation/confirm"),
    ("POST", "/mot-de-passe/{token}"),
    ("POST", "/invitation/{token}"),
}


def test_every_state_change_through_a_session_needs_the_anti_forgery_token(
    app: Any, world: World
) -> None:
    """A cross-site request carries the victim's cookie but cannot know the session's token:
    every write, page form or API call, made with a session and without the token is refused."""
    admin = world.who["admin"]
    routes, _mounts = app_routes(app)
    writes = sorted(
        (method, path)
        for method, path in routes
        if method != "GET" and (method, path) not in BEFORE_SIGN_IN
    )
    failures = []
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as raw:
        for method, path in writes:
            url = path.format(**path_values(world, method, path, "admin", "own"))
            raw.cookies.clear()
            kwargs: dict[str, Any] = {"headers": {"Cookie": f"labelflow_session={admin.cookie}"}}
            if path.startswith("/api/"):
                kwargs["json"] = {}
            else:
                kwargs["data"] = {"csrf_token": "devine"}
            response = raw.request(method, url, **kwargs)
            if response.status_code != 403:
                failures.append(f"{method} {path}: {response.status_code}")
    assert len(writes) > 40
    assert not failures, failures
    # The session itself is still good (the refusals did not sign anyone out).
    with TestClient(app) as same:
        same.headers["Cookie"] = f"labelflow_session={admin.cookie}"
        assert same.get("/api/v1/me").status_code == 200
