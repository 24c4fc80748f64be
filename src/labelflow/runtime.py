"""What the consequences of facts may need beyond the database session, built once at start-up.

The web app attaches it to every request's session (and the demo builder to its own): a
subscriber that writes a document (the report PDF, a decision letter) finds the templates and the
store there. A session without one (the benchmark's bulk data) records facts all the same; only
the generated documents are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session

if TYPE_CHECKING:
    from jinja2 import Environment

    from labelflow.storage import Storage
    from labelflow.workflow import Engine

_KEY = "labelflow.runtime"


@dataclass(frozen=True)
class Runtime:
    workflows: Engine
    templates: Environment  # the PDF templates
    store: Storage


def attach(session: Session, runtime: Runtime) -> None:
    session.info[_KEY] = runtime


def runtime_of(session: Session) -> Runtime | None:
    runtime: Runtime | None = session.info.get(_KEY)
    return runtime
