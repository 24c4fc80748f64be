"""« Migrer les projets » (staff admins): the dry run of moving a workflow's running projects to
one of its versions, and applying it from the versions the dry run showed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query, Request
from fastapi.responses import Response

from labelflow import workflow_migration
from labelflow.errors import Invalid
from labelflow.permissions import WORKFLOW_MIGRATE
from labelflow.web.deps import MAX_ID, ActorDep, EngineDep, SessionDep, permit
from labelflow.web.migrations.present import migration_page
from labelflow.web.routing import page_router, render

router = page_router()
ADMIN = [permit(WORKFLOW_MIGRATE)]

WorkflowKey = Annotated[str, Path(max_length=100)]


@router.get("/workflows/{key}/migration", dependencies=ADMIN)
def migration(
    request: Request,
    key: WorkflowKey,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    to_version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The dry run (nothing changes): the latest version unless another is chosen."""
    context = migration_page(engine, key, to_version, None)
    plan = workflow_migration.plan_migration(
        session, engine=engine, actor=actor, key=key, to_version=context["target"].version
    )
    return render(request, "migration.html", {**context, "plan": plan})


@router.post("/workflows/{key}/migration", dependencies=ADMIN)
def apply(
    request: Request,
    key: WorkflowKey,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    to_version: Annotated[int, Form(ge=1, le=MAX_ID)],
    project: Annotated[list[str], Form(max_length=1000)],
) -> Response:
    """Apply the dry run shown: each `project` is « id:version » as the page read it."""
    versions: dict[int, int] = {}
    for value in project:
        pid, _, version = value.partition(":")
        if not (pid.isdigit() and version.isdigit()) or not 0 < int(pid) <= MAX_ID:
            raise Invalid("Le formulaire de migration est invalide : rechargez la page.")
        versions[int(pid)] = int(version)
    plan = workflow_migration.reviewed_plan(
        session, engine=engine, actor=actor, key=key, to_version=to_version, versions=versions
    )
    outcomes = workflow_migration.apply_plan(
        plan, engine=engine, actor=actor, each=workflow_migration.savepoints(session)
    )
    context = migration_page(engine, key, to_version, None, outcomes)
    return render(request, "migration.html", context)
