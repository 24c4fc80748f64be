"""Moving running projects to a newer version of their definition (`labelflow workflow migrate`,
the workflow page's « Migrer les projets », `POST /api/v1/workflows/{key}/migrations`).

A plan says, for each project of the key, the state it is in and the one it goes to (same key,
or what the new version's `migration` section says of a renamed or split state), the criteria
of its next actions that become unmet or met, the deadlines that change and what happens to its
draft report; or why it cannot move (closed, already there, a state the new version lacks).

Applying it moves each project on its own (`apply_plan` opens one transaction, or savepoint, per
project): the project row only from the version the plan read (the optimistic lock), so that a
project changed since is skipped and reported, never half-migrated; one `migration` fact records
it (from and to version, by whom), and its subscribers change the deadlines and the draft report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlmodel import Session, col, select

from labelflow import deadlines, reports
from labelflow.actors import Actor
from labelflow.criteria import Facts
from labelflow.errors import ChangedSincePlan, Conflict, MigrationRefused, NotFound
from labelflow.events import record_fact
from labelflow.models import Project, id_of
from labelflow.permissions import WORKFLOW_MIGRATE, require
from labelflow.projects import bump, evaluate, load_facts, visibility_clause
from labelflow.workflow import Engine, WorkflowDefinition


@dataclass(frozen=True)
class CriterionChange:
    action_label: str
    code: str
    message: str


@dataclass(frozen=True)
class ProjectPlan:
    """One project's move (or why it cannot move)."""

    project_id: int
    name: str
    region: str
    # The project row's version the plan read: applying moves it only from that one.
    version: int
    from_version: int
    to_version: int
    state_before: str
    state_before_label: str
    state_after: str | None = None
    state_after_label: str | None = None
    refused: str | None = None
    became_unmet: list[CriterionChange] = field(default_factory=list)
    became_met: list[CriterionChange] = field(default_factory=list)
    deadlines: list[deadlines.DeadlineChange] = field(default_factory=list)
    report: dict[str, Any] | None = None
    # The states of the old version whose key changes (the history's passes follow them).
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def movable(self) -> bool:
        return self.refused is None


@dataclass(frozen=True)
class MigrationPlan:
    key: str
    label: str
    to_version: int
    projects: list[ProjectPlan]

    @property
    def movable(self) -> list[ProjectPlan]:
        return [p for p in self.projects if p.movable]

    @property
    def refused(self) -> list[ProjectPlan]:
        return [p for p in self.projects if not p.movable]


@dataclass(frozen=True)
class Outcome:
    """What applying the plan did to one project: `migre`, `ignore` (changed since the plan:
    `reason`) or `refuse` (cannot move: `reason`)."""

    project_id: int
    name: str
    status: str
    reason: str | None = None
    state_after: str | None = None


def target_definition(engine: Engine, *, key: str, to_version: int) -> WorkflowDefinition:
    try:
        return engine.definition(key, to_version)
    except KeyError:
        raise NotFound(f"Le parcours « {key} » n'a pas de version {to_version}.") from None


def state_path(engine: Engine, *, key: str, from_version: int, to_version: int) -> Any:
    """The function giving, for a state of `from_version`, its key in `to_version`: each version
    in between applies its own `migration` section (when it starts from the version before)."""
    steps: list[WorkflowDefinition] = []
    previous = from_version
    for version in range(from_version + 1, to_version + 1):
        try:
            definition = engine.definition(key, version)
        except KeyError:
            continue
        migration = definition.migration
        if migration is not None and migration.from_version == previous:
            steps.append(definition)
        previous = version

    def state_of(state: str) -> str:
        for definition in steps:
            assert definition.migration is not None
            state = definition.migration.target_of(state)
        return state

    return state_of


def _unmet(facts: Facts) -> dict[str, CriterionChange]:
    found: dict[str, CriterionChange] = {}
    for evaluation in evaluate(facts):
        for unmet in evaluation.unmet:
            found.setdefault(
                unmet.code, CriterionChange(evaluation.label, unmet.code, unmet.message)
            )
    return found


def plan_project(
    session: Session, *, engine: Engine, project: Project, target: WorkflowDefinition
) -> ProjectPlan:
    before = engine.definition(project.workflow_key, project.workflow_version)
    base = ProjectPlan(
        project_id=id_of(project),
        name=project.name,
        region=project.region,
        version=project.version,
        from_version=project.workflow_version,
        to_version=target.version,
        state_before=project.state,
        state_before_label=before.state(project.state).label,
    )
    if project.workflow_key != target.key:
        return replace(base, refused=f"Le projet suit un autre parcours (« {before.label} »).")
    if project.workflow_version == target.version:
        return replace(base, refused=f"Le projet suit déjà la version {target.version}.")
    if project.workflow_version > target.version:
        return replace(
            base,
            refused=f"Le projet suit la version {project.workflow_version}, plus récente.",
        )
    if before.is_final(project.state):
        return replace(
            base,
            refused=(
                f"Le projet est clos (« {before.state(project.state).label} ») : "
                "il garde la version de sa décision."
            ),
        )
    state_of = state_path(
        engine, key=target.key, from_version=project.workflow_version, to_version=target.version
    )
    after = state_of(project.state)
    if after not in {s.key for s in target.states}:
        return replace(
            base,
            refused=(
                f"L'état « {before.state(project.state).label} » n'existe pas dans la version "
                f"{target.version}, et sa section « migration » ne dit pas où vont ses projets."
            ),
        )
    if target.is_final(after):
        return replace(
            base, refused=f"L'état « {after} » est final dans la version {target.version}."
        )
    facts = load_facts(session, engine=engine, project=project)
    moved = Project(**{name: getattr(project, name) for name in Project.model_fields})
    moved.workflow_version, moved.state = target.version, after
    old, new = _unmet(facts), _unmet(replace(facts, project=moved, definition=target))
    return replace(
        base,
        state_after=after,
        state_after_label=target.state(after).label,
        became_unmet=[change for code, change in new.items() if code not in old],
        became_met=[change for code, change in old.items() if code not in new],
        deadlines=deadlines.migration_changes(
            session, project=project, before=before, after=target, state_of=state_of
        ),
        report=reports.migration_carry(
            session, engine=engine, project=project, to_version=target.version
        ),
        renamed={s.key: state_of(s.key) for s in before.states if state_of(s.key) != s.key},
    )


