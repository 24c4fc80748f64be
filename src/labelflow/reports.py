"""The expertise report: drafts saved by the assigned consultant, submission (then locked),
reopening by staff, transmission to the Bureau with the project.

One report per consultant and pass through the expertise: the *current* report of a project is
the latest one of its assigned consultant not yet transmitted to the Bureau. Once the project
moves on (`transmettre_bureau`) the report is transmitted and porteurs may read it; a project
sent back (`ajourner`) gets a new report on its next pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.errors import (
    ActionNotPossible,
    CommentRequired,
    Conflict,
    Forbidden,
    Invalid,
    PreconditionFailed,
    ReportClosed,
    ReportIncomplete,
    ReportLocked,
    ReportNotFound,
    ReportNotSubmitted,
    ReportOutOfStep,
    ReportTransmitted,
    StaleVersion,
)
from labelflow.events import Fact, record_fact
from labelflow.french import plural
from labelflow.models import (
    ConsultantAssignment,
    ExpertiseReport,
    ExpertiseReportVersion,
    Project,
    id_of,
)
from labelflow.permissions import RECORD_WRITE, allows, require
from labelflow.schemas import ReportDraft
from labelflow.workflow import Engine, ExpertiseGrid, WorkflowDefinition

CONTENT_FIELDS = (
    "assessments",
    "visit_dates",
    "people_met",
    "recommendation",
    "recommendations_text",
)


def grid_of(
    engine: Engine, project: Project, report: ExpertiseReport | None = None
) -> ExpertiseGrid:
    """The grid `report` follows (its own version: a submitted report keeps it when its project
    migrates); without a report, the grid of the project's version (a report begun now)."""
    version = report.grid_version if report is not None else project.workflow_version
    return engine.expertise_grid(project.workflow_key, version)


def new_criteria(engine: Engine, project: Project, report: ExpertiseReport | None) -> set[str]:
    """The criteria a draft carried to a new grid had no answer for (shown as new)."""
    if report is None or report.carried_from_version is None:
        return set()
    before = engine.expertise_grid(project.workflow_key, report.carried_from_version)
    old = {c.key for c in before.criteria()}
    return {c.key for c in grid_of(engine, project, report).criteria()} - old


def writing_grid(session: Session, *, engine: Engine, project: Project) -> ExpertiseGrid:
    """The grid of the report being written on `project` (its current report's, else the
    project's version)."""
    return grid_of(engine, project, get_current_report(session, project=project))


def _definition(engine: Engine, project: Project) -> WorkflowDefinition:
    return engine.definition(project.workflow_key, project.workflow_version)


# --- reading ----------------------------------------------------------------------------------


def reports_query(project_id: Any) -> Any:
    """Every report of the project `project_id` (a value or a parameter), oldest first: one per
    pass through the expertise, a handful."""
    return (
        select(ExpertiseReport)
        .where(ExpertiseReport.project_id == project_id)
        .order_by(col(ExpertiseReport.id))
    )


def get_latest_report(
    session: Session, *, project: Project, transmitted: bool = False
) -> ExpertiseReport | None:
    return latest_of(session.exec(reports_query(id_of(project))).all(), transmitted=transmitted)


def get_current_report(session: Session, *, project: Project) -> ExpertiseReport | None:
    """The report the assigned consultant is writing (or has submitted) in this pass."""
    if project.consultant_id is None:
        return None  # no statement: no report is current without a consultant
    return current_of(session.exec(reports_query(id_of(project))).all(), project)


def latest_of(
    reports: Sequence[ExpertiseReport], *, transmitted: bool = False
) -> ExpertiseReport | None:
    """The latest of the project's `reports` (`reports_query`), transmitted ones only if asked."""
    shown = (r for r in reversed(reports) if r.transmitted_at is not None or not transmitted)
    return next(shown, None)


def current_of(reports: Sequence[ExpertiseReport], project: Project) -> ExpertiseReport | None:
    """`get_current_report` among the project's `reports` (`reports_query`)."""
    if project.consultant_id is None:
        return None
    return next(
        (
            r
            for r in reversed(reports)
            if r.consultant_id == project.consultant_id and r.transmitted_at is None
        ),
        None,
    )


def may_write(actor: Actor, project: Project) -> bool:
    return (
        actor.role == "consultant"
        and actor.user_id is not None
        and project.consultant_id == actor.user_id
    )


def get_visible_report(
    session: Session, *, project: Project, actor: Actor
) -> ExpertiseReport | None:
    """The report `actor` may read on a project they see (None: none for them, yet).

    Porteurs and the Bureau read the report transmitted to the Bureau, never a draft; staff and
    the assigned consultant read the current one, else the latest.
    """
    return visible_of(session.exec(reports_query(id_of(project))).all(), project, actor)


