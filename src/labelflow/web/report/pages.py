"""The expertise report's pages: the consultant's form (autosaved by static/report.js, and
working without it), the submitted report, staff's reopening. The same services as the JSON
API (`report.api`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from labelflow import reports
from labelflow.actors import Actor
from labelflow.errors import DomainError
from labelflow.models import Project
from labelflow.schemas import ReportDraft
from labelflow.web import confirm
from labelflow.web.deps import ActorDep, EngineDep, ProjectDep, SessionDep
from labelflow.web.errors import french_fields
from labelflow.web.etag import version_of
from labelflow.web.report.present import report_page as report_context
from labelflow.web.routing import page_router, render
from labelflow.workflow import Engine

router = page_router()


def _form_field(api_field: str) -> str:
    """'assessments.<key>.assessment' → 'a__<key>'; 'visit_dates.0' → 'visit_dates'."""
    parts = api_field.split(".")
    if parts[0] == "assessments" and len(parts) > 1:
        return f"a__{parts[1]}"
    return parts[0]


def _errors(items: list[dict[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for item in items:
        result.setdefault(_form_field(item["field"]), []).append(item["message"])
    return result


def _posted(form: Any, keys: list[str]) -> dict[str, Any]:
    """The posted form as the API's draft body (blank values left out)."""
    assessments = {}
    for key in keys:
        assessment = str(form.get(f"a__{key}") or "").strip()
        comment = str(form.get(f"c__{key}") or "").strip()
        if assessment or comment:
            assessments[key] = {"assessment": assessment or None, "comment": comment}
    return {
        "assessments": assessments,
        "visit_dates": [d for d in (str(v).strip() for v in form.getlist("visit_dates")) if d],
        "people_met": str(form.get("people_met") or "").strip() or None,
        "recommendation": str(form.get("recommendation") or "").strip() or None,
        "recommendations_text": str(form.get("recommendations_text") or "").strip() or None,
    }


def show_report(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    *,
    content: dict[str, Any] | None = None,
    message: str = "",
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    actor: Actor = request.state.viewer
    context = report_context(session, engine, project, actor, content=content)
    context.update(message=message, errors=errors or {}, notice=notice)
    return render(request, "report.html", context, status_code)


NOTICES = {
    "enregistre": "Brouillon enregistré.",
    "soumis": "Rapport soumis : il est désormais verrouillé, prêt à être transmis au Bureau.",
    "rouvert": "Rapport rouvert : le ou la consultant·e peut de nouveau le modifier.",
}


@router.get("/projects/{project_id}/report")
def report_page(
    request: Request,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    fait: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return show_report(request, session, engine, project, notice=NOTICES.get(fait, ""))


@router.post("/projects/{project_id}/report")
async def save_report(
    request: Request,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    """« Enregistrer le brouillon » (intent=save) or « Soumettre le rapport » (intent=submit:
    what was typed is saved first, so a refused submission loses nothing)."""
    form = await request.form()
    grid = reports.writing_grid(session, engine=engine, project=project)
    keys = [c.key for c in grid.criteria()]
    content = _posted(form, keys)
    try:
        data = ReportDraft.model_validate(content)
        saved = reports.save_report_draft(
            session,
            engine=engine,
            project=project,
            actor=actor,
            data=data,
            if_match=version_of(str(form.get("version") or "")),
        )
    except (ValidationError, DomainError) as exc:
        session.rollback()
        if isinstance(exc, ValidationError):
            message = "Certaines valeurs sont invalides : corrigez les champs signalés."
            errors = _errors(french_fields(exc.errors()))
            status = 422
        else:
            message, errors, status = exc.message, _errors(exc.extra.get("fields", [])), exc.status
        return show_report(
            request,
            session,
            engine,
            project,
            content=content,
            message=message,
            errors=errors,
            status_code=status,
        )
    if form.get("intent") != "submit":
        return RedirectResponse(f"/projects/{project.id}/report?fait=enregistre", 303)
    if not confirm.confirmed(form.get("confirm")):
        # Without JavaScript: the draft is saved (nothing typed is lost, « Annuler » goes back
        # to it), then the same form is asked again, at the version just saved.
        values: dict[str, object] = {k: form.getlist(k) for k in form}
        values["version"] = str(saved.version)
        return confirm.ask(
            request,
            key="report_submit",
            fields=confirm.hidden_fields(values),
            cancel=f"/projects/{project.id}/report",
        )
    try:
        reports.submit_report(session, engine=engine, project=project, actor=actor, if_match=None)
    except DomainError as exc:
        # The draft just saved stays saved: only the submission is refused.
        return show_report(
            request,
            session,
            engine,
            project,
            message=f"Brouillon enregistré, mais le rapport n'est pas soumis. {exc.message}",
            errors=_errors(exc.extra.get("fields", [])),
            status_code=exc.status,
        )
    return RedirectResponse(f"/projects/{project.id}/report?fait=soumis", 303)


@router.post("/projects/{project_id}/report/reopen")
def reopen_report(
    request: Request,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    comment: Annotated[str, Form(max_length=5000)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        reports.reopen_report(
            session,
            engine=engine,
            project=project,
            actor=actor,
            comment=comment,
            if_match=version_of(version),
        )
    except DomainError as exc:
        session.rollback()
        return show_report(
            request,
            session,
            engine,
            project,
            message=exc.message,
            errors=_errors(exc.extra.get("fields", [])),
            status_code=exc.status,
        )
    return RedirectResponse(f"/projects/{project.id}/report?fait=rouvert", 303)
