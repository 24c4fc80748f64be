"""The expertise report in the JSON API (and its PDF)."""

from __future__ import annotations

from fastapi import Request, Response
from jinja2 import Environment

from labelflow import reports
from labelflow.models import ExpertiseReport
from labelflow.report_document import render_report_pdf, report_public
from labelflow.schemas import CommentIn, ReportDraft, ReportPublic, ReportVersionPublic
from labelflow.web.deps import ActorDep, EngineDep, ProjectDep, SessionDep
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.routing import api_router

router = api_router(tags=["rapport d'expertise"])


def report_version(report: ExpertiseReport | None) -> int:
    """The report's version as its ETag (0: nothing saved yet)."""
    return report.version if report is not None else 0


@router.get("/projects/{project_id}/report", summary="Le rapport d'expertise")
def get_report(
    project: ProjectDep, session: SessionDep, engine: EngineDep, actor: ActorDep, response: Response
) -> ReportPublic:
    """The assigned consultant gets the report they are writing (`id` null: nothing saved yet,
    version 0); staff the current or latest report; porteurs and the Bureau the report once
    transmitted to the Bureau (404 before)."""
    report, _writing = reports.report_for(session, engine=engine, project=project, actor=actor)
    set_etag(response, report_version(report))
    return report_public(session, engine, project, report, actor=actor)


@router.put("/projects/{project_id}/report", summary="Enregistrer le brouillon du rapport")
def put_report(
    data: ReportDraft,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ReportPublic:
    """Replace the draft's content (the assigned consultant only). `If-Match`: the report's
    version as read (0 before the first save); stale → 412; a submitted report → 409."""
    report = reports.save_report_draft(
        session, engine=engine, project=project, actor=actor, data=data, if_match=if_match
    )
    set_etag(response, report_version(report))
    return report_public(session, engine, project, report, actor=actor)


@router.post("/projects/{project_id}/report/submit", summary="Soumettre le rapport")
def submit_report(
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ReportPublic:
    """Every criterion assessed, an overall recommendation and a visit date, else 422
    `rapport_incomplet` listing what is missing; then the report is locked."""
    report = reports.submit_report(
        session, engine=engine, project=project, actor=actor, if_match=if_match
    )
    set_etag(response, report_version(report))
    return report_public(session, engine, project, report, actor=actor)


@router.post("/projects/{project_id}/report/reopen", summary="Rouvrir le rapport soumis")
def reopen_report(
    data: CommentIn,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> ReportPublic:
    """Staff only, with a comment: the report becomes a draft again (next revision); the
    submitted revision stays in `.../report/versions`."""
    report = reports.reopen_report(
        session,
        engine=engine,
        project=project,
        actor=actor,
        comment=data.comment,
        if_match=if_match,
    )
    set_etag(response, report_version(report))
    return report_public(session, engine, project, report, actor=actor)


@router.get("/projects/{project_id}/report/versions", summary="Versions soumises du rapport")
def report_versions(
    project: ProjectDep, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> list[ReportVersionPublic]:
    """Every submitted revision of the report (staff and the consultant)."""
    report, _writing = reports.report_for(session, engine=engine, project=project, actor=actor)
    return [
        ReportVersionPublic.model_validate(v, from_attributes=True)
        for v in reports.list_visible_versions(session, actor=actor, report=report)
    ]


@router.get(
    "/projects/{project_id}/report.pdf",
    summary="Le rapport d'expertise en PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def report_pdf(
    request: Request, project: ProjectDep, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> Response:
    env: Environment = request.app.state.templates.env
    content, filename = render_report_pdf(env, session, engine, project, actor)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
