"""Presenters: stored rows → API shapes. Shared by the JSON API and the pages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from labelflow import dates, deadlines
from labelflow.assignments import AssignmentView
from labelflow.criteria import Facts
from labelflow.documents import GENERATED_TYPE_LABELS
from labelflow.models import Attestation, Decision, Document, Project, Stakeholder
from labelflow.projects import evaluate, load_facts
from labelflow.schemas import (
    ActionEvaluation,
    AssignmentProject,
    AssignmentPublic,
    AttestationPublic,
    ConsultantPublic,
    DeadlinePublic,
    DecisionPublic,
    DeclarationPublic,
    DocumentPublic,
    MyAssignmentPublic,
    ProjectPublic,
    ProjectSummary,
    StakeholderPublic,
    StakeholderToDeclare,
    Unmet,
    VotePublic,
)
from labelflow.workflow import COLLEGE_LABELS, Engine, WorkflowDefinition


def state_label(definition: WorkflowDefinition, state: str) -> str:
    return definition.state(state).label


def project_summary(engine: Engine, project: Project, *, overdue: bool) -> ProjectSummary:
    definition = engine.definition(project.workflow_key, project.workflow_version)
    step = definition.state(project.state).step
    assert project.id is not None
    return ProjectSummary(
        id=project.id,
        name=project.name,
        kind=project.kind,
        communes=project.communes,
        region=project.region,
        departement=project.departement,
        state=project.state,
        state_label=state_label(definition, project.state),
        step=None if definition.is_final(project.state) else step,
        suspended=project.suspended,
        overdue=overdue,
        version=project.version,
        created_at=project.created_at,
        entered_state_at=project.entered_state_at,
    )


def deadline_views(session: Session, project: Project) -> list[DeadlinePublic]:
    assert project.id is not None
    today = dates.today()
    return [
        DeadlinePublic(
            id=d.id or 0,
            kind=d.kind,
            state=d.state,
            due_on=d.due_on,
            initial_due_on=d.initial_due_on,
            closed_on=d.closed_on,
            status=deadlines.status(d, suspended=project.suspended, today=today),
        )
        for d in deadlines.list_for_project(session, project_id=project.id)
    ]


def project_public(
    session: Session, engine: Engine, project: Project, facts: Facts | None = None
) -> ProjectPublic:
    facts = facts or load_facts(session, engine=engine, project=project)
    deadline_list = deadline_views(session, project)
    overdue = any(d.status == "en_retard" for d in deadline_list)
    summary = project_summary(engine, project, overdue=overdue)
    consultant = (
        ConsultantPublic(
            user_id=facts.consultant.id or 0,
            name=facts.consultant.name,
            email=facts.consultant.email,
        )
        if facts.consultant is not None
        else None
    )
    return ProjectPublic(
        **summary.model_dump(),
        qpv=project.qpv,
        initiator=project.initiator,
        workflow_key=project.workflow_key,
        workflow_version=project.workflow_version,
        updated_at=project.updated_at,
        association_name=project.association_name,
        rna_number=project.rna_number,
        association_created_on=project.association_created_on,
        charge_mission_recruited_on=project.charge_mission_recruited_on,
        consultant=consultant,
        label_number=project.label_number,
        label_date=project.label_date,
        network_member_since=project.network_member_since,
        deadlines=deadline_list,
        actions=[
            ActionEvaluation(
                action=a.action,
                label=a.label,
                target=a.target,
                comment_required=a.comment_required,
                allowed=a.allowed,
                unmet=[Unmet(code=u.code, message=u.message) for u in a.unmet],
            )
            for a in evaluate(facts)
        ],
    )


def stakeholder_public(s: Stakeholder) -> StakeholderPublic:
    return StakeholderPublic(
        id=s.id or 0,
        name=s.name,
        college=s.college,
        engaged_on=s.engaged_on,
        contact=s.contact,
        engaged=bool(s.engaged_on and s.engaged_on <= dates.today()),
    )


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


def attestation_public(definition: WorkflowDefinition, a: Attestation) -> AttestationPublic:
    att = definition.attestation(a.code)
    return AttestationPublic(
        id=a.id or 0,
        code=a.code,
        label=att.label if att else a.code,
        date=a.attested_on,
        comment=a.comment,
        recorded_by=a.recorded_by,
        recorded_at=a.recorded_at,
    )


def document_public(definition: WorkflowDefinition, d: Document) -> DocumentPublic:
    doc_type = definition.document_type(d.type)
    return DocumentPublic(
        id=d.id or 0,
        project_id=d.project_id,
        type=d.type,
        type_label=doc_type.label if doc_type else GENERATED_TYPE_LABELS.get(d.type, d.type),
        filename=d.filename,
        size=d.size,
        media_type=d.media_type,
        sha256=d.sha256,
        uploaded_by=d.uploaded_by,
        uploaded_at=d.uploaded_at,
        review_status=d.review_status,
        review_comment=d.review_comment,
        reviewed_by=d.reviewed_by,
        reviewed_at=d.reviewed_at,
        superseded_by_id=d.superseded_by_id,
        download_url=f"/api/v1/documents/{d.id}/content",
    )


def decision_public(d: Decision, votes: Sequence[tuple[int, str, str]] = ()) -> DecisionPublic:
    """`votes`: (user id, name, vote) of each member who voted (see `bureau.votes_of`)."""
    return DecisionPublic(
        id=d.id or 0,
        meeting_id=d.meeting_id,
        meeting_on=d.meeting_on,
        outcome=d.outcome,
        motivation=d.motivation,
        votes_for=d.votes_for,
        votes_against=d.votes_against,
        votes_abstain=d.votes_abstain,
        votes=[VotePublic(user_id=uid, name=name, vote=vote) for uid, name, vote in votes],
        recorded_by=d.recorded_by,
        recorded_at=d.recorded_at,
    )


def documents_public(
    definition: WorkflowDefinition, docs: Sequence[Document]
) -> list[DocumentPublic]:
    return [document_public(definition, d) for d in docs]
