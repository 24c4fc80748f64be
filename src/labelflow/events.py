"""The event log: append-only, one row per fact; it is the project's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.models import Event

KIND_LABELS = {
    "creation": "Création du projet",
    "transition": "Changement d'étape",
    "modification": "Modification du projet",
    "partie_prenante": "Partie prenante",
    "membre_ca": "Conseil d'administration",
    "attestation": "Attestation",
    "document": "Pièce déposée",
    "revue": "Revue d'une pièce",
    "echeance": "Échéance déplacée",
    "suspension": "Suspension",
    "reprise": "Reprise",
    "consultant": "Consultant·e",
    "decision": "Décision du Bureau",
    "deport": "Déport d'un membre du Bureau",
    "membre": "Porteur lié au projet",
    "rapport": "Rapport d'expertise",
}


def record_event(
    session: Session,
    *,
    project_id: int,
    actor: Actor,
    kind: str,
    action: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    event = Event(
        project_id=project_id,
        at=at or dates.now(),
        actor=actor.name,
        actor_id=actor.user_id,
        kind=kind,
        action=action,
        from_state=from_state,
        to_state=to_state,
        comment=comment,
        data=data or {},
    )
    session.add(event)
    return event


def list_events(session: Session, *, project_id: int, newest: int | None = None) -> Sequence[Event]:
    """The history oldest first; with `newest`, only that many of the latest facts."""
    query = select(Event).where(Event.project_id == project_id)
    if newest is None:
        return session.exec(query.order_by(col(Event.at), col(Event.id))).all()
    latest = session.exec(query.order_by(col(Event.at).desc(), col(Event.id).desc()).limit(newest))
    return list(reversed(latest.all()))


def state_entries(session: Session, *, project_id: int) -> Sequence[Event]:
    """The facts that put the project in a state (creation, transitions), oldest first."""
    return session.exec(
        select(Event)
        .where(Event.project_id == project_id, col(Event.to_state).is_not(None))
        .order_by(col(Event.at), col(Event.id))
    ).all()
