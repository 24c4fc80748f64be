"""The Bureau in the JSON API: the agenda of decision files, meetings, recusals (déports), and
the decisions recorded on a project (their consequences happen when staff fire the Bureau
step's action)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response, status

from labelflow import bureau, decisions
from labelflow.permissions import BUREAU_MANAGE, BUREAU_READ, RECORD_WRITE, RECUSAL_DECLARE
from labelflow.schemas import (
    AgendaItem,
    DecisionCreate,
    DecisionPublic,
    MeetingAttendance,
    MeetingCancel,
    MeetingCreate,
    MeetingMove,
    MeetingPublic,
    RecusalCreate,
    RecusalPublic,
)
from labelflow.web.bureau.present import (
    agenda_public,
    decision_public,
    meeting_public,
    recusal_public,
)
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    permit,
    permit_on_project,
)
from labelflow.web.etag import IfMatchDep, set_etag
from labelflow.web.routing import api_router

router = api_router()

MeetingId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de la réunion")]


@router.get(
    "/bureau/agenda",
    tags=["bureau"],
    summary="Ordre du jour : dossiers des projets à l'étape « Décision du Bureau »",
    dependencies=[permit(BUREAU_READ)],
)
def get_agenda(session: SessionDep, engine: EngineDep, actor: ActorDep) -> list[AgendaItem]:
    return agenda_public(session, engine, actor)


@router.get(
    "/bureau/meetings",
    tags=["bureau"],
    summary="Réunions du Bureau",
    dependencies=[permit(BUREAU_READ)],
)
def list_meetings(session: SessionDep, engine: EngineDep, actor: ActorDep) -> list[MeetingPublic]:
    return [meeting_public(v) for v in bureau.list_meetings(session, engine=engine, actor=actor)]


@router.post(
    "/bureau/meetings",
    status_code=status.HTTP_201_CREATED,
    tags=["bureau"],
    summary="Enregistrer une réunion du Bureau (date, présents, présidence)",
    dependencies=[permit(BUREAU_MANAGE)],
)
def create_meeting(
    data: MeetingCreate,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    response: Response,
) -> MeetingPublic:
    meeting = bureau.create_meeting(
        session,
        engine=engine,
        held_on=data.held_on,
        attendee_ids=data.attendee_ids,
        chair_id=data.chair_id,
        project_ids=data.project_ids,
        notes=data.notes,
        actor=actor,
    )
    response.headers["Location"] = f"/api/v1/bureau/meetings/{meeting.id}"
    shown = bureau.get_meeting(session, engine=engine, meeting_id=meeting.id or 0, actor=actor)
    return meeting_public(shown)


@router.patch(
    "/bureau/meetings/{meeting_id}",
    tags=["bureau"],
    summary="Déplacer une séance convoquée (les membres du Bureau en sont avertis)",
    dependencies=[permit(BUREAU_MANAGE)],
)
def move_meeting(
    meeting_id: MeetingId,
    data: MeetingMove,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> MeetingPublic:
    bureau.move_meeting(
        session, meeting_id=meeting_id, held_on=data.held_on, reason=data.reason, actor=actor
    )
    return meeting_public(
        bureau.get_meeting(session, engine=engine, meeting_id=meeting_id, actor=actor)
    )


@router.post(
    "/bureau/meetings/{meeting_id}/cancel",
    tags=["bureau"],
    summary="Annuler une séance convoquée (les membres du Bureau en sont avertis)",
    dependencies=[permit(BUREAU_MANAGE)],
)
def cancel_meeting(
    meeting_id: MeetingId,
    data: MeetingCancel,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> MeetingPublic:
    bureau.cancel_meeting(session, meeting_id=meeting_id, reason=data.reason, actor=actor)
    return meeting_public(
        bureau.get_meeting(session, engine=engine, meeting_id=meeting_id, actor=actor)
    )


@router.put(
    "/bureau/meetings/{meeting_id}/attendance",
    tags=["bureau"],
    summary="Enregistrer la présence et la présidence d'une séance convoquée, une fois tenue",
    dependencies=[permit(BUREAU_MANAGE)],
)
def record_attendance(
    meeting_id: MeetingId,
    data: MeetingAttendance,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> MeetingPublic:
    bureau.record_attendance(
        session,
        meeting_id=meeting_id,
        attendee_ids=data.attendee_ids,
        chair_id=data.chair_id,
        notes=data.notes,
        actor=actor,
    )
    return meeting_public(
        bureau.get_meeting(session, engine=engine, meeting_id=meeting_id, actor=actor)
    )


@router.get(
    "/bureau/meetings/{meeting_id}",
    tags=["bureau"],
    summary="Une réunion du Bureau",
    dependencies=[permit(BUREAU_READ)],
)
def get_meeting(
    meeting_id: MeetingId, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> MeetingPublic:
    return meeting_public(
        bureau.get_meeting(session, engine=engine, meeting_id=meeting_id, actor=actor)
    )


@router.get(
    "/projects/{project_id}/recusals",
    tags=["bureau"],
    summary="Déports des membres du Bureau sur ce projet",
    dependencies=[permit_on_project(BUREAU_READ)],
)
def list_recusals(
    project: ProjectDep, session: SessionDep, engine: EngineDep
) -> list[RecusalPublic]:
    return [
        recusal_public(r) for r in bureau.list_recusals(session, engine=engine, project=project)
    ]


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
    engine: EngineDep,
    actor: ActorDep,
    response: Response,
) -> RecusalPublic:
    recusal = bureau.declare_recusal(
        session,
        engine=engine,
        project=project,
        user_id=data.user_id,
        reason=data.reason,
        actor=actor,
    )
    set_etag(response, project.version)
    views_ = bureau.list_recusals(session, engine=engine, project=project)
    return recusal_public(next(v for v in views_ if v.recusal.id == recusal.id))


@router.get("/projects/{project_id}/decisions", tags=["bureau"], summary="Décisions du Bureau")
def list_decisions(project: ProjectDep, session: SessionDep) -> list[DecisionPublic]:
    recorded = decisions.list_decisions(session, project=project)
    votes = decisions.list_votes(session, recorded)
    return [decision_public(d, votes[d.id or 0]) for d in recorded]


@router.post(
    "/projects/{project_id}/decisions",
    status_code=201,
    tags=["bureau"],
    summary="Enregistrer la décision du Bureau (réunion, votes, décision, motivation)",
    dependencies=[permit_on_project(RECORD_WRITE)],
)
def post_decision(
    data: DecisionCreate,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    actor: ActorDep,
    if_match: IfMatchDep,
    response: Response,
) -> DecisionPublic:
    d = decisions.record_decision(
        session,
        engine=engine,
        project=project,
        meeting_id=data.meeting_id,
        outcome=data.outcome,
        motivation=data.motivation,
        votes=[(v.user_id, v.vote) for v in data.votes],
        actor=actor,
        settings=settings,
        if_match=if_match,
    )
    set_etag(response, project.version)
    return decision_public(d, decisions.list_votes(session, [d])[d.id or 0])
