"""The expertise report as shown on its page (the report itself, as read by the API, the pages
and the PDF, is `labelflow.report_document`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from labelflow import reports
from labelflow.actors import Actor
from labelflow.models import Project
from labelflow.report_document import report_public
from labelflow.web.account.present import home_link
from labelflow.web.projects.present import project_summary
from labelflow.workflow import ASSESSMENTS, RECOMMENDATIONS, Engine

# Empty date inputs offered after the dates already entered (more appear once saved).
SPARE_VISIT_DATES = 2


def report_page(
    session: Session,
    engine: Engine,
    project: Project,
    actor: Actor,
    *,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report page of `actor`: the grid as saved, or as typed in a refused form (`content`)."""
    report, _writing = reports.report_for(session, engine=engine, project=project, actor=actor)
    public = report_public(session, engine, project, report, actor=actor, content=content)
    can_reopen = reports.may_reopen(actor, report)
    versions = (
        reports.list_visible_versions(session, actor=actor, report=report)
        if reports.may_see_versions(actor)
        else []
    )
    nav, crumb_href, crumb_label = home_link(actor)
    # Dates stay as typed when a form is refused (an invalid one cannot become a date).
    typed_dates = [str(d) for d in (content or {}).get("visit_dates", public.visit_dates)]
    return {
        "project": project_summary(engine, project, overdue=False),
        "report": public,
        "versions": versions,
        "can_reopen": can_reopen,
        "visit_dates": typed_dates + [""] * SPARE_VISIT_DATES,
        "assessment_choices": list(ASSESSMENTS.items()),
        "recommendation_choices": list(RECOMMENDATIONS.items()),
        "nav": nav,
        "crumb_href": crumb_href,
        "crumb_label": crumb_label,
        "json_url": f"/api/v1/projects/{project.id}/report",
        "pdf_url": f"/api/v1/projects/{project.id}/report.pdf",
    }
