"""Messages, pages side: the form of the project page's « Messages » section (on « Mon projet »
too), with a file uploaded at once as a `piece_jointe`. It calls the same services as the JSON
API (`messages.api`) and comes back to its section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import Response

from labelflow import messages
from labelflow.web.deps import (
    ActorDep,
    EngineDep,
    ProjectDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    permit_messages,
)
from labelflow.web.forms import MessageForm
from labelflow.web.messages.present import unread_context
from labelflow.web.project_page import submit
from labelflow.web.routing import page_router, render

router = page_router()


@router.get("/messages")
def unread_page(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    """The projects with unread messages, the longest unread first."""
    return render(request, "messages.html", unread_context(session, actor))


@router.post("/projects/{project_id}/messages", dependencies=[permit_messages()])
def post_message(
    request: Request,
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: ActorDep,
    body: Annotated[str, Form(max_length=20_000)] = "",
    audience: Annotated[str, Form(max_length=200)] = "",
    awaiting_reply: Annotated[str, Form(max_length=10)] = "",
    document_ids: Annotated[list[str], Form(max_length=100)] = [],  # noqa: B006 (FastAPI copies it)
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    # Plain parameters: a form model cannot sit beside a file in one multipart body.
    form = MessageForm(
        body=body, audience=audience, awaiting_reply=awaiting_reply, document_ids=document_ids
    )

    def call() -> Any:
        data = form.to_model()
        if file is None or not file.filename:
            return messages.post_message(
                session,
                project=project,
                actor=actor,
                body=data.body,
                audience=data.audience,
                awaiting_reply=data.awaiting_reply,
                document_ids=data.document_ids,
            )
        return messages.post_message_with_file(
            session,
            engine=engine,
            store=store,
            project=project,
            actor=actor,
            body=data.body,
            audience=data.audience,
            awaiting_reply=data.awaiting_reply,
            document_ids=data.document_ids,
            filename=file.filename,
            declared_media_type=file.content_type,
            source=file.file,
            max_bytes=settings.max_upload_bytes,
            allowed_media_types=settings.allowed_media_types,
            clamd_address=settings.clamd_address,
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="message",
        form=form,
        anchor="messages",
        call=call,
        done="message_envoye",
    )
