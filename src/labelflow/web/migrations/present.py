"""A migration plan and its outcome as shown: the API shapes and the page's context."""

from __future__ import annotations

from typing import Any

from labelflow.schemas import (
    MigrationCriterionPublic,
    MigrationDeadlinePublic,
    MigrationOutcomePublic,
    MigrationPlanPublic,
    MigrationProjectPublic,
    MigrationReportPublic,
    MigrationResultPublic,
)
from labelflow.workflow import Engine
from labelflow.workflow_migration import MigrationPlan, Outcome

OUTCOME_LABELS = {
    "migre": "Migré",
    "ignore": "Ignoré : modifié depuis le plan",
    "refuse": "Refusé",
}


def plan_public(plan: MigrationPlan) -> MigrationPlanPublic:
    return MigrationPlanPublic(
        key=plan.key,
        label=plan.label,
        to_version=plan.to_version,
        movable=len(plan.movable),
        refused=len(plan.refused),
        projects=[
            MigrationProjectPublic(
                project_id=p.project_id,
                name=p.name,
                region=p.region,
                version=p.version,
                from_version=p.from_version,
                to_version=p.to_version,
                state_before=p.state_before,
                state_before_label=p.state_before_label,
                state_after=p.state_after,
                state_after_label=p.state_after_label,
                refused=p.refused,
                became_unmet=[MigrationCriterionPublic(**vars(c)) for c in p.became_unmet],
                became_met=[MigrationCriterionPublic(**vars(c)) for c in p.became_met],
                deadlines=[
                    MigrationDeadlinePublic(
                        deadline_id=d.deadline_id,
                        kind=d.kind,
                        state_before=d.state_before,
                        state_after=d.state_after,
                        due_before=d.due_before,
                        due_after=d.due_after,
                    )
                    for d in p.deadlines
                ],
                report=MigrationReportPublic(**p.report) if p.report is not None else None,
            )
            for p in plan.projects
        ],
    )


def result_public(key: str, to_version: int, outcomes: list[Outcome]) -> MigrationResultPublic:
    count = {s: sum(1 for o in outcomes if o.status == s) for s in OUTCOME_LABELS}
    return MigrationResultPublic(
        key=key,
        to_version=to_version,
        migrated=count["migre"],
        skipped=count["ignore"],
        refused=count["refuse"],
        items=[MigrationOutcomePublic(**vars(o)) for o in outcomes],
    )


def migration_page(
    engine: Engine,
    key: str,
    to_version: int | None,
    plan: MigrationPlan | None,
    outcomes: list[Outcome] | None = None,
) -> dict[str, Any]:
    """The workflow's « Migrer les projets » page: the versions one may move to, the dry run
    (per project: states, criteria, deadlines, report, or why not), then what applying did."""
    versions = sorted(d.version for d in engine.all() if d.key == key)
    latest = engine.definition(key)
    target = engine.definition(key, to_version) if to_version in versions else latest
    query = f"?to_version={target.version}"
    return {
        "definition": latest,
        "target": target,
        "versions": versions,
        "plan": plan,
        "outcomes": outcomes,
        "outcome_labels": OUTCOME_LABELS,
        "state_label": lambda key: _label(target, key),
        "nav": "workflows",
        "json_url": f"/api/v1/workflows/{key}/migrations/plan{query}",
    }


def _label(definition: Any, key: str | None) -> str:
    if key is None:
        return ""
    try:
        return str(definition.state(key).label)
    except KeyError:
        return key
