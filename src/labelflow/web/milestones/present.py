"""Milestones as shown: the API shape (a deadline of kind `jalon`) and the project page's
section (the people a milestone may concern, for staff's forms)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from labelflow import dates, deadlines
from labelflow.actors import ROLE_LABELS
from labelflow.models import Deadline, Project
from labelflow.schemas import DeadlinePublic
from labelflow.web.projects.present import deadline_public, milestone_views


def milestone_public(session: Session, project: Project, deadline: Deadline) -> DeadlinePublic:
    return deadline_public(
        project, deadline, deadlines.people_of(session, [deadline]), dates.today()
    )


def milestone_section(session: Session, project: Project, *, can_write: bool) -> dict[str, Any]:
    """The project page's milestones, and for staff whom a new one may concern."""
    people = deadlines.people_concerned(session, project=project) if can_write else []
    return {
        "milestones": milestone_views(session, project),
        "milestone_status_labels": deadlines.MILESTONE_STATUS_LABELS,
        "milestone_people": [
            (str(u.id), f"{u.name} ({ROLE_LABELS.get(u.role, u.role).lower()})") for u in people
        ],
    }