def plan_migration(
    session: Session,
    *,
    engine: Engine,
    actor: Actor,
    key: str,
    to_version: int,
    project_ids: Iterable[int] = (),
) -> MigrationPlan:
    """The dry run: every project of `key` not yet on `to_version` (or the projects named),
    among those `actor` sees; it changes nothing."""
    require(actor, WORKFLOW_MIGRATE)
    target = target_definition(engine, key=key, to_version=to_version)
    wanted = sorted(set(project_ids))
    query = select(Project).order_by(col(Project.id))
    visible = visibility_clause(actor, engine)
    if visible is not None:
        query = query.where(visible)
    if wanted:
        query = query.where(col(Project.id).in_(wanted))
    else:
        query = query.where(
            col(Project.workflow_key) == key, col(Project.workflow_version) != to_version
        )
    found = {id_of(p): p for p in session.exec(query)}
    missing = [pid for pid in wanted if pid not in found]
    if missing:
        raise NotFound(
            "Projet introuvable : " + ", ".join(str(pid) for pid in missing) + ".",
            project_ids=missing,
        )
    plans = [
        plan_project(session, engine=engine, project=project, target=target)
        for project in found.values()
    ]
    return MigrationPlan(key=key, label=target.label, to_version=to_version, projects=plans)


def reviewed_plan(
    session: Session,
    *,
    engine: Engine,
    actor: Actor,
    key: str,
    to_version: int,
    versions: dict[int, int],
) -> MigrationPlan:
    """The plan of the projects a dry run showed, each to be moved only from the `version` of
    its row the dry run read (`versions`: id → version): one changed since is skipped."""
    plan = plan_migration(
        session, engine=engine, actor=actor, key=key, to_version=to_version, project_ids=versions
    )
    seen = [replace(p, version=versions[p.project_id]) for p in plan.projects]
    return replace(plan, projects=seen)


def savepoints(session: Session) -> Callable[[], AbstractContextManager[Session]]:
    """`apply_plan`'s `each` inside a request: one savepoint per project of the request's
    transaction (a project that fails is rolled back alone)."""

    @contextmanager
    def each() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    return each


def migrate_project(
    session: Session, *, engine: Engine, actor: Actor, planned: ProjectPlan
) -> Outcome:
    """Move one project as `planned` said, in the caller's transaction; a project changed since
    the plan read it is skipped (StaleVersion, nothing written)."""
    require(actor, WORKFLOW_MIGRATE)
    project = session.get(Project, planned.project_id, populate_existing=True)
    changed = "Le projet a changé depuis le plan : relancez le plan pour le migrer."
    if project is None or project.version != planned.version:
        raise ChangedSincePlan(changed)
    target = target_definition(engine, key=project.workflow_key, to_version=planned.to_version)
    fresh = plan_project(session, engine=engine, project=project, target=target)
    if fresh.refused is not None or fresh.state_after is None:
        raise MigrationRefused(fresh.refused or "Ce projet ne peut pas migrer.")
    before = fresh.from_version
    try:
        # Conditional on the version read: a change committed meanwhile wins, this one is undone.
        bump(
            session,
            project,
            if_match=None,
            relies_on_read=True,
            workflow_version=target.version,
            state=fresh.state_after,
        )
    except Conflict:
        raise ChangedSincePlan(changed) from None
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="migration",
        definition=target,
        data={
            "from_version": before,
            "to_version": target.version,
            "from_state": fresh.state_before,
            "to_state": fresh.state_after,
            "from_label": fresh.state_before_label,
            "to_label": fresh.state_after_label,
            "deadlines": [change.data() for change in fresh.deadlines],
            "report": fresh.report,
            "renamed": fresh.renamed,
            "became_unmet": [c.code for c in fresh.became_unmet],
            "became_met": [c.code for c in fresh.became_met],
        },
    )
    return Outcome(id_of(project), project.name, "migre", state_after=fresh.state_after)


def apply_plan(
    plan: MigrationPlan,
    *,
    engine: Engine,
    actor: Actor,
    each: Callable[[], AbstractContextManager[Session]],
) -> list[Outcome]:
    """Move every movable project of `plan`, each inside its own `each()` (a transaction, or a
    savepoint of the request's): one refused or changed project never stops the others."""
    require(actor, WORKFLOW_MIGRATE)
    outcomes = [Outcome(p.project_id, p.name, "refuse", p.refused) for p in plan.refused]
    for planned in plan.movable:
        try:
            with each() as session:
                outcomes.append(
                    migrate_project(session, engine=engine, actor=actor, planned=planned)
                )
        except (ChangedSincePlan, MigrationRefused) as exc:
            status = "ignore" if isinstance(exc, ChangedSincePlan) else "refuse"
            outcomes.append(Outcome(planned.project_id, planned.name, status, exc.message))
    return sorted(outcomes, key=lambda o: o.project_id)
