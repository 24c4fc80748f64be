"""Calendar feeds (DESIGN §11): each person's private iCalendar feed of the deadlines, milestones
and Bureau meetings that concern them, at a secret address they create, replace and revoke.

The secret is shown once and kept as a digest (like the API tokens). Each entry has a stable UID
(`echeance-<id>@labelflow`, `reunion-<id>@labelflow`) and a SEQUENCE raised when its date moves
(`Deadline.sequence`; for a meeting, each fact recorded about it after the first), so that
calendar clients replace what they showed instead of adding a copy.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import icalendar
import sqlalchemy as sa
from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.accounts import actor_of, digest
from labelflow.actors import Actor
from labelflow.bureau import CANCELLED
from labelflow.errors import NotFound
from labelflow.models import (
    BureauMeeting,
    CalendarFeed,
    Deadline,
    Event,
    Project,
    ProjectFollower,
    ProjectMember,
    User,
)
from labelflow.projects import definition_of, visibility_clause
from labelflow.workflow import Engine

SECRET_BYTES = 32
UID_DOMAIN = "labelflow"
# Meetings shown: those of the past year and every one to come.
MEETINGS_SINCE = timedelta(days=365)
FEED_NOT_FOUND = (
    "Ce calendrier est introuvable : son adresse a peut-être été remplacée ou révoquée."
)


def feed_path(secret: str) -> str:
    return f"/calendar/{secret}.ics"


def create_feed(session: Session, *, user: User) -> str:
    """Create the person's feed, or replace it (the former address stops working); the secret,
    returned once."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    assert user.id is not None
    feed = session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user.id)).first()
    if feed is None:
        feed = CalendarFeed(user_id=user.id, secret_hash=digest(secret), created_at=dates.now())
    else:
        feed.secret_hash, feed.created_at = digest(secret), dates.now()
    session.add(feed)
    session.flush()
    return secret


def revoke_feed(session: Session, *, user_id: int) -> bool:
    """Revoke the person's feed; whether there was one."""
    result = session.execute(sa.delete(CalendarFeed).where(col(CalendarFeed.user_id) == user_id))
    return bool(getattr(result, "rowcount", 0))


def get_feed(session: Session, *, user_id: int) -> CalendarFeed | None:
    return session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user_id)).first()


def owner_of(session: Session, *, secret: str) -> User:
    """The active account whose feed has this secret (404 otherwise: revoked, replaced, unknown)."""
    if not 20 <= len(secret) <= 100:
        raise NotFound(FEED_NOT_FOUND)
    user = session.exec(
        select(User)
        .join(CalendarFeed, col(CalendarFeed.user_id) == User.id)
        .where(CalendarFeed.secret_hash == digest(secret), col(User.active).is_(True))
    ).first()
    if user is None:
        raise NotFound(FEED_NOT_FOUND)
    return user


# --- what concerns whom --------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One event of the feed, as the calendar shows it."""

    uid: str
    on: date
    summary: str
    description: str
    url: str
    sequence: int
    stamp: datetime


def _deadline_rows(
    session: Session, *, actor: Actor, engine: Engine
) -> Sequence[tuple[Deadline, Project]]:
    """Open deadlines that concern `actor`, with their project: those the reminders go to
    (`reminders.recipients`): the staff in charge all of a project's; its porteurs its steps and
    label date; the person a milestone concerns; the assigned consultant the report's step."""
    uid = actor.user_id or 0
    concerns: list[Any] = [col(Deadline.user_id) == uid]
    if actor.role == "staff":
        concerns.append(col(Project.staff_owner_id) == uid)
        concerns.append(
            select(ProjectFollower.id)
            .where(ProjectFollower.project_id == Project.id, ProjectFollower.user_id == uid)
            .exists()
        )
    elif actor.role == "porteur":
        concerns.append(
            sa.and_(
                col(Deadline.kind) != "jalon",
                select(ProjectMember.id)
                .where(ProjectMember.project_id == Project.id, ProjectMember.user_id == uid)
                .exists(),
            )
        )
    elif actor.role == "consultant":
        # Narrowed to the report's step below (a definition's role, not a key).
        concerns.append(sa.and_(col(Deadline.kind) == "etape", col(Project.consultant_id) == uid))
    query = (
        select(Deadline, Project)
        .join(Project, col(Project.id) == Deadline.project_id)
        .where(col(Deadline.closed_on).is_(None), sa.or_(*concerns))
        .order_by(col(Deadline.due_on), col(Deadline.id))
    )
    visible = visibility_clause(actor, engine)
    if visible is not None:
        query = query.where(visible)
    rows = session.exec(query).all()
    if actor.role != "consultant":
        return rows
    return [
        (d, p)
        for d, p in rows
        if d.user_id == uid or d.state == definition_of(engine, p).roles.report_state
    ]


