"""The Bureau's JSON API: meetings, the agenda of decision files, recusals (déports).

Decisions themselves are recorded on the project (`POST /api/v1/projects/{id}/decisions`, in
`api.py`); their consequences happen when staff fire the Bureau step's action.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from labelflow import bureau, records, views
from labelflow.models import Document, Project
from labelflow.permissions import BUREAU_MANAGE, BUREAU_READ, RECUSAL_DECLARE
from labelflow.projects import definition_of
from labelflow.schemas import (
    AgendaDocument,
    AgendaItem,
    MeetingCreate,
    MeetingDecisionPublic,
    MeetingPublic,
    PersonPublic,
    RecusalCreate,
    RecusalPublic,
)
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    current_identity,
    permit,
    permit_on_project,
)
from labelflow.workflow import Engine

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_identity)])

MeetingId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de la réunion")]


def _person(user_id: int | None, name: str) -> PersonPublic:
    return PersonPublic(user_id=user_id or 0, name=name)


def meeting_public(view: bureau.MeetingView) -> MeetingPublic:
    m = view.meeting
    return MeetingPublic(
        id=view.id,
        held_on=m.held_on,
        chair=_person(view.chair.id, view.chair.name) if view.chair else None,
        bureau_size=m.bureau_size,
        attendees=[_person(u.id, u.name) for u in view.attendees],
        notes=m.notes,
        created_by=m.created_by,
        created_at=m.created_at,
        decisions=[
            MeetingDecisionPublic(
                decision_id=d.id or 0,
                project_id=p.id or 0,
                project_name=p.name,
                outcome=d.outcome,
            )
            for d, p in view.decisions
        ],
    )


def recusal_public(view: bureau.RecusalView) -> RecusalPublic:
    r = view.recusal
    return RecusalPublic(
        id=r.id or 0,
        project_id=r.project_id,
        user_id=r.user_id,
        name=view.user.name,
        reason=r.reason,
        pass_started_at=r.pass_started_at,
        current=view.current,
        declared_by=r.declared_by,
        declared_at=r.declared_at,
    )


def _agenda_item(
    engine: Engine, file: bureau.DecisionFile, votes: dict[int, list[tuple[int, str, str]]]
) -> AgendaItem:
    project: Project = file.project
    definition = definition_of(engine, project)

    def document(d: Document) -> AgendaDocument:
        public = views.document_public(definition, d)
        return AgendaDocument(
            id=public.id,
            type=public.type,
            type_label=public.type_label,
            filename=public.filename,
            download_url=public.download_url,
        )

    report = file.report
    return AgendaItem(
        project=views.project_summary(engine, project, overdue=False),
        association_name=project.association_name,
        rna_number=project.rna_number,
        board_summary=records.board_summary(file.board),
        board=[
            {"name": m.name, "college": m.college, "is_president": m.is_president}
            for m in file.board
        ],
        report=document(report) if report else None,
        report_url=f"/api/v1/projects/{project.id}/report.pdf" if file.expertise else None,
        documents=[document(d) for d in file.documents],
        recusals=[recusal_public(r) for r in file.recusals],
        decisions=[views.decision_public(d, votes[d.id or 0]) for d in file.decisions],
    )


@router.get(
    "/bureau/agenda",
    tags=["bureau"],
    summary="Ordre du jour : dossiers des projets à l'étape « Décision du Bureau »",
    dependencies=[permit(BUREAU_READ)],
)
def get_agenda(session: SessionDep, engine: EngineDep) -> list[AgendaItem]:
    files = bureau.agenda(session)
    votes = bureau.votes_of(session, [d for f in files for d in f.decisions])
    return [_agenda_item(engine, f, votes) for f in files]


@router.get(
    "/bureau/meetings",
    tags=["bureau"],
    summary="Réunions du Bureau",
    dependencies=[permit(BUREAU_READ)],
)
def list_meetings(session: SessionDep, actor: ActorDep) -> list[MeetingPublic]:
    return [meeting_public(v) for v in bureau.list_meetings(session, actor=actor)]


@router.post(
    "/bureau/meetings",
    status_code=status.HTTP_201_CREATED,
    tags=["bureau"],
    summary="Enregistrer une réunion du Bureau (date, présents, présidence)",
    dependencies=[permit(BUREAU_MANAGE)],
)
def create_meeting(
    data: MeetingCreate, session: SessionDep, actor: ActorDep, response: Response
) -> MeetingPublic:
    meeting = bureau.create_meeting(
        session,
        held_on=data.held_on,
        attendee_ids=data.attendee_ids,
        chair_id=data.chair_id,
        notes=data.notes,
        actor=actor,
    )
    response.headers["Location"] = f"/api/v1/bureau/meetings/{meeting.id}"
    return meeting_public(bureau.get_meeting(session, meeting_id=meeting.id or 0, actor=actor))


@router.get(
    "/bureau/meetings/{meeting_id}",
    tags=["bureau"],
    summary="Une réunion du Bureau",
    dependencies=[permit(BUREAU_READ)],
)
def get_meeting(meeting_id: MeetingId, session: SessionDep, actor: ActorDep) -> MeetingPublic:
    return meeting_public(bureau.get_meeting(session, meeting_id=meeting_id, actor=actor))


@router.get(
    "/projects/{project_id}/recusals",
    tags=["bureau"],
    summary="Déports des membres du Bureau sur ce projet",
    dependencies=[permit_on_project(BUREAU_READ)],
)
def list_recusals(project: ProjectDep, session: SessionDep) -> list[RecusalPublic]:
    return [recusal_public(r) for r in bureau.list_recusals(session, project=project)]


@router.post(
    "/projects/{project_id}/recusals",
    status_code=status.HTTP_201_CREATED,
    tags=["bureau"],
    summary="Déclarer un déport (un membre du Bureau pour lui-même, l'équipe pour un membre)",
    dependencies=[permit_on_project(RECUSAL_DECLARE)],
)
def declare_recusal(
    data: RecusalCreate,
    project: ProjectDep,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> RecusalPublic:
    recusal = bureau.declare_recusal(
        session, project=project, user_id=data.user_id, reason=data.reason, actor=actor
    )
    response.headers["ETag"] = f'"{project.version}"'
    views_ = bureau.list_recusals(session, project=project)
    return recusal_public(next(v for v in views_ if v.recusal.id == recusal.id))
