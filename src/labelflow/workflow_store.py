"""Keeps every loaded definition version in the database.

A project stays on the version it started with: when a file moves to a new version, the old
one is still available from its snapshot, so running projects are evaluated as before.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine as SAEngine
from sqlmodel import select

from labelflow import dates
from labelflow.db import transaction
from labelflow.models import WorkflowVersion
from labelflow.workflow import (
    DECLARED_ONLY,
    Engine,
    WorkflowDefinition,
    WorkflowError,
    check_migrations,
    load_directory,
    parse_definition,
)


def _digest(definition: WorkflowDefinition) -> tuple[dict[str, object], str]:
    body = definition.model_dump(mode="json", context={DECLARED_ONLY: True})
    # A step expecting no documents is written as before `documents` existed: the versions
    # stored then keep their digest.
    states = body.get("states")
    for state in states if isinstance(states, list) else []:
        if isinstance(state, dict) and state.get("documents") == []:
            del state["documents"]
    # Likewise a version without a migration section.
    if body.get("migration") is None:
        body.pop("migration", None)
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return body, hashlib.sha256(text.encode()).hexdigest()


def sync_definitions(db: SAEngine, directory: Path) -> Engine:
    """Validate the files, record new versions, and build one Engine with every version."""
    from_files = load_directory(directory)
    with transaction(db) as session:
        stored = {(w.key, w.version): w for w in session.exec(select(WorkflowVersion))}
        for definition in from_files:
            body, sha = _digest(definition)
            known = stored.get((definition.key, definition.version))
            if known is None:
                row = WorkflowVersion(
                    key=definition.key,
                    version=definition.version,
                    sha256=sha,
                    body=body,
                    loaded_at=dates.now(),
                )
                session.add(row)
                stored[(row.key, row.version)] = row
            elif known.sha256 != sha:
                raise WorkflowError(
                    f"{definition.key}.yaml",
                    "version",
                    f"la version {definition.version} de « {definition.key} » a déjà été "
                    "chargée avec un autre contenu : incrémentez `version` "
                    "pour toute modification.",
                )
        rows = sorted(stored.values(), key=lambda w: (w.key, w.version))
    current = {(d.key, d.version) for d in from_files}
    archived = [
        parse_definition(row.body, source=f"base:{row.key}@v{row.version}")
        for row in rows
        if (row.key, row.version) not in current
    ]
    check_migrations([*from_files, *archived])
    return Engine(from_files, archived=archived, stored=lambda: stored_definitions(db))


def stored_definitions(db: SAEngine) -> list[WorkflowDefinition]:
    """Every version the database holds: what a running process learns a version from when
    another one (`labelflow workflow migrate`, a newer deployment) recorded it after start-up."""
    with transaction(db, write=False) as session:
        rows = list(session.exec(select(WorkflowVersion)))
    return [parse_definition(row.body, source=f"base:{row.key}@v{row.version}") for row in rows]
