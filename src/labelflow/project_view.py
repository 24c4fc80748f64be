"""What the project's view (its JSON, its page) is cached under, read in one statement.

The view is computed once per process and kept (`cache.Cache`) until one of these tokens
changes; every one is read in the request's own transaction, before what it guards:

- `version`: the project row (every change of it increments it: name, communes, state,
  suspension, the chargé·e de suivi, the consultant, the association, the label...);
- `head`: the project's latest event. Every fact about the project is an event of it, written
  in the fact's transaction: a transition, a suspension, a document added or reviewed (a scan
  happens during the upload, before the fact), a stakeholder, board member, attestation, a
  deadline or milestone moved, a consultant assigned, declared or ended, the report saved,
  submitted or reopened, a recusal, a decision, a porteur linked, a message posted;
- `others`: the latest event of no project — an account created or changed (the names the view
  shows: the chargé·e de suivi, the consultant, a milestone's person, the staff to choose
  from), a Bureau meeting convened, moved or held;
- `figures`: the token of `figures_versions` (the forecast's durations, `stats`);
- `today`: the Paris date (deadlines due soon or overdue, the forecast).

For the page, the viewer's own state that changes with no fact: how far they read the thread
(`read_up_to`) and whether they follow the project (`following`). The viewer themselves (role,
régions, rights) is part of the cache key, not a token. What is never cached but read here for
every request: the viewer's unread count and who the thread waits for, and, for the page, what
its shell shows (`ShellCounts`: the bell, the navigation's unread messages), which every other
page reads alone (`shell_counts`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session, col, func, select

from labelflow import accounts, dates, messages, notifications, projects
from labelflow.actors import Actor
from labelflow.errors import NotFound
from labelflow.models import Event, FiguresVersion, MessageRead, Project, ProjectFollower
from labelflow.permissions import message_audiences
from labelflow.stats import FIGURES_KEY
from labelflow.workflow import Engine


@dataclass(frozen=True)
class Tokens:
    project_id: int
    version: int
    head: int | None
    others: int | None
    figures: str | None
    today: date
    read_up_to: int | None
    following: bool

    @property
    def of_project(self) -> tuple[Any, ...]:
        """What every viewer's view shares (the JSON is the same for all who see it)."""
        return (self.version, self.head, self.others, self.figures, self.today)


@dataclass(frozen=True)
class ShellCounts:
    """What every page's shell shows of the signed-in user: the bell's unread notifications and
    the navigation's unread messages (None: a role without messages)."""

    notifications: int
    messages: int | None


@dataclass(frozen=True)
class ViewState:
    tokens: Tokens
    unread: int
    awaiting: messages.AwaitingFrom | None
    shell: ShellCounts | None = None


def reader_audiences(actor: Actor) -> tuple[str, ...]:
    """The messages' audiences `actor` reads (none: a role without messages)."""
    return tuple(message_audiences(actor)) if actor.user_id is not None else ()


def shell_counts(session: Session, *, actor: Actor) -> ShellCounts:
    """The page shell's counts: one statement, built once per role."""
    audiences = reader_audiences(actor)
    row = session.execute(
        sa.select(*shell_columns(actor.role, audiences)), {"user_id": actor.user_id or 0}
    ).one()
    return shell_of(audiences, row)


def shell_of(audiences: tuple[str, ...], row: Any) -> ShellCounts:
    """The shell's counts from the two values of `shell_columns`."""
    bell, unread = row
    return ShellCounts(int(bell), int(unread) if audiences else None)


@functools.lru_cache(maxsize=16)
def shell_columns(role: str, audiences: tuple[str, ...]) -> tuple[Any, ...]:
    """The shell's counts as two scalar subqueries (parameter `user_id`), for a statement of
    their own (`shell_counts`) or a page's (`view_state`, `pipeline.page_state`)."""
    user_id = sa.bindparam("user_id", type_=sa.Integer)
    return (
        notifications.unread_count(user_id).label("bell"),
        messages.unread_total_count(role, audiences, user_id).label("messages"),
    )


def view_state(
    session: Session, *, project: Project, actor: Actor, shell: bool = False
) -> ViewState:
    """The tokens, the viewer's unread count and who the thread waits for (`shell`: and the
    page shell's counts): one statement."""
    assert project.id is not None
    audiences = reader_audiences(actor)
    row = session.execute(
        _state_query(audiences, actor.role if shell else None),
        {"project_id": project.id, "user_id": actor.user_id or 0},
    ).one()
    return _view(project, audiences, row, shell)


def visible_view(
    session: Session, *, engine: Engine, actor: Actor, project_id: int, shell: bool = False
) -> tuple[Project, ViewState]:
    """`projects.visible_project` (404) and `view_state` in one statement: the project row,
    under the visibility rule, beside the view's one-row summary (a derived table)."""
    audiences = reader_audiences(actor)
    query = _visible_view_query(
        projects.visible_query(engine, actor), audiences, actor.role if shell else None
    )
    row = session.execute(query, _view_params(actor, project_id)).first()
    if row is None:
        raise NotFound("Ce projet est introuvable.")
    project: Project = row[0]
    return project, _view(project, audiences, row[1:], shell)