def _what(deadline: Deadline, project: Project, engine: Engine) -> str:
    if deadline.kind == "label":
        return "Date cible du label"
    if deadline.kind == "etape" and deadline.state:
        label = definition_of(engine, project).state(deadline.state).label
        return f"Fin de l'étape « {label} »"
    return f"Jalon : {deadline.title or 'jalon'}"


def _meeting_sequences(session: Session, meeting_ids: list[int]) -> dict[int, int]:
    """How many facts were recorded about each meeting after the first (moved, held...)."""
    if not meeting_ids:
        return {}
    meeting_id = col(Event.data)["meeting_id"].as_integer()
    rows = session.exec(
        select(meeting_id, sa.func.count())
        .where(col(Event.kind) == "reunion", meeting_id.in_(meeting_ids))
        .group_by(meeting_id)
    ).all()
    return {int(i): max(int(n) - 1, 0) for i, n in rows if i is not None}


def entries(session: Session, *, user: User, engine: Engine, base_url: str) -> list[Entry]:
    """Everything the person's feed holds, soonest first."""
    actor = actor_of(user)
    base = base_url.rstrip("/")
    found: list[Entry] = []
    for deadline, project in _deadline_rows(session, actor=actor, engine=engine):
        what = _what(deadline, project, engine)
        url = f"{base}/projects/{project.id}#echeances"
        found.append(
            Entry(
                uid=f"echeance-{deadline.id}@{UID_DOMAIN}",
                on=deadline.due_on,
                summary=f"{project.name} — {what}",
                description=f"{what}, projet « {project.name} ».\n{url}",
                url=url,
                sequence=deadline.sequence,
                stamp=deadline.set_at or deadline.created_at,
            )
        )
    if actor.role in ("bureau", "staff"):
        meetings = session.exec(
            select(BureauMeeting)
            .where(
                col(BureauMeeting.held_on) >= dates.today() - MEETINGS_SINCE,
                col(BureauMeeting.status) != CANCELLED,  # gone from the calendars too
            )
            .order_by(col(BureauMeeting.held_on), col(BureauMeeting.id))
        ).all()
        sequences = _meeting_sequences(session, [m.id for m in meetings if m.id is not None])
        for meeting in meetings:
            url = f"{base}/bureau/meetings#reunion-{meeting.id}"
            found.append(
                Entry(
                    uid=f"reunion-{meeting.id}@{UID_DOMAIN}",
                    on=meeting.held_on,
                    summary="Réunion du Bureau du Mouvement des Régies",
                    description=f"Réunion du Bureau du {dates.french_date(meeting.held_on)}."
                    f"\n{url}",
                    url=url,
                    sequence=sequences.get(meeting.id or 0, 0),
                    stamp=meeting.created_at,
                )
            )
    found.sort(key=lambda e: (e.on, e.uid))
    return found


def render_feed(found: Sequence[Entry], *, name: str) -> bytes:
    """The feed as iCalendar: all-day events (the dates are Paris calendar days)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Mouvement des Régies//labelflow//FR")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"labelflow — {name}")
    calendar.add("x-wr-timezone", dates.PARIS.key)
    for entry in found:
        event = icalendar.Event()
        event.add("uid", entry.uid)
        event.add("dtstamp", entry.stamp)
        event.add("dtstart", entry.on)
        event.add("dtend", entry.on + timedelta(days=1))
        event.add("summary", entry.summary)
        event.add("description", entry.description)
        event.add("url", entry.url)
        event.add("sequence", entry.sequence)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
