"""What the project page reads, in one statement: the project's facts (`projects.load_facts`)
and, as more parts of that statement, each section's rows as its service selects them (the
history, the documents, the report, the consultant's assignments, the thread, the accounts
the forms offer). What the view's tokens already read (`project_view`: the thread's unread
count, how far the viewer read it, whether they follow the project) is not read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from labelflow import assignments, deadlines, decisions, documents, events, messages, reports
from labelflow.actors import Actor
from labelflow.assignments import AssignmentView
from labelflow.criteria import Facts
from labelflow.messages import MessageView
from labelflow.models import (
    ConflictDeclaration,
    ConsultantAssignment,
    Decision,
    Document,
    Event,
    ExpertiseReport,
    Message,
    MessageDocument,
    Project,
    ProjectMember,
    User,
    Vote,
)
from labelflow.permissions import (
    MEMBERS_MANAGE,
    PROJECT_WRITE,
    RECORD_WRITE,
    allows,
    message_audiences,
)
from labelflow.projects import MoreRows, load_facts_with
from labelflow.workflow import Engine


@dataclass
class PageRows:
    """The rows of the page's sections; the accounts of a form the viewer may not use, none."""

    recent: list[Event]  # the latest facts the viewer reads (`newest` of them), oldest first
    entries: list[Event]  # the facts that put the project in a state (`state_entries_query`)
    documents: list[Document]  # those the viewer may see (`documents.list_documents`)
    reports: list[ExpertiseReport]  # oldest first (`reports.reports_query`)
    report_people: dict[int, User]  # the reports' consultants, by id
    votes: dict[int, list[tuple[int, str, str]]]  # per decision (`decisions.list_votes`)
    staff: list[User]  # active staff: who may follow the project (`PROJECT_WRITE`)
    members: list[User]  # the project's porteurs' accounts (`MEMBERS_MANAGE`)
    porteurs: list[User]  # every porteur account: who may be linked (`MEMBERS_MANAGE`)
    consultants: list[User]  # every consultant account (`RECORD_WRITE`)
    assignments: list[AssignmentView]  # newest first (`RECORD_WRITE`)
    messages: list[MessageView]  # the thread the viewer reads, oldest first
    concerned: list[User]  # whom a milestone may concern (`deadlines.people_concerned`)


def load_page(
    session: Session, *, engine: Engine, project: Project, actor: Actor, newest: int
) -> tuple[Facts, PageRows]:
    """The project's facts and the page's rows for `actor`, in one statement (`newest`: how
    many of the latest facts)."""
    more = MoreRows((actor, newest), _parts)
    facts, rows = load_facts_with(session, engine=engine, project=project, more=more)
    audiences = message_audiences(actor)
    return facts, PageRows(
        recent=list(reversed(rows["recent"])),
        entries=rows["entries"],
        documents=rows["readable"],
        reports=rows["reports"],
        report_people={u.id or 0: u for u in rows["report_people"]},
        votes=decisions.votes_of(facts.decisions, rows["votes"]),
        staff=rows.get("staff", []),
        members=rows.get("members", []),
        porteurs=rows.get("porteurs", []),
        consultants=rows.get("consultants", []),
        assignments=assignments.views_of(
            rows.get("assignments", []), rows.get("declarations", []), rows.get("ends", [])
        ),
        messages=messages.message_views(rows.get("messages", []), rows.get("attachments", []))
        if audiences
        else [],
        concerned=rows.get("concerned", []),
    )


def _parts(key: tuple[Actor, int]) -> Sequence[tuple[str, Any]]:
    """The page's parts for a viewer (built once per viewer, `projects._more_query`: a
    non-staff viewer's own uploads are among its documents, their id in the statement)."""
    actor, newest = key
    project_id = sa.bindparam("project_id", type_=sa.Integer)
    decided = select(Decision.id).where(Decision.project_id == project_id)
    reported = select(ExpertiseReport.consultant_id).where(ExpertiseReport.project_id == project_id)
    parts: list[tuple[str, Any]] = [
        ("recent", events.latest_query(project_id, actor, newest)),
        ("entries", events.state_entries_query(project_id)),
        ("readable", documents.documents_query(project_id, actor)),
        ("reports", reports.reports_query(project_id)),
        ("report_people", select(User).where(col(User.id).in_(reported)).order_by(col(User.id))),
        ("votes", decisions.votes_query(col(Vote.decision_id).in_(decided))),
    ]
    if allows(actor, PROJECT_WRITE):
        consultant_id = sa.bindparam("consultant_id", type_=sa.Integer)
        parts.append(("staff", _accounts(role="staff", active=True)))
        parts.append(("concerned", deadlines.people_concerned_query(project_id, consultant_id)))
    if allows(actor, MEMBERS_MANAGE):
        members = select(User).join(ProjectMember, col(ProjectMember.user_id) == User.id)
        members = members.where(ProjectMember.project_id == project_id)
        parts.append(("members", members.order_by(col(User.name), col(User.id))))
        parts.append(("porteurs", _accounts(role="porteur")))
    if allows(actor, RECORD_WRITE):
        assigned = select(ConsultantAssignment.id).where(
            ConsultantAssignment.project_id == project_id
        )
        parts += [
            ("consultants", _accounts(role="consultant")),
            ("assignments", assignments.assignments_query(project_id)),
            (
                "declarations",
                assignments.declarations_query(
                    col(ConflictDeclaration.assignment_id).in_(assigned)
                ),
            ),
            ("ends", assignments.end_facts_query(col(Event.project_id) == project_id)),
        ]
    if message_audiences(actor):
        posted = select(Message.id).where(Message.project_id == project_id)
        attached = col(MessageDocument.message_id).in_(posted)
        parts += [
            ("messages", messages.thread_messages_query(project_id, actor)),
            ("attachments", messages.attachments_query(attached)),
        ]
    return parts


def _accounts(*, role: str, active: bool | None = None) -> Any:
    """The accounts of `role`, by name: `accounts.list_users`' select."""
    query = select(User).where(User.role == role)
    if active is not None:
        query = query.where(col(User.active).is_(active))
    return query.order_by(col(User.name), col(User.id))
