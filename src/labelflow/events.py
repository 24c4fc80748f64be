"""Facts: the event log (append-only, one row per fact, the project's history) and the
subscribers called when a fact is recorded, in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from labelflow import chain, dates
from labelflow.actors import Actor
from labelflow.models import Event, Project
from labelflow.permissions import hidden_document_facts_clause, message_audiences
from labelflow.runtime import Runtime, runtime_of
from labelflow.workflow import WorkflowDefinition

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
    "jalon": "Jalon",
    "suspension": "Suspension",
    "reprise": "Reprise",
    "consultant": "Consultant·e",
    "decision": "Décision du Bureau",
    "deport": "Déport d'un membre du Bureau",
    "membre": "Porteur lié au projet",
    "rapport": "Rapport d'expertise",
    "reunion": "Réunion du Bureau",
    "compte": "Compte utilisateur",
    "message": "Message",
    "migration": "Nouvelle version du parcours",
}


@dataclass(frozen=True)
class Fact:
    """A fact just recorded, as its subscribers receive it (same session, same transaction)."""

    session: Session
    event: Event
    actor: Actor
    project: Project | None
    # The project's workflow definition, given by the services whose facts depend on it.
    definition: WorkflowDefinition | None

    @property
    def kind(self) -> str:
        return self.event.kind

    @property
    def subject(self) -> tuple[Project, WorkflowDefinition]:
        """The project and its definition, for the facts recorded with both."""
        if self.project is None or self.definition is None:
            raise ValueError(f"the fact {self.kind} was recorded without its project's definition")
        return self.project, self.definition

    @property
    def runtime(self) -> Runtime | None:
        """What consequences may need beyond the session (see `labelflow.runtime`)."""
        return runtime_of(self.session)


Subscriber = Callable[[Fact], None]


class Subscribers:
    """The registry: for each kind of fact, the functions to call once it is recorded.

    Filled once at start-up (`labelflow.consequences.install`); a plain dict, no bus.
    """

    def __init__(self) -> None:
        self._by_kind: dict[str, list[Subscriber]] = {}
        # Set by `consequences.install`: recording a fact before it would silently skip them.
        self.installed = False

    def subscribe(self, kind: str, subscriber: Subscriber) -> None:
        if kind not in KIND_LABELS:
            raise ValueError(f"unknown kind of fact: {kind}")
        self._by_kind.setdefault(kind, []).append(subscriber)

    def clear(self) -> None:
        self._by_kind.clear()
        self.installed = False

    def of(self, kind: str) -> list[Subscriber]:
        return list(self._by_kind.get(kind, ()))

    def publish(self, fact: Fact) -> None:
        if not self.installed:
            raise RuntimeError("labelflow.consequences.install() must run before any fact")
        # In order of subscription; an exception propagates and fails the whole transaction.
        for subscriber in self._by_kind.get(fact.kind, ()):
            subscriber(fact)


SUBSCRIBERS = Subscribers()


def record_fact(
    session: Session,
    *,
    kind: str,
    actor: Actor,
    project: Project | None = None,
    action: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    definition: WorkflowDefinition | None = None,
) -> Event:
    """The one way to record a fact: its event row, then the subscribers of its kind.

    A fact without a project (an account, a Bureau meeting) is kept with `project_id` empty:
    it is nobody's project history, but it is published all the same.
    """
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown kind of fact: {kind}")
    event = Event(
        project_id=project.id if project is not None else None,
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
    chain.seal(session, event)
    session.add(event)
    session.flush()
    SUBSCRIBERS.publish(
        Fact(session=session, event=event, actor=actor, project=project, definition=definition)
    )
    return event


# --- what is internal to the national team, the consultant and the Bureau ----------------------

# The consultant's solicitation, independence declaration and refusal (a declared link), kept
# between the national team and the consultant.
INTERNAL_CONSULTANT_OPS = ("assign", "declare", "refuse")
# A Bureau member's recusal (a declared interest), kept among the Bureau and the team.
INTERNAL_KINDS = ("deport",)
# Facts carrying an audience (messages, notes) are internal unless it is the project's own.
PORTEUR_AUDIENCE = "projet"


def internal_clause() -> Any:
    """SQL condition on Event: the facts a porteur's history leaves out (the one rule)."""
    op = sa.func.coalesce(col(Event.data)["op"].as_string(), "")
    audience = sa.func.coalesce(col(Event.data)["audience"].as_string(), "")
    return sa.or_(
        sa.and_(col(Event.kind) == "consultant", op.in_(INTERNAL_CONSULTANT_OPS)),
        col(Event.kind).in_(INTERNAL_KINDS),
        audience.not_in(("", PORTEUR_AUDIENCE)),
    )


def other_audiences_clause(readable: Sequence[str]) -> Any:
    """SQL condition on Event: facts carrying an audience other than those in `readable` (the
    consultant's and the Bureau's history leave out the messages they may not read)."""
    audience = sa.func.coalesce(col(Event.data)["audience"].as_string(), "")
    return audience.not_in(("", *readable))


def sees_internal_facts(actor: Actor) -> bool:
    """Staff (and the consultant, the Bureau, whose facts they are) read the whole history;
    a porteur reads what concerns their project's progress."""
    return actor.role != "porteur"


def list_events(
    session: Session,
    *,
    project: Project,
    viewer: Actor | None = None,
    newest: int | None = None,
) -> Sequence[Event]:
    """The history oldest first, as `viewer` may read it (all of it when no viewer is given);
    with `newest`, only that many of the latest facts."""
    if newest is None:
        query = history_query(project.id, viewer).order_by(col(Event.at), col(Event.id))
        return session.exec(query).all()
    return list(reversed(session.exec(latest_query(project.id, viewer, newest)).all()))


def history_query(project_id: Any, viewer: Actor | None) -> SelectOfScalar[Event]:
    """The select of `list_events` (unordered) for `project_id` (a value or a parameter)."""
    query = select(Event).where(Event.project_id == project_id)
    hidden_documents = hidden_document_facts_clause(viewer) if viewer is not None else None
    if hidden_documents is not None:
        query = query.where(sa.not_(hidden_documents))
    if viewer is not None and not sees_internal_facts(viewer):
        query = query.where(sa.not_(internal_clause()))
    elif viewer is not None and not viewer.is_staff:
        query = query.where(sa.not_(other_audiences_clause(message_audiences(viewer))))
    return query


def latest_query(project_id: Any, viewer: Actor | None, newest: int) -> SelectOfScalar[Event]:
    """The `newest` latest facts of `history_query`, newest first."""
    order = (col(Event.at).desc(), col(Event.id).desc())
    return history_query(project_id, viewer).order_by(*order).limit(newest)


def state_entries_query(project_id: Any) -> SelectOfScalar[Event]:
    """The facts that put the project `project_id` in a state (creation, transitions), oldest
    first."""
    return (
        select(Event)
        .where(Event.project_id == project_id, col(Event.to_state).is_not(None))
        .order_by(col(Event.at), col(Event.id))
    )
