"""Request dependencies: the database session, the actor, the project (load-or-404)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlmodel import Session

from labelflow.actors import BUILTIN_STAFF, Actor
from labelflow.db import write_engine
from labelflow.documents import DocumentStore
from labelflow.errors import PreconditionFailed
from labelflow.models import Project
from labelflow.projects import get_project
from labelflow.settings import Settings
from labelflow.workflow import Engine

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ID = 2**31 - 1


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    db = request.app.state.db
    bind = db if request.method in READ_METHODS else write_engine(db)
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": the commit runs before the response, so a failed commit is an error.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_actor() -> Actor:
    """Until accounts exist, every request acts as the built-in staff member."""
    return BUILTIN_STAFF


ActorDep = Annotated[Actor, Depends(current_actor)]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.workflows
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_store(request: Request) -> DocumentStore:
    store: DocumentStore = request.app.state.store
    return store


StoreDep = Annotated[DocumentStore, Depends(get_store)]

ProjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du projet")]


def load_project(project_id: ProjectId, session: SessionDep, actor: ActorDep) -> Project:
    """The one place where a project is loaded for a request (visibility rules go here)."""
    return get_project(session, project_id)


ProjectDep = Annotated[Project, Depends(load_project)]

# 3, "3" or W/"3"; quotes come in pairs.
_VERSION = re.compile(r'^\s*(?:(\d{1,9})|(?:W/)?"(\d{1,9})")\s*$')


def if_match(
    value: Annotated[
        str | None,
        Header(alias="If-Match", description='Version du projet lue par l\'appelant : 3 ou "3"'),
    ] = None,
) -> int | None:
    if value is None or value.strip() == "*":
        return None
    match = _VERSION.match(value)
    if match is None:
        raise PreconditionFailed(
            'L\'en-tête If-Match est mal formé : indiquez la version du projet, par exemple "3".'
        )
    return int(match.group(1) or match.group(2))


IfMatchDep = Annotated[int | None, Depends(if_match)]
