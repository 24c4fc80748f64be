"""« Webhooks », pages side (administrators): the endpoints with their recent deliveries, the
form that registers one (its secret shown once), removal, and each endpoint's delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import webhooks
from labelflow.actors import Actor
from labelflow.errors import NotFound
from labelflow.permissions import WEBHOOKS_MANAGE
from labelflow.web.deps import MAX_ID, ActorDep, SessionDep, SettingsDep, permit
from labelflow.web.forms import REFUSALS, FormState, WebhookForm, refusal
from labelflow.web.routing import page_router, render
from labelflow.web.webhooks.present import delivery_row, endpoint_rows

router = page_router()
ADMIN = [permit(WEBHOOKS_MANAGE)]
RECENT = 5
PAGE_SIZE = 50

Wid = Annotated[int, Path(ge=1, le=MAX_ID)]
NOTICES = {"supprime": "Le webhook est supprimé : plus rien ne lui est envoyé."}


def _webhooks_page(
    request: Request,
    session: Session,
    *,
    form: FormState | None = None,
    created_secret: str = "",
    created_id: int | None = None,
    status_code: int = 200,
) -> Response:
    endpoints = list(webhooks.list_endpoints(session))
    recent = {
        e.id or 0: webhooks.list_deliveries(session, endpoint=e, limit=RECENT)[0] for e in endpoints
    }
    return render(
        request,
        "webhooks.html",
        {
            "rows": endpoint_rows(endpoints, webhooks.counts_by_endpoint(session), recent),
            "events": webhooks.EVENTS,
            "status_labels": webhooks.STATUS_LABELS,
            "form": form or FormState(),
            "created_secret": created_secret,
            "created_id": created_id,
            "notice": NOTICES.get(request.query_params.get("fait", ""), ""),
            "nav": "webhooks",
            "json_url": "/api/v1/webhooks",
        },
        status_code,
    )


@router.get("/webhooks", dependencies=ADMIN)
def webhooks_page(request: Request, session: SessionDep) -> Response:
    return _webhooks_page(request, session)


@router.post("/webhooks", dependencies=ADMIN)
def create_webhook(
    request: Request,
    form: Annotated[WebhookForm, Form()],
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> Response:
    return _create(request, form, session, actor, allow_private=settings.webhooks_allow_private)


def _create(
    request: Request, form: WebhookForm, session: Session, actor: Actor, *, allow_private: bool
) -> Response:
    try:
        data = form.to_model()
        endpoint = webhooks.create_endpoint(
            session, url=data.url, events=data.events, actor=actor, allow_private=allow_private
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _webhooks_page(request, session, form=state, status_code=state.status)
    # The only time the secret is shown.
    return _webhooks_page(
        request,
        session,
        created_secret=endpoint.secret,
        created_id=endpoint.id,
        status_code=201,
    )


@router.post("/webhooks/{wid}/delete", dependencies=ADMIN)
def delete_webhook(wid: Wid, session: SessionDep) -> Response:
    webhooks.delete_endpoint(session, endpoint=webhooks.get_endpoint(session, wid))
    return RedirectResponse("/webhooks?fait=supprime", status_code=303)


@router.get("/webhooks/{wid}", dependencies=ADMIN)
def deliveries_page(
    request: Request,
    wid: Wid,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    endpoint = webhooks.get_endpoint(session, wid)
    rows, total = webhooks.list_deliveries(
        session, endpoint=endpoint, limit=PAGE_SIZE, offset=offset
    )
    if offset and not rows:
        raise NotFound("Il n'y a pas d'envois à cette position du journal.")
    return render(
        request,
        "webhook_deliveries.html",
        {
            "endpoint": endpoint,
            "deliveries": [delivery_row(d) for d in rows],
            "total": total,
            "offset": offset,
            "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
            "page_size": PAGE_SIZE,
            "nav": "webhooks",
            "json_url": f"/api/v1/webhooks/{wid}/deliveries",
        },
    )
