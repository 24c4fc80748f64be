"""Webhooks in the JSON API (administrators): endpoints, and each one's delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from labelflow import webhooks
from labelflow.permissions import WEBHOOKS_MANAGE
from labelflow.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookPublic,
)
from labelflow.web.deps import MAX_ID, ActorDep, SessionDep, SettingsDep, permit
from labelflow.web.routing import api_router
from labelflow.web.webhooks.present import delivery_public, webhook_created, webhook_public

router = api_router(tags=["webhooks"])
ADMIN = [permit(WEBHOOKS_MANAGE)]

Wid = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du webhook")]


@router.get("/webhooks", summary="Les webhooks enregistrés", dependencies=ADMIN)
def list_webhooks(session: SessionDep) -> list[WebhookPublic]:
    return [webhook_public(e) for e in webhooks.list_endpoints(session)]


@router.post(
    "/webhooks",
    status_code=201,
    dependencies=ADMIN,
    summary="Enregistrer un webhook (son secret whsec_… n'est donné qu'ici)",
    responses={
        422: {"description": "Adresse refusée (non http(s), réseau privé), événement inconnu"}
    },
)
def create_webhook(
    data: WebhookCreate, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> WebhookCreated:
    endpoint = webhooks.create_endpoint(
        session,
        url=data.url,
        events=data.events,
        actor=actor,
        allow_private=settings.webhooks_allow_private,
    )
    return webhook_created(endpoint)


@router.delete(
    "/webhooks/{wid}", status_code=204, summary="Supprimer un webhook", dependencies=ADMIN
)
def delete_webhook(wid: Wid, session: SessionDep) -> Response:
    webhooks.delete_endpoint(session, endpoint=webhooks.get_endpoint(session, wid))
    return Response(status_code=204)


@router.get(
    "/webhooks/{wid}/deliveries",
    summary="Le journal des envois d'un webhook, les plus récents d'abord",
    dependencies=ADMIN,
)
def list_deliveries(
    wid: Wid,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> WebhookDeliveryList:
    endpoint = webhooks.get_endpoint(session, wid)
    rows, total = webhooks.list_deliveries(session, endpoint=endpoint, limit=limit, offset=offset)
    return WebhookDeliveryList(
        items=[delivery_public(d) for d in rows], total=total, limit=limit, offset=offset
    )
