"""The label and the decision letters: what a Bureau decision does once staff apply it (the
project leaves the Bureau's step by the decision's action): label number and date, network
membership, and the French letter kept with the project."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from labelflow import accounts, dates, documents, pdf
from labelflow.actors import Actor
from labelflow.decisions import OUTCOME_LABELS, current_decision, list_decisions, vote_text
from labelflow.events import Fact
from labelflow.models import BureauMeeting, Decision, Document, LabelCounter, Project, User
from labelflow.projects import KIND_LABELS
from labelflow.runtime import Runtime

LETTER_TYPE = "courrier_decision"
LETTER_TEMPLATES = {
    "attribution": "pdf/letter_attribution.html",
    "refus": "pdf/letter_refus.html",
    "ajournement": "pdf/letter_ajournement.html",
}


def next_label_number(session: Session, *, prefix: str, year: int) -> int:
    """The next number of the year for `prefix`, unique under concurrent transactions.

    The counter row is created if missing (a no-op when another transaction did it), then
    incremented in place: the UPDATE holds the row lock until commit, so concurrent decisions
    queue on it (PostgreSQL) or on the write lock (SQLite), and each reads its own value.
    """
    table = LabelCounter.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.exec(insert(table).values(prefix=prefix, year=year, last=0).on_conflict_do_nothing())
    number = session.exec(
        sa.update(table)
        .where(table.c.prefix == prefix, table.c.year == year)
        .values(last=table.c.last + 1)
        .returning(table.c.last)
    ).scalar_one()
    return int(number)


def format_label_number(prefix: str, year: int, number: int) -> str:
    """'RQ-2027-003'."""
    return f"{prefix}-{year}-{number:03d}"


# --- consequences of facts (subscribed in labelflow.consequences) ----------------------------


def on_transition(fact: Fact) -> None:
    """The project left the Bureau's step by a decision action: the decision is applied.

    Attribution: the label number (from `LabelCounter`), label date and network membership.
    Every decision: its French letter, stored with the project (when the session has the
    runtime's templates and store: the web app and the demo do, the benchmark's bulk data not).
    """
    session, (project, definition) = fact.session, fact.subject
    outcome = definition.roles.decision_outcomes.get(fact.event.action or "")
    if outcome is None or fact.event.from_state != definition.roles.bureau_state:
        return
    decisions = list_decisions(session, project=project)
    if not decisions:  # pragma: no cover - the action's criterion requires one
        return
    # The pass just ended is the latest one decided on: the criterion required its decision.
    pass_started_at = max(d.pass_started_at for d in decisions)
    decision = current_decision(decisions, pass_started_at=pass_started_at, outcome=outcome)
    if decision is None:  # pragma: no cover - the action's criterion requires it
        return
    on = dates.paris_date(fact.event.at)
    if outcome == "attribution":
        number = next_label_number(session, prefix=definition.label_prefix, year=on.year)
        project.label_number = format_label_number(definition.label_prefix, on.year, number)
        project.label_date = on
        project.network_member_since = on
        session.add(project)
        session.flush()
    runtime = fact.runtime
    if runtime is not None:
        _store_letter(
            session, runtime=runtime, project=project, decision=decision, on=on, actor=fact.actor
        )


# WeasyPrint relies on Pango and fontconfig: letters are rare, render them one at a time.
_RENDER_LOCK = threading.Lock()


def letter_context(
    session: Session, *, project: Project, decision: Decision, on: date
) -> dict[str, Any]:
    """What the letter templates show (dates already in French: no filter needed)."""
    meeting = session.get(BureauMeeting, decision.meeting_id) if decision.meeting_id else None
    chair = session.get(User, meeting.chair_id) if meeting and meeting.chair_id else None
    return {
        "project": project,
        "kind_label": KIND_LABELS.get(project.kind, project.kind),
        "association": project.association_name or project.name,
        "porteurs": [u.name for u in accounts.list_members(session, project=project)],
        "communes": ", ".join(c["name"] for c in project.communes),
        "departement": project.departement,
        "date_text": dates.french_date(on),
        "meeting_text": dates.french_date(decision.meeting_on),
        "decision": decision,
        "outcome_label": OUTCOME_LABELS[decision.outcome],
        "votes_text": vote_text(decision.votes_for, decision.votes_against, decision.votes_abstain),
        "motivation": decision.motivation,
        "chair": chair.name if chair else None,
        "label_number": project.label_number,
        "label_date_text": dates.french_date(project.label_date) if project.label_date else "",
    }


def render_letter(env: Environment, outcome: str, context: dict[str, Any]) -> bytes:
    with _RENDER_LOCK:
        return pdf.render_pdf(env, LETTER_TEMPLATES[outcome], context)


def _store_letter(
    session: Session,
    *,
    project: Project,
    decision: Decision,
    runtime: Runtime,
    on: date,
    actor: Actor,
) -> Document:
    context = letter_context(session, project=project, decision=decision, on=on)
    content = render_letter(runtime.templates, decision.outcome, context)
    suffix = project.label_number or on.isoformat()
    return documents.create_generated_document(
        session,
        store=runtime.store,
        project=project,
        doc_type=LETTER_TYPE,
        filename=f"courrier-decision-{decision.outcome}-{suffix}.pdf",
        content=content,
        media_type="application/pdf",
        actor=actor,
    )
