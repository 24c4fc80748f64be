"""Milestones as shown: the API shape (a deadline of kind `jalon`) and the project page's
section (the people a milestone may concern, for staff's forms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from labelflow import dates, deadlines
from labelflow.actors import ROLE_LABELS
from labelflow.criteria import Facts
from labelflow.models import Deadline, Project, User
from labelflow.schemas import DeadlinePublic
from labelflow.web.projects.present import deadline_public


def milestone_public(session: Session, project: Project, deadline: Deadline) -> DeadlinePublic:
    return deadline_public(
        project, deadline, deadlines.people_of(session, [deadline]), dates.today()
    )


def milestone_section(
    project: Project, facts: Facts, concerned: Sequence[User], *, can_write: bool
) -> dict[str, Any]:
    """The project page's milestones (among the project's `facts`), and for staff whom a new
    one may concern (`concerned`, `deadlines.people_concerned`)."""
    people = concerned if can_write else []
    today = dates.today()
    return {
        "milestones": [
            deadline_public(project, d, facts.people, today)
            for d in deadlines.milestones_of(facts.deadlines)
        ],
        "milestone_status_labels": deadlines.MILESTONE_STATUS_LABELS,
        "milestone_people": [
            (str(u.id), f"{u.name} ({ROLE_LABELS.get(u.role, u.role).lower()})") for u in people
        ],
    }
