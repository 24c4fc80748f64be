"""Assignments as shown: the API shapes, « Mes missions », the project page's consultant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from labelflow import assignments
from labelflow.actors import Actor
from labelflow.assignments import AssignmentView
from labelflow.models import Project, User
from labelflow.schemas import (
    AssignmentProject,
    AssignmentPublic,
    ConsultantPublic,
    DeclarationPublic,
    MyAssignmentPublic,
    StakeholderToDeclare,
)
from labelflow.web.users.present import user_choices
from labelflow.workflow import COLLEGE_LABELS, Engine


def assignment_public(view: AssignmentView) -> AssignmentPublic:
    a, user = view.assignment, view.consultant
    return AssignmentPublic(
        id=a.id or 0,
        project_id=a.project_id,
        status=a.status,
        status_label=view.status_label,
        consultant=ConsultantPublic(user_id=user.id or 0, name=user.name, email=user.email),
        assigned_by=a.assigned_by,
        created_at=a.created_at,
        decided_at=a.decided_at,
        ended_at=a.ended_at,
        ended_by=a.ended_by,
        end_reason=view.end_reason,
        explanation=view.explanation,
        declarations=[
            DeclarationPublic.model_validate(d, from_attributes=True) for d in view.declarations
        ],
    )


def my_assignment_public(view: AssignmentView) -> MyAssignmentPublic:
    """An assignment as its consultant sees it: the project's name and place, and while it is
    pending the stakeholders to declare about (the project itself stays hidden until then)."""
    project = view.project
    assert project is not None and project.id is not None
    active = view.assignment.status == "active"
    return MyAssignmentPublic(
        **assignment_public(view).model_dump(),
        project=AssignmentProject(
            id=project.id,
            name=project.name,
            communes=project.communes,
            url=f"/api/v1/projects/{project.id}" if active else None,
        ),
        stakeholders=[
            StakeholderToDeclare(
                id=s.id or 0,
                name=s.name,
                college=s.college,
                college_label=COLLEGE_LABELS.get(s.college, s.college),
            )
            for s in view.stakeholders
        ],
    )


def missions(session: Session, actor: Actor) -> dict[str, Any]:
    """The consultant's missions: pending ones to declare about, active ones, the others."""
    views_ = assignments.list_consultant_assignments(session, actor=actor)
    return {
        "pending": [v for v in views_ if v.assignment.status == "en_attente"],
        "active": [v for v in views_ if v.assignment.status == "active"],
        "past": [v for v in views_ if v.assignment.status in ("refusee", "terminee")],
        "nav": "assignments",
        "json_url": "/api/v1/me/assignments",
    }


def consultant_section(
    engine: Engine,
    project: Project,
    consultants: Sequence[User],
    views: Sequence[AssignmentView],
    *,
    can_assign: bool,
) -> dict[str, Any]:
    """The project page's « Consultant·e » section: the assignments (`views`, newest first) and
    who may be assigned (among `consultants`)."""
    context: dict[str, Any] = {
        "consultant_choices": [],
        "assignments": [],
        "current_assignment": None,
        "assignable": assignments.may_assign(engine, project),
    }
    if can_assign:
        context["consultant_choices"] = user_choices(consultants)
        context["assignments"] = list(views)
        context["current_assignment"] = next(
            (v for v in views if v.assignment.status in assignments.CURRENT), None
        )
    return context