def visible_of(
    reports: Sequence[ExpertiseReport], project: Project, actor: Actor
) -> ExpertiseReport | None:
    """`get_visible_report` among the project's `reports` (`reports_query`)."""
    if actor.role in ("porteur", "bureau"):
        return latest_of(reports, transmitted=True)
    if actor.role in ("staff", "consultant"):
        return current_of(reports, project) or latest_of(reports)
    return None


def require_visible_report(session: Session, *, project: Project, actor: Actor) -> ExpertiseReport:
    report = get_visible_report(session, project=project, actor=actor)
    if report is None:
        if actor.role == "porteur":
            message = "Le rapport d'expertise sera consultable une fois transmis au Bureau."
        else:
            message = "Aucun rapport d'expertise n'a encore été commencé pour ce projet."
        raise ReportNotFound(message)
    return report


def list_report_versions(
    session: Session, *, report: ExpertiseReport
) -> Sequence[ExpertiseReportVersion]:
    return session.exec(
        select(ExpertiseReportVersion)
        .where(ExpertiseReportVersion.report_id == report.id)
        .order_by(col(ExpertiseReportVersion.revision), col(ExpertiseReportVersion.id))
    ).all()


def missing_criteria(grid: ExpertiseGrid, report: ExpertiseReport | None) -> list[str]:
    """Labels of the grid's criteria without an assessment, in the grid's order."""
    assessments = report.assessments if report is not None else {}
    return [
        c.label for c in grid.criteria() if not (assessments.get(c.key) or {}).get("assessment")
    ]


def content_of(report: ExpertiseReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in CONTENT_FIELDS}


# --- writing ----------------------------------------------------------------------------------


def _require_writer(engine: Engine, project: Project, actor: Actor) -> WorkflowDefinition:
    if not may_write(actor, project):
        raise Forbidden(
            "Seul·e le ou la consultant·e chargé·e de l'expertise rédige le rapport d'expertise."
        )
    definition = _definition(engine, project)
    target = definition.roles.report_state
    current = definition.state(project.state)
    limit = definition.state(target).step if target else None
    if current.final or limit is None or (current.step or 0) > limit:
        raise ReportClosed(
            "Le rapport d'expertise ne peut plus être modifié à cette étape du projet.",
        )
    return definition


def writable(engine: Engine, project: Project, actor: Actor) -> bool:
    """Whether `actor` may write the project's report now (its assigned consultant, before the
    project leaves the expertise step)."""
    try:
        _require_writer(engine, project, actor)
    except (Forbidden, ActionNotPossible):
        return False
    return True


def report_for(
    session: Session, *, engine: Engine, project: Project, actor: Actor
) -> tuple[ExpertiseReport | None, bool]:
    """(report shown to `actor`, whether it is the one they are writing).

    None is the blank grid: the assigned consultant's form before the first save, or what
    staff see before anything is written. Porteurs and the Bureau get 404 until transmission.
    """
    if writable(engine, project, actor):
        return get_current_report(session, project=project), True
    report = get_visible_report(session, project=project, actor=actor)
    if report is None and actor.role not in ("staff", "consultant"):
        require_visible_report(session, project=project, actor=actor)
    return report, False


def may_reopen(actor: Actor, report: ExpertiseReport | None) -> bool:
    """Staff may reopen a submitted report until it is transmitted to the Bureau."""
    return (
        allows(actor, RECORD_WRITE)
        and report is not None
        and report.status == "soumis"
        and report.transmitted_at is None
    )


def may_see_versions(actor: Actor) -> bool:
    """The report's history (every submitted revision) is for staff and the consultant."""
    return actor.role in ("staff", "consultant")


def list_visible_versions(
    session: Session, *, actor: Actor, report: ExpertiseReport | None
) -> Sequence[ExpertiseReportVersion]:
    """The revisions of `report` (as `report_for` gave it to `actor`: its visibility comes first,
    so a porteur learns nothing of a report not transmitted)."""
    if not may_see_versions(actor):
        raise Forbidden("Votre rôle ne permet pas de consulter l'historique du rapport.")
    return [] if report is None else list_report_versions(session, report=report)


def _locked() -> Conflict:
    return ReportLocked(
        "Le rapport a été soumis : il ne peut plus être modifié. Seule l'équipe nationale "
        "peut le rouvrir.",
    )


def _check_version(report: ExpertiseReport | None, if_match: int | None) -> None:
    current = report.version if report is not None else 0
    if if_match is not None and if_match != current:
        raise PreconditionFailed(
            "Le rapport a été modifié depuis votre lecture (dans une autre fenêtre ou par "
            "quelqu'un d'autre) : rechargez-le avant de continuer.",
            current_version=current,
        )


