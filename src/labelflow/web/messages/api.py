"""Messages in the JSON API: the thread, a new message, marking it read."""

from __future__ import annotations

from fastapi import Response

from labelflow import messages
from labelflow.schemas import MessageIn, MessagePublic
from labelflow.web.deps import ActorDep, ProjectDep, SessionDep, permit_messages
from labelflow.web.messages.present import message_public
from labelflow.web.routing import api_router

router = api_router()


@router.get("/projects/{project_id}/messages", tags=["messages"], summary="Messages du projet")
def list_messages(project: ProjectDep, session: SessionDep, actor: ActorDep) -> list[MessagePublic]:
    return [
        message_public(v) for v in messages.list_messages(session, project=project, actor=actor)
    ]


@router.post(
    "/projects/{project_id}/messages",
    status_code=201,
    tags=["messages"],
    summary="Écrire un message",
    dependencies=[permit_messages()],
)
def post_message(
    data: MessageIn, project: ProjectDep, session: SessionDep, actor: ActorDep
) -> MessagePublic:
    view = messages.post_message(
        session,
        project=project,
        actor=actor,
        body=data.body,
        audience=data.audience,
        awaiting_reply=data.awaiting_reply,
        document_ids=data.document_ids,
    )
    return message_public(view)


@router.post(
    "/projects/{project_id}/messages/read",
    status_code=204,
    tags=["messages"],
    summary="Marquer les messages comme lus",
    dependencies=[permit_messages()],
)
def mark_read(project: ProjectDep, session: SessionDep, actor: ActorDep) -> Response:
    messages.mark_read(session, project=project, actor=actor)
    return Response(status_code=204)
