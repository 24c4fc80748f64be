"""Webhooks as shown: the API shapes, the « Webhooks » page's rows and labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelflow import webhooks
from labelflow.models import WebhookDelivery, WebhookEndpoint
from labelflow.schemas import WebhookCreated, WebhookDeliveryPublic, WebhookPublic

DELIVERY_BADGES = {
    webhooks.PENDING: "neutral",
    webhooks.DELIVERED: "success",
    webhooks.ABANDONED: "danger",
}


def webhook_public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic.model_validate(endpoint, from_attributes=True)


def webhook_created(endpoint: WebhookEndpoint) -> WebhookCreated:
    return WebhookCreated(**webhook_public(endpoint).model_dump(), secret=endpoint.secret)


def delivery_public(delivery: WebhookDelivery) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic.model_validate(delivery, from_attributes=True)


@dataclass(frozen=True)
class EndpointRow:
    endpoint: WebhookEndpoint
    event_labels: list[str]
    counts: dict[str, int]
    deliveries: list[dict[str, Any]]


def delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "delivery": delivery,
        "status_label": webhooks.STATUS_LABELS.get(delivery.status, delivery.status),
        "badge": DELIVERY_BADGES.get(delivery.status, "neutral"),
        "event_label": webhooks.EVENTS.get(delivery.event_type, delivery.event_type),
    }


def endpoint_rows(
    endpoints: list[WebhookEndpoint],
    counts: dict[int, dict[str, int]],
    recent: dict[int, list[WebhookDelivery]],
) -> list[EndpointRow]:
    return [
        EndpointRow(
            endpoint=e,
            event_labels=[webhooks.EVENTS.get(k, k) for k in e.events],
            counts=counts.get(e.id or 0, dict.fromkeys(webhooks.STATUS_LABELS, 0)),
            deliveries=[delivery_row(d) for d in recent.get(e.id or 0, [])],
        )
        for e in endpoints
    ]