class ProjectHead(Protocol):
    """What a kept answer reads of its project (the JSON's ETag, the page's title and links):
    a `Project`, or the short path's `Head` of these columns alone (`signed_visible_view`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def version(self) -> int: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Head:
    id: int
    version: int
    name: str


def signed_visible_view(
    connection: Connection,
    *,
    engine: Engine,
    known: accounts.KnownSecret,
    project_id: int,
    shell: bool = False,
) -> tuple[Head, ViewState, Sequence[Any]] | None:
    """`visible_view` for the holder of a secret this process knows, its row read again in
    the same statement (`accounts.SIGNER_ROWS`), last: one statement signs and reads, the
    caller asks `accounts.still_signs` of that row. Through Core, and of the project its
    `Head` only (what a kept answer reads; the long way loads the project). None when the
    project is not visible to whom it was (or the row is gone): the long way answers."""
    actor = accounts.actor_of(known.user)
    audiences = reader_audiences(actor)
    signer = accounts.SIGNER_ROWS[type(known.record)]
    query = _signed_view_query(
        projects.visible_query(engine, actor), audiences, actor.role if shell else None, signer
    )
    params = {**_view_params(actor, project_id), "digest": known.digest}
    row = connection.execute(query, params).first()
    if row is None:
        return None
    width, columns = len(signer.c), len(_HEAD)
    head = Head(*row[:columns])
    return head, _view(head, audiences, row[columns:-width], shell), row[-width:]


def _view_params(actor: Actor, project_id: int) -> dict[str, Any]:
    return {**projects.visible_params(actor, project_id), "user_id": actor.user_id or 0}


def _visible_where(visible: Any) -> Any:
    return visible.whereclause if visible.whereclause is not None else sa.true()


_PROJECTS = sa.inspect(Project).local_table
_HEAD = (_PROJECTS.c.id, _PROJECTS.c.version, _PROJECTS.c.name)  # `Head`'s fields, in order


@functools.lru_cache(maxsize=64)
def _visible_view_query(visible: Any, audiences: tuple[str, ...], shell_role: str | None) -> Any:
    """Built once per shape of the visibility rule (its statement, cached by `projects`) and
    of the view's statement."""
    summary = _state_query(audiences, shell_role).subquery("vue")
    return sa.select(Project, *summary.c).join(summary, sa.true()).where(_visible_where(visible))


@functools.lru_cache(maxsize=64)
def _signed_view_query(
    visible: Any, audiences: tuple[str, ...], shell_role: str | None, signer: Any
) -> Any:
    """`_visible_view_query` in Core: the project's `Head` first, the signer's row last."""
    summary = _state_query(audiences, shell_role).subquery("vue")
    return (
        sa.select(*_HEAD, *summary.c, *signer.c)
        .select_from(_PROJECTS.join(summary, sa.true()).join(signer, sa.true()))
        .where(_visible_where(visible))
    )


def _view(project: ProjectHead, audiences: tuple[str, ...], row: Any, shell: bool) -> ViewState:
    assert project.id is not None
    counts = shell_of(audiences, row[:2]) if shell else None
    head, others, figures, read_up_to, following, unread, porteur, asked, staff = row[-9:]
    return ViewState(
        Tokens(
            project.id,
            project.version,
            head,
            others,
            figures,
            dates.today(),
            read_up_to,
            bool(following),
        ),
        int(unread),
        messages.awaiting_from(porteur, asked, staff),
        counts,
    )


@functools.lru_cache(maxsize=16)
def _state_query(audiences: tuple[str, ...], shell_role: str | None) -> Any:
    """Built once per set of audiences read (and role whose shell counts are read, if any);
    parameters `project_id` and `user_id`."""
    project_id = sa.bindparam("project_id", type_=sa.Integer)
    user_id = sa.bindparam("user_id", type_=sa.Integer)
    head = select(func.max(Event.id)).where(col(Event.project_id) == project_id)
    others = select(func.max(Event.id)).where(col(Event.project_id).is_(None))
    figures = select(FiguresVersion.token).where(col(FiguresVersion.key) == FIGURES_KEY)
    read_up_to = select(MessageRead.last_read_message_id).where(
        col(MessageRead.project_id) == project_id, col(MessageRead.user_id) == user_id
    )
    following = select(func.count(col(ProjectFollower.id))).where(
        col(ProjectFollower.project_id) == project_id, col(ProjectFollower.user_id) == user_id
    )
    shell = shell_columns(shell_role, audiences) if shell_role is not None else ()
    return messages.thread_query(
        audiences,
        *shell,
        head.scalar_subquery(),
        others.scalar_subquery(),
        figures.scalar_subquery(),
        read_up_to.scalar_subquery(),
        following.scalar_subquery(),
    )
