"""The history's hash chain: each event carries the SHA-256 of its canonical content and of the
previous event of the same chain (its project's; the facts without a project form one more).

Editing, removing or inserting a row anywhere but at the end of a chain breaks it at that row:
`verify` finds the first broken link of every chain (`labelflow history verify`), and the project
page tells staff whether the project's chain holds (`project_verified`, cached per chain head).

Two writers must not extend one chain from the same link. On SQLite a write transaction holds
the database's write lock from its `BEGIN IMMEDIATE`; on PostgreSQL `seal` locks the project's
row (the very lock the optimistic lock `projects.bump`'s update takes, so the two are one) or, for
the facts without a project, a transaction-scoped advisory lock. A unique index on
`previous_sha256` makes any fork that slipped through an error rather than a silent branch.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from labelflow.models import Event, Project

# pg_advisory_xact_lock key of the chain of the facts without a project.
_NO_PROJECT_LOCK = 0x6C660001
# A verified chain is trusted again for that long while its head stays the same.
VERIFIED_FOR_SECONDS = 300.0
_CACHE_SIZE = 4096


def canonical(
    *,
    project_id: int | None,
    at: datetime,
    actor: str,
    kind: str,
    action: str | None,
    from_state: str | None,
    to_state: str | None,
    comment: str | None,
    data: Any,
    previous: str | None,
) -> bytes:
    """The bytes hashed for one event: sorted-key JSON of what the fact says, UTC time with
    microseconds. `actor_id` is left out: deleting an account empties it (the name stays).

    The migration that introduced the chain keeps a frozen copy of this function.
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    content = {
        "project_id": project_id,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "kind": kind,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "comment": comment,
        # As the database gives it back (tuples become lists, keys strings).
        "data": json.loads(json.dumps(data if data is not None else {})),
        "previous": previous,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(row: Any, previous: str | None) -> str:
    """The SHA-256 of an event (an `Event` or a mapping of its columns) after `previous`."""
    get: Any = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    return hashlib.sha256(
        canonical(
            project_id=get("project_id"),
            at=get("at"),
            actor=get("actor"),
            kind=get("kind"),
            action=get("action"),
            from_state=get("from_state"),
            to_state=get("to_state"),
            comment=get("comment"),
            data=get("data"),
            previous=previous,
        )
    ).hexdigest()


def _lock_chain(session: Session, project_id: int | None) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction already holds the database's write lock
    if project_id is None:
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_NO_PROJECT_LOCK)))
    else:
        # FOR NO KEY UPDATE: the lock `bump`'s UPDATE takes, which rows inserted with a
        # foreign key to the project (their KEY SHARE) do not wait for, nor make wait.
        session.execute(
            select(col(Project.id))
            .where(col(Project.id) == project_id)
            .with_for_update(key_share=True)
        )


def _chain_clause(project_id: int | None) -> Any:
    if project_id is None:
        return col(Event.project_id).is_(None)
    return col(Event.project_id) == project_id


def seal(session: Session, event: Event) -> None:
    """Link `event` (not yet added) to the end of its chain and set its digest."""
    _lock_chain(session, event.project_id)
    previous = session.exec(
        select(col(Event.sha256))
        .where(_chain_clause(event.project_id))
        .order_by(col(Event.id).desc())
        .limit(1)
    ).first()
    event.previous_sha256 = previous
    event.sha256 = digest_of(event, previous)


def seal_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Chain event rows about to be bulk-inserted in this order, each project's chain starting
    with them (new projects only: the benchmark's bulk data)."""
    heads: dict[int | None, str | None] = {}
    for row in rows:
        previous = heads.get(row["project_id"])
        row["previous_sha256"] = previous
        row["sha256"] = heads[row["project_id"]] = digest_of(row, previous)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first broken link of a chain: the event where it breaks and why, in French."""

    project_id: int | None
    event_id: int
    reason: str

    def line(self) -> str:
        chain = f"projet {self.project_id}" if self.project_id is not None else "hors projet"
        return f"{chain} · fait {self.event_id} : {self.reason}"


@dataclass(frozen=True)
class Report:
    events: int
    chains: int
    breaks: list[Break]


_COLUMNS: tuple[Any, ...] = tuple(
    col(c)
    for c in (
        Event.id,
        Event.project_id,
        Event.at,
        Event.actor,
        Event.kind,
        Event.action,
        Event.from_state,
        Event.to_state,
        Event.comment,
        Event.data,
        Event.previous_sha256,
        Event.sha256,
    )
)


def _first_break(rows: Iterable[Any]) -> tuple[int, Break | None]:
    """Walk one chain's rows in id order; the number of rows and its first broken link."""
    count, broken, last = 0, None, None
    for row in rows:
        count += 1
        if broken is not None:
            continue
        if row.previous_sha256 != last:
            broken = Break(
                row.project_id,
                row.id,
                "le fait précédent de la chaîne a été supprimé, remplacé ou inséré après coup",
            )
        elif digest_of(row._mapping, row.previous_sha256) != row.sha256:
            broken = Break(
                row.project_id, row.id, "son contenu a été modifié depuis son enregistrement"
            )
        last = row.sha256
    return count, broken


def _by_chain(rows: Iterable[Any]) -> Iterator[list[Any]]:
    chain: list[Any] = []
    for row in rows:
        if chain and row.project_id != chain[-1].project_id:
            yield chain
            chain = []
        chain.append(row)
    if chain:
        yield chain


def verify(session: Session) -> Report:
    """Every chain checked (streamed, one chain in memory at a time)."""
    rows = session.execute(
        sa.select(*_COLUMNS)
        .order_by(col(Event.project_id).is_(None), col(Event.project_id), col(Event.id))
        .execution_options(yield_per=2000)
    )
    events = chains = 0
    breaks: list[Break] = []
    for chain in _by_chain(rows):
        count, broken = _first_break(chain)
        events, chains = events + count, chains + 1
        if broken is not None:
            breaks.append(broken)
    return Report(events=events, chains=chains, breaks=breaks)


def verify_project(session: Session, *, project_id: int) -> Break | None:
    """The first broken link of one project's chain (None: it holds)."""
    rows = session.execute(
        sa.select(*_COLUMNS).where(_chain_clause(project_id)).order_by(col(Event.id))
    )
    return _first_break(rows)[1]


_verified: dict[int, tuple[int, str, float]] = {}
_verified_lock = threading.Lock()


def project_verified(session: Session, *, project_id: int, head: Event | None) -> Break | None:
    """`verify_project`, skipped when this process verified the same chain head recently.

    `head` is the project's latest event as the caller already loaded it (the project page's
    history); the cache only spares the work, a broken chain is looked at every time.
    """
    if head is None or head.id is None or head.sha256 is None:
        return verify_project(session, project_id=project_id)
    now = time.monotonic()
    with _verified_lock:
        seen = _verified.get(project_id)
    fresh = seen is not None and now - seen[2] < VERIFIED_FOR_SECONDS
    if fresh and seen is not None and seen[:2] == (head.id, head.sha256):
        return None
    broken = verify_project(session, project_id=project_id)
    with _verified_lock:
        if broken is None:
            if len(_verified) >= _CACHE_SIZE:
                _verified.clear()
            _verified[project_id] = (head.id, head.sha256, now)
        else:
            _verified.pop(project_id, None)
    return broken
