"""The project list as a spreadsheet for staff (CSV, XLSX): the projects of the list's filters,
one row each, with its state and step, the date it entered each step, its deadlines, its
chargé·e de suivi and its forecast.

The projects are the list's (`pipeline.filter_conditions`: the visibility rule, then the
filters) in the list's order; the whole export is a handful of queries whatever the number of
projects (the forecasts: `stats.forecasts`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from labelflow import dates, deadlines, stats
from labelflow.actors import Actor
from labelflow.errors import Invalid
from labelflow.models import Deadline, Event, Project, User
from labelflow.pipeline import ProjectFilters, filter_conditions, filter_problems, ordered
from labelflow.projects import KIND_LABELS, definition_of
from labelflow.spreadsheets import Cell, Table
from labelflow.workflow import Engine

# The facts that put a project in a state: its creation (the first step) and its transitions.
ENTRY_FACTS = ("creation", "transition")
YES_NO = {True: "oui", False: "non"}
BASIS_LABELS = {"historique": "durées des projets passés", "cibles": "durées cibles"}


@dataclass(frozen=True)
class StepColumn:
    number: int
    label: str


def step_columns(engine: Engine) -> list[StepColumn]:
    """The steps of the latest definitions, by number (the first definition names each)."""
    steps: dict[int, str] = {}
    for definition in engine.latest():
        for state in definition.states:
            if state.step is not None and not state.final:
                steps.setdefault(state.step, state.label)
    return [StepColumn(n, label) for n, label in sorted(steps.items())]


def header(steps: Sequence[StepColumn]) -> list[str]:
    return [
        "Identifiant",
        "Projet",
        "Type",
        "Communes (code INSEE)",
        "Région",
        "Département",
        "État",
        "Étape",
        "Suspendu",
        "En retard",
        "Dans cet état depuis le",
        *(f"Entrée à l'étape {s.number} : {s.label}" for s in steps),
        "Échéance de l'étape",
        "Date cible du label",
        "Chargé·e de suivi",
        "Label prévu le",
        "Prévision au plus tôt",
        "Prévision au plus tard",
        "Prévision fondée sur",
        "Prévision au-delà de la date cible",
        "Numéro de label",
        "Date du label",
        "Créé le",
    ]


def communes_text(communes: Sequence[dict[str, str]]) -> str:
    """'Roubaix (59512), Tourcoing (59599)'."""
    return ", ".join(f"{c.get('name', '')} ({c.get('insee', '')})" for c in communes)


def _forecast_cells(forecast: stats.Forecast | None) -> list[Cell]:
    if forecast is None:
        return [None] * 5
    return [
        forecast.label_on,
        forecast.low,
        forecast.high,
        BASIS_LABELS.get(forecast.basis, forecast.basis),
        YES_NO[forecast.beyond_target],
    ]


def check_filters(engine: Engine, filters: ProjectFilters) -> None:
    """Refuse (422) a state or a kind no definition knows, rather than export nothing."""
    problem = Invalid.collected(filter_problems(engine, filters))
    if problem is not None:
        raise problem


def project_table(
    session: Session,
    *,
    engine: Engine,
    actor: Actor,
    filters: ProjectFilters,
    sort: str = "recent",
) -> Table:
    """The projects `actor` may see that match `filters`, in the list's order, as a table."""
    check_filters(engine, filters)
    today = dates.today()
    conditions = filter_conditions(
        session, engine=engine, actor=actor, filters=filters, today=today
    )
    overdue = deadlines.overdue_clause(today)
    owner = aliased(User)
    query = (
        select(Project, overdue.label("overdue"), owner.name)
        .outerjoin(owner, col(owner.id) == col(Project.staff_owner_id))
        .where(*conditions)
    )
    projects = session.exec(ordered(session, engine=engine, query=query, sort=sort)).all()
    expected = stats.forecasts(session, engine=engine, projects=[p for p, _, _ in projects])
    chosen = select(Project.id).where(*conditions)
    # The latest entry into each state: the pass that counts after an ajournement.
    entries: dict[int, dict[str, date]] = defaultdict(dict)
    for project_id, state, at in session.exec(
        select(Event.project_id, Event.to_state, func.max(Event.at))
        .where(
            col(Event.project_id).in_(chosen),
            col(Event.kind).in_(ENTRY_FACTS),
            col(Event.to_state).is_not(None),
        )
        .group_by(col(Event.project_id), col(Event.to_state))
    ):
        if project_id is not None and state is not None:
            entries[project_id][state] = dates.paris_date(at)
    step_due: dict[int, date] = {}
    label_due: dict[int, date] = {}
    for project_id, kind, due_on in session.exec(
        select(col(Deadline.project_id), col(Deadline.kind), col(Deadline.due_on))
        .where(
            col(Deadline.project_id).in_(chosen),
            col(Deadline.kind).in_(("etape", "label")),
        )
        .where((col(Deadline.closed_on).is_(None)) | (col(Deadline.kind) == "label"))
        .order_by(col(Deadline.id))
    ):
        (step_due if kind == "etape" else label_due)[project_id] = due_on
    steps = step_columns(engine)
    steps_of: dict[tuple[str, int], dict[str, int | None]] = {}

    def rows() -> Iterator[list[Cell]]:
        for project, late, owner_name in projects:
            assert project.id is not None
            definition = definition_of(engine, project)
            state = definition.state(project.state)
            numbers = steps_of.setdefault(
                (definition.key, definition.version), {s.key: s.step for s in definition.steps()}
            )
            by_step = {
                numbers[key]: on
                for key, on in entries.get(project.id, {}).items()
                if numbers.get(key) is not None
            }
            yield [
                project.id,
                project.name,
                KIND_LABELS.get(project.kind, project.kind),
                communes_text(project.communes),
                project.region,
                project.departement,
                state.label,
                None if state.final else state.step,
                YES_NO[project.suspended],
                YES_NO[bool(late)],
                dates.paris_date(project.entered_state_at),
                *(by_step.get(s.number) for s in steps),
                None if state.final else step_due.get(project.id),
                label_due.get(project.id),
                owner_name,
                *_forecast_cells(expected.get(project.id)),
                project.label_number,
                project.label_date,
                dates.paris_date(project.created_at),
            ]

    return Table("Projets", header(steps), list(rows()))
