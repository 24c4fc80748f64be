"""The expertise report as it is read (API, pages, PDF): the grid filled in, and its PDF."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment
from sqlmodel import Session

from labelflow import dates, documents, pdf, records, reports
from labelflow.actors import Actor
from labelflow.events import Fact
from labelflow.governance import board_summary, governance_of
from labelflow.models import BoardMember, ExpertiseReport, Project, User
from labelflow.projects import definition_of
from labelflow.schemas import (
    BoardComposition,
    CollegeCount,
    ReportCriterionPublic,
    ReportPublic,
    ReportThemePublic,
)
from labelflow.workflow import ASSESSMENTS, COLLEGE_LABELS, RECOMMENDATIONS, Engine


def board_composition(board: Sequence[BoardMember]) -> BoardComposition:
    counts = {college: 0 for college in COLLEGE_LABELS}
    for member in board:
        counts[member.college] = counts.get(member.college, 0) + 1
    rule = governance_of(board)
    return BoardComposition(
        summary=board_summary(board),
        members=rule.members,
        colleges=[
            CollegeCount(college=c, label=COLLEGE_LABELS.get(c, c), count=n)
            for c, n in counts.items()
            if n or c == "habitants"
        ],
        habitants_majority=rule.habitants_majority,
        habitant_president=rule.habitant_president,
    )


def report_public(
    session: Session,
    engine: Engine,
    project: Project,
    report: ExpertiseReport | None,
    *,
    actor: Actor,
    content: dict[str, Any] | None = None,
) -> ReportPublic:
    """The report with its grid; `report` None is the blank form of the assigned consultant.

    `content` (same keys as the stored report) overrides what is shown: the values a refused
    form sent back.
    """
    assert project.id is not None
    grid = reports.grid_of(engine, project, report)
    new = reports.new_criteria(engine, project, report)
    stored = reports.content_of(report) if report is not None else {}
    shown = {**stored, **(content or {})}
    assessments: dict[str, dict[str, Any]] = shown.get("assessments") or {}
    themes = [
        ReportThemePublic(
            key=theme.key,
            label=theme.label,
            criteria=[
                ReportCriterionPublic(
                    key=c.key,
                    label=c.label,
                    guidance=c.guidance,
                    shows=c.shows,
                    assessment=(assessments.get(c.key) or {}).get("assessment"),
                    assessment_label=ASSESSMENTS.get(
                        str((assessments.get(c.key) or {}).get("assessment"))
                    ),
                    comment=(assessments.get(c.key) or {}).get("comment") or "",
                    new=c.key in new,
                )
                for c in theme.criteria
            ],
        )
        for theme in grid.themes
    ]
    consultant_id = report.consultant_id if report is not None else project.consultant_id
    consultant = session.get(User, consultant_id) if consultant_id else None
    recommendation = shown.get("recommendation")
    editable = reports.writable(engine, project, actor) and (
        report is None
        or (
            report.status == "brouillon"
            and report.consultant_id == actor.user_id
            and report.transmitted_at is None
        )
    )
    return ReportPublic(
        id=report.id if report is not None else None,
        project_id=project.id,
        status=report.status if report is not None else "brouillon",
        revision=report.revision if report is not None else 1,
        version=report.version if report is not None else 0,
        consultant_id=consultant_id,
        consultant_name=consultant.name if consultant is not None else None,
        themes=themes,
        assessments=assessments,
        visit_dates=shown.get("visit_dates") or [],
        people_met=shown.get("people_met"),
        recommendation=recommendation,
        recommendation_label=RECOMMENDATIONS.get(str(recommendation)),
        recommendations_text=shown.get("recommendations_text"),
        board=board_composition(records.list_board_members(session, project=project)),
        missing=[
            c.label
            for theme in themes
            for c in theme.criteria
            if not c.assessment  # what the form shows, typed values included
        ],
        editable=editable,
        created_at=report.created_at if report is not None else None,
        updated_at=report.updated_at if report is not None else None,
        submitted_at=report.submitted_at if report is not None else None,
        transmitted_at=report.transmitted_at if report is not None else None,
    )


def report_card(
    engine: Engine,
    project: Project,
    actor: Actor,
    rows: Sequence[ExpertiseReport],
    people: Mapping[int, User],
) -> dict[str, Any] | None:
    """The report's section on the project page (None: nothing to show to `actor`), from the
    project's reports (`reports.reports_query`) and their consultants (`people`, by id)."""
    assert project.id is not None
    writing = reports.writable(engine, project, actor)
    if writing:
        report = reports.current_of(rows, project)
    else:
        report = reports.visible_of(rows, project, actor)
    if report is None and not writing and actor.role != "staff":
        return None
    url = f"/projects/{project.id}/report"
    if report is None:
        status, badge = "Non commencé", "muted"
    elif report.transmitted_at is not None:
        status, badge = (
            f"Transmis au Bureau le {dates.french_date(report.transmitted_at)}",
            "success",
        )
    elif report.status == "soumis":
        status, badge = f"Soumis le {dates.french_date(report.submitted_at)}", "success"
    elif report.revision > 1:
        status, badge = "Rouvert : brouillon en cours", "warning"
    else:
        status, badge = "Brouillon en cours de rédaction", "warning"
    editable = writing and (report is None or report.status == "brouillon")
    return {
        "status": status,
        "badge": badge,
        "url": url if report is not None or writing else None,
        "link_label": "Rédiger le rapport" if editable else "Lire le rapport",
        "pdf_url": f"/api/v1/projects/{project.id}/report.pdf" if report is not None else None,
        "consultant": _consultant_name(report, people),
    }


def _consultant_name(report: ExpertiseReport | None, people: Mapping[int, User]) -> str | None:
    if report is None or report.consultant_id is None:
        return None
    user = people.get(report.consultant_id)
    return user.name if user is not None else None


def render_report_pdf(
    env: Environment, session: Session, engine: Engine, project: Project, actor: Actor
) -> tuple[bytes, str]:
    """The PDF of the report `actor` may read (the blank grid for staff before any draft)."""
    report, _writing = reports.report_for(session, engine=engine, project=project, actor=actor)
    public = report_public(session, engine, project, report, actor=actor)
    definition = definition_of(engine, project)
    content = pdf.render_pdf(
        env,
        "pdf/report.html",
        {"project": project, "report": public, "definition": definition},
    )
    return content, f"rapport-expertise-{project.id}-v{public.revision}.pdf"


# --- consequences of facts (subscribed in labelflow.consequences) ----------------------------


def on_transition(fact: Fact) -> None:
    """The report sent to the Bureau is kept with the project as a PDF (type rapport_expertise),
    so the decision file holds exactly what was transmitted."""
    session, actor, (project, definition) = fact.session, fact.actor, fact.subject
    runtime = fact.runtime
    if fact.event.action != definition.roles.report_action or runtime is None:
        return
    report = reports.get_latest_report(session, project=project, transmitted=True)
    if report is None:
        return
    # Rendered as staff see it (the whole report), whoever fired the transition.
    reader = Actor(name=actor.name, role="staff", user_id=actor.user_id, is_admin=False)
    content, filename = render_report_pdf(
        runtime.templates, session, runtime.workflows, project, reader
    )
    documents.create_generated_document(
        session,
        store=runtime.store,
        project=project,
        doc_type="rapport_expertise",
        filename=filename,
        content=content,
        media_type="application/pdf",
        actor=actor,
    )
