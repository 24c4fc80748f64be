"""Moving running projects to a newer version of their definition (staff admins): the dry run,
then applying it from the versions the dry run read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from labelflow import workflow_migration
from labelflow.permissions import WORKFLOW_MIGRATE
from labelflow.schemas import (
    MigrationApply,
    MigrationPlanPublic,
    MigrationPlanRequest,
    MigrationResultPublic,
)
from labelflow.web.deps import ActorDep, EngineDep, SessionDep, permit
from labelflow.web.migrations.present import plan_public, result_public
from labelflow.web.routing import api_router

router = api_router()

WorkflowKey = Annotated[str, Path(max_length=100, description="Clé du parcours")]


@router.post(
    "/workflows/{key}/migrations/plan",
    tags=["workflows"],
    summary="Essai à blanc : ce que le passage à une version ferait à chaque projet",
    dependencies=[permit(WORKFLOW_MIGRATE)],
)
def plan_migration(
    key: WorkflowKey,
    data: MigrationPlanRequest,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> MigrationPlanPublic:
    plan = workflow_migration.plan_migration(
        session,
        engine=engine,
        actor=actor,
        key=key,
        to_version=data.to_version,
        project_ids=data.project_ids,
    )
    return plan_public(plan)


@router.post(
    "/workflows/{key}/migrations",
    tags=["workflows"],
    summary="Faire passer des projets à une version (chacun seul, depuis la version lue)",
    dependencies=[permit(WORKFLOW_MIGRATE)],
)
def apply_migration(
    key: WorkflowKey,
    data: MigrationApply,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> MigrationResultPublic:
    plan = workflow_migration.reviewed_plan(
        session,
        engine=engine,
        actor=actor,
        key=key,
        to_version=data.to_version,
        versions={p.id: p.version for p in data.projects},
    )
    outcomes = workflow_migration.apply_plan(
        plan, engine=engine, actor=actor, each=workflow_migration.savepoints(session)
    )
    return result_public(key, data.to_version, outcomes)