def _conditional_update(
    session: Session, report: ExpertiseReport, *, if_match: int | None, **values: Any
) -> None:
    """Write `values` only if nobody changed the report since it was read (the lock)."""
    stmt = (
        sa.update(ExpertiseReport)
        .where(col(ExpertiseReport.id) == report.id, col(ExpertiseReport.version) == report.version)
        .values(version=ExpertiseReport.version + 1, updated_at=dates.now(), **values)
    )
    if session.exec(stmt).rowcount != 1:
        message = "Le rapport vient d'être modifié ailleurs : rechargez-le et réessayez."
        if if_match is not None:
            raise PreconditionFailed(message)
        raise StaleVersion(message, current_version=None)
    session.refresh(report)


def _clean_content(grid: ExpertiseGrid, data: ReportDraft) -> dict[str, Any]:
    known = {c.key for c in grid.criteria()}
    unknown = sorted(set(data.assessments) - known)
    if unknown:
        raise Invalid(
            f"Critère inconnu dans la grille d'expertise : {', '.join(unknown)}.",
            field=f"assessments.{unknown[0]}",
        )
    today = dates.today()
    if any(day > today for day in data.visit_dates):
        raise Invalid("Une date de visite ne peut pas être dans le futur.", field="visit_dates")
    assessments = {
        key: {"assessment": value.assessment, "comment": value.comment}
        for key, value in data.assessments.items()
        if value.assessment or value.comment
    }
    return {
        "assessments": assessments,
        "visit_dates": sorted({day.isoformat() for day in data.visit_dates}),
        "people_met": data.people_met or None,
        "recommendation": data.recommendation,
        "recommendations_text": data.recommendations_text or None,
    }


def save_report_draft(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    actor: Actor,
    data: ReportDraft,
    if_match: int | None,
) -> ExpertiseReport:
    """Replace the draft's content (any part may be missing); the first save creates it.

    `if_match` is the report version the form was loaded with (0: no report yet).
    """
    _require_writer(engine, project, actor)
    report = get_current_report(session, project=project)
    if report is not None and report.status == "soumis":
        raise _locked()
    _check_version(report, if_match)
    content = _clean_content(grid_of(engine, project, report), data)
    if report is not None:
        _conditional_update(session, report, if_match=if_match, **content)
        return report
    now = dates.now()
    report = ExpertiseReport(
        project_id=id_of(project),
        assignment_id=_active_assignment_id(session, project),
        consultant_id=project.consultant_id,
        grid_version=project.workflow_version,
        created_at=now,
        updated_at=now,
        **content,
    )
    try:
        with session.begin_nested():
            session.add(report)
    except sa.exc.IntegrityError:
        # Another first save of this report committed meanwhile (one current report per
        # consultant and pass: uq_expertise_reports_current). This one was written against
        # no report at all, version 0: stale, like any other.
        winner = get_current_report(session, project=project)
        if winner is None:
            raise
        _check_version(winner, 0)
        raise
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="rapport",
        data={"op": "brouillon", "revision": report.revision},
        at=now,
    )
    return report


def _active_assignment_id(session: Session, project: Project) -> int | None:
    return session.exec(
        select(ConsultantAssignment.id)
        .where(
            ConsultantAssignment.project_id == id_of(project),
            ConsultantAssignment.consultant_id == project.consultant_id,
            ConsultantAssignment.status == "active",
        )
        .order_by(col(ConsultantAssignment.id).desc())
        .limit(1)
    ).first()


def check_complete(grid: ExpertiseGrid, report: ExpertiseReport | None) -> None:
    """Every criterion assessed, an overall recommendation and a visit date (else 422)."""
    missing = missing_criteria(grid, report)
    fields = [
        {"field": f"assessments.{c.key}", "message": f"Critère non évalué : {c.label}."}
        for c in grid.criteria()
        if c.label in missing
    ]
    parts = []
    if missing:
        count = plural(len(missing), "critère non évalué", "critères non évalués")
        parts.append(f"{count} : {' ; '.join(missing)}")
    if report is None or not report.recommendation:
        fields.append({"field": "recommendation", "message": "Choisissez un avis d'ensemble."})
        parts.append("l'avis d'ensemble manque")
    if report is None or not report.visit_dates:
        fields.append(
            {"field": "visit_dates", "message": "Indiquez au moins une date de visite sur site."}
        )
        parts.append("aucune date de visite n'est indiquée")
    if parts:
        raise ReportIncomplete(
            "Le rapport est incomplet et ne peut pas être soumis : " + " ; ".join(parts) + ".",
            fields=fields,
            missing=missing,
        )


