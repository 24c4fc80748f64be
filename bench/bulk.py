"""Thousands of demo-like projects written by bulk inserts, for the benchmark only.

Rows are plausible (states along the main path, deadlines, stakeholders, board, documents whose
files do not exist, events) but skip the services, for speed: the demo itself
(`labelflow.demo.load.load_demo`) goes through the services.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine as SAEngine
from sqlmodel import SQLModel

from labelflow import chain, dates, pipeline, projects, stats
from labelflow.db import transaction
from labelflow.demo.people import STAFF
from labelflow.demo.places import EXTRA_PLACES
from labelflow.demo.scenarios import MAIN_PATH, scenarios
from labelflow.models import (
    Attestation,
    BoardMember,
    Deadline,
    Document,
    Event,
    Project,
    Stakeholder,
)
from labelflow.workflow import Engine


def _table(model: type[SQLModel]) -> sa.Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


@dataclass
class _Rows:
    stakeholders: list[dict[str, Any]] = field(default_factory=list)
    board: list[dict[str, Any]] = field(default_factory=list)
    attestations: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
        yield _table(Stakeholder), self.stakeholders
        yield _table(BoardMember), self.board
        yield _table(Attestation), self.attestations
        yield _table(Document), self.documents
        yield _table(Deadline), self.deadlines
        yield _table(Event), self.events


# fmt: off
BULK_DOC_TYPES = [
    "note_cadrage", "etude_faisabilite", "deliberation_collectivite", "validation_habitants",
    "statuts", "recepisse_prefecture", "autre"
]
# fmt: on


def _bulk_children(
    rng: random.Random,
    pid: int,
    row: dict[str, Any],
    *,
    events: int,
    docs: int,
    rows: _Rows,
    definition_steps: list[tuple[str, int]],
) -> None:
    created: datetime = row["created_at"]
    span = max((row["updated_at"] - created).total_seconds(), 3600.0)

    def when(fraction: float) -> datetime:
        return created + timedelta(seconds=span * fraction)

    staff = rng.choice(STAFF)[0]
    colleges = [
        "habitants",
        "collectivite",
        "bailleur" if row["kind"] == "quartier" else "partenaire",
    ]
    for i, college in enumerate(colleges + ["habitants"] * rng.randint(0, 2)):
        rows.stakeholders.append(
            {
                "project_id": pid,
                "name": f"Partie prenante {i + 1}",
                "college": college,
                "contact": None,
                "engaged_on": when(0.05).date(),
                "created_at": when(0.05),
            }
        )
    for i in range(rng.randint(0, 7)):
        rows.board.append(
            {
                "project_id": pid,
                "name": f"Membre {i + 1}",
                "college": "habitants" if i < 4 else "collectivite",
                "is_president": i == 0,
                "created_at": when(0.6),
            }
        )
    for code in ("portage_collectivite", "convention_amo", "visite_regie"):
        rows.attestations.append(
            {
                "project_id": pid,
                "code": code,
                "attested_on": when(0.1).date(),
                "comment": "Constaté en comité de suivi.",
                "recorded_by": staff,
                "recorded_at": when(0.1),
            }
        )
    for i in range(docs):
        at = when((i + 1) / (docs + 1))
        doc_type = BULK_DOC_TYPES[i % len(BULK_DOC_TYPES)]
        rows.documents.append(
            {
                "project_id": pid,
                "type": doc_type,
                "filename": f"{doc_type}-{i + 1}.pdf",
                "size": rng.randint(20_000, 2_000_000),
                "media_type": "application/pdf",
                "sha256": hashlib.sha256(f"{pid}-{i}".encode()).hexdigest(),
                "uploaded_by": staff,
                "uploaded_at": at,
                "review_status": rng.choice(["en_attente", "accepted"]),
                "review_comment": None,
                "reviewed_by": None,
                "reviewed_at": None,
                "superseded_by_id": None,
            }
        )
    created_day = dates.paris_date(created)
    rows.deadlines.append(
        {
            "project_id": pid,
            "kind": "label",
            "state": None,
            "due_on": dates.add_months(created_day, 36),
            "initial_due_on": dates.add_months(created_day, 36),
            "closed_on": None,
            "created_at": created,
        }
    )
    for index, (state, months) in enumerate(definition_steps):
        start = when(index / len(definition_steps)).date()
        due = dates.add_months(start, months)
        closed = None if state == row["state"] else when((index + 1) / len(definition_steps)).date()
        rows.deadlines.append(
            {
                "project_id": pid,
                "kind": "etape",
                "state": state,
                "due_on": due,
                "initial_due_on": due,
                "closed_on": closed,
                "created_at": created,
            }
        )
        if state == row["state"]:
            break
    kinds = [
        "partie_prenante",
        "attestation",
        "document",
        "revue",
        "modification",
        "membre_ca",
        "consultant",
    ]
    rows.events.append(
        {
            "project_id": pid,
            "at": created,
            "actor": staff,
            "kind": "creation",
            "action": None,
            "from_state": None,
            "to_state": "groupe_projet",
            "comment": None,
            "data": {"name": row["name"]},
        }
    )
    path = [s for s, _ in MAIN_PATH]
    reached = path.index(row["state"]) if row["state"] in path else len(path) - 1
    transitions = {round((i + 1) * (events - 1) / (reached + 1)): i for i in range(reached)}
    for i in range(1, events):
        at = when(i / events)
        if i in transitions:
            step = transitions[i]
            rows.events.append(
                {
                    "project_id": pid,
                    "at": at,
                    "actor": staff,
                    "kind": "transition",
                    "action": MAIN_PATH[step][1],
                    "from_state": path[step],
                    "to_state": path[step + 1],
                    "comment": None,
                    "data": {},
                }
            )
        else:
            kind = kinds[i % len(kinds)]
            rows.events.append(
                {
                    "project_id": pid,
                    "at": at,
                    "actor": staff,
                    "kind": kind,
                    "action": None,
                    "from_state": None,
                    "to_state": None,
                    "comment": None,
                    "data": {"op": "ajout", "id": i},
                }
            )


def generate_bulk(
    db: SAEngine,
    workflows: Engine,
    *,
    count: int,
    seed: int = 0,
    events: tuple[int, int] = (10, 40),
    docs: tuple[int, int] = (5, 15),
    batch: int = 500,
) -> list[int]:
    """Insert `count` demo-like projects with their histories directly (benchmark only).

    Rows are plausible (states along the main path, deadlines, stakeholders, board, documents
    whose files do not exist, 10-40 events) but skip the services, for speed.
    """
    rng = random.Random(seed)
    now = dates.now()
    places = [s.place for s in scenarios()] + EXTRA_PLACES
    ids: list[int] = []
    path = [s for s, _ in MAIN_PATH]
    for first in range(0, count, batch):
        size = min(batch, count - first)
        project_rows: list[dict[str, Any]] = []
        for n in range(first, first + size):
            place = rng.choice(places)
            kind = "quartier" if place.qpv else "territoire"
            definition = workflows.for_kind(kind)
            state = rng.choice(path)
            created = now - timedelta(days=rng.randint(30, 1080), minutes=rng.randint(0, 600))
            updated = created + (now - created) * rng.uniform(0.5, 0.99)
            communes = [{"insee": c, "name": name} for c, name in place.communes]
            name = f"Projet {n + 1} – {place.communes[0][1]}"
            project_rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "communes": communes,
                    "region": place.region,
                    "departement": place.departement,
                    "qpv": place.qpv,
                    "initiator": rng.choice(["habitants", "collectivite", "bailleur"]),
                    "search_text": projects.fold(" ".join([name, *(c["name"] for c in communes)])),
                    "workflow_key": definition.key,
                    "workflow_version": definition.version,
                    "state": state,
                    "entered_state_at": updated,
                    "suspended": False,
                    "suspended_at": None,
                    "version": rng.randint(10, 60),
                    "created_at": created,
                    "updated_at": updated,
                    "association_name": None,
                    "rna_number": None,
                    "association_created_on": None,
                    "charge_mission_recruited_on": None,
                    "consultant_id": None,
                    "label_number": None,
                    "label_date": None,
                }
            )
        rows = _Rows()
        with transaction(db) as session:
            inserted = (
                session.execute(
                    sa.insert(_table(Project)).returning(
                        _table(Project).c.id, sort_by_parameter_order=True
                    ),
                    project_rows,
                )
                .scalars()
                .all()
            )
            for pid, row in zip(inserted, project_rows, strict=True):
                definition = workflows.for_kind(row["kind"])
                steps = [(s.key, s.target_months or 1) for s in definition.steps()]
                _bulk_children(
                    rng,
                    pid,
                    row,
                    events=rng.randint(*events),
                    docs=rng.randint(*docs),
                    rows=rows,
                    definition_steps=steps,
                )
            # In the order inserted, so that each project's chain follows its ids.
            chain.seal_rows(rows.events)
            for table, values in rows.tables():
                if values:
                    session.execute(sa.insert(table), values)
            # Written without the facts: the lists cached by running processes are stale.
            stats.touch(session, pipeline.LISTS_KEY)
        ids.extend(int(i) for i in inserted)
    return ids