def submit_report(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    actor: Actor,
    if_match: int | None,
) -> ExpertiseReport:
    """Check the report is complete, then lock it and keep this revision whole."""
    definition = _require_writer(engine, project, actor)
    report = get_current_report(session, project=project)
    if report is not None and report.status == "soumis":
        raise _locked()
    target = definition.roles.report_state
    if project.state != target:
        label = definition.state(target).label if target else ""
        raise ReportOutOfStep(f"Le rapport se soumet pendant l'étape « {label} ».")
    _check_version(report, if_match)
    check_complete(grid_of(engine, project, report), report)
    assert report is not None  # check_complete refuses a missing report
    now = dates.now()
    _conditional_update(session, report, if_match=if_match, status="soumis", submitted_at=now)
    session.add(
        ExpertiseReportVersion(
            report_id=report.id or 0,
            revision=report.revision,
            content=content_of(report),
            submitted_at=now,
            submitted_by=actor.name,
        )
    )
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="rapport",
        data={"op": "soumission", "revision": report.revision},
        at=now,
    )
    return report


def reopen_report(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    actor: Actor,
    comment: str | None,
    if_match: int | None,
) -> ExpertiseReport:
    """Staff send a submitted report back to its consultant as a new revision."""
    require(actor, RECORD_WRITE)
    report = get_current_report(session, project=project)
    if report is None or report.status != "soumis":
        transmitted = get_latest_report(session, project=project, transmitted=True)
        if report is None and transmitted is not None:
            raise ReportTransmitted(
                "Le rapport a été transmis au Bureau : il ne peut plus être rouvert.",
            )
        raise ReportNotSubmitted("Aucun rapport soumis à rouvrir pour ce projet.")
    comment = (comment or "").strip()
    if not comment:
        raise CommentRequired(
            "Indiquez pourquoi le rapport est rouvert (le ou la consultant·e le lira).",
            field="comment",
        )
    _check_version(report, if_match)
    revision = report.revision + 1
    _conditional_update(
        session, report, if_match=if_match, status="brouillon", submitted_at=None, revision=revision
    )
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="rapport",
        comment=comment,
        data={"op": "reouverture", "revision": revision},
    )
    return report


# --- a project moving to another definition version --------------------------------------------


def migration_carry(
    session: Session, *, engine: Engine, project: Project, to_version: int
) -> dict[str, Any] | None:
    """What a migration of `project` to `to_version` does to its report: a draft moves to the new
    grid, its answers carried to the criteria with the same key (the others are new, those the
    new grid lacks are dropped); a submitted report keeps its grid (None)."""
    report = get_current_report(session, project=project)
    if report is None or report.status != "brouillon" or report.id is None:
        return None
    if report.grid_version == to_version:
        return None
    keys = [c.key for c in engine.expertise_grid(project.workflow_key, to_version).criteria()]
    old = {c.key for c in grid_of(engine, project, report).criteria()}
    answered = set(report.assessments)
    return {
        "report_id": report.id,
        "from_grid": report.grid_version,
        "to_grid": to_version,
        "carried": [k for k in keys if k in answered],
        "new": [k for k in keys if k not in old],
        "dropped": sorted(answered - set(keys)),
    }


def on_migrated(fact: Fact) -> None:
    """The project's draft report follows the new grid, as the migration's plan said."""
    carry = fact.event.data.get("report")
    if not carry:
        return
    report = fact.session.get(ExpertiseReport, carry["report_id"])
    if report is None or report.status != "brouillon":
        return
    kept = {k: v for k, v in report.assessments.items() if k in set(carry["carried"])}
    fact.session.exec(
        sa.update(ExpertiseReport)
        .where(col(ExpertiseReport.id) == report.id)
        .values(
            assessments=kept,
            grid_version=carry["to_grid"],
            carried_from_version=carry["from_grid"],
            version=ExpertiseReport.version + 1,
            updated_at=fact.event.at,
        )
    )
    fact.session.refresh(report)


# --- consequences of facts (subscribed in labelflow.consequences) ----------------------------


def on_transition(fact: Fact) -> None:
    """The report's action: the submitted report goes with the project to the Bureau (porteurs
    may read it from then on)."""
    session, (project, definition) = fact.session, fact.subject
    if fact.event.action != definition.roles.report_action:
        return
    session.exec(
        sa.update(ExpertiseReport)
        .where(
            col(ExpertiseReport.project_id) == id_of(project),
            col(ExpertiseReport.status) == "soumis",
            col(ExpertiseReport.transmitted_at).is_(None),
        )
        .values(transmitted_at=fact.event.at)
    )
