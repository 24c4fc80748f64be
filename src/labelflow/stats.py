"""The network's figures (« État du réseau ») and each project's forecast.

Both read `step_passes`: one row per pass of a project through a state, kept by `on_fact` from
the facts that move a project (created, a step entered or left, suspended, resumed). A step's
duration is the time between entering and leaving it, each pass on its own, suspended time left
out, unfinished passes left out (DESIGN §13, "Figures").

The figures are computed by a few grouped queries and cached in this process, keyed by the
token of `figures_versions`, which the same facts change (in their transaction): a process
whose token is stale recomputes; every other request costs one query.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.cache import Cache
from labelflow.events import Fact
from labelflow.models import Deadline, Event, FiguresVersion, Project, StepPass
from labelflow.projects import definition_of, visibility_clause
from labelflow.workflow import Engine, StateDef, WorkflowDefinition

# A forecast built on history needs this many finished passes of every remaining step.
MIN_PASSES = 5
DAYS_PER_MONTH = 365.25 / 12
FIGURES_KEY = "network"
Basis = Literal["historique", "cibles"]
Outcome = Literal["label", "refus", "abandon"]


# --- the passes: kept from the facts ----------------------------------------------------------


def _open_pass(session: Session, project_id: int) -> StepPass | None:
    return session.exec(
        select(StepPass)
        .where(StepPass.project_id == project_id, col(StepPass.left_at).is_(None))
        .order_by(col(StepPass.id).desc())
        .limit(1)
    ).first()


def touch(session: Session, key: str = FIGURES_KEY) -> None:
    """What `key` names changed (the figures by default): every process's values cached under
    its token are stale once this transaction commits."""
    token = uuid.uuid4().hex
    changed = session.execute(
        sa.update(FiguresVersion).where(col(FiguresVersion.key) == key).values(token=token)
    )
    if getattr(changed, "rowcount", 0) == 0:
        session.add(FiguresVersion(key=key, token=token))
    session.flush()


def tokens(session: Session) -> dict[str, str]:
    """Every key's token of `figures_versions` (a handful of rows): one statement for all the
    caches a request consults (built once, a Core statement through the connection: every
    cached JSON of the lists and figures reads it)."""
    rows = session.connection().execute(_TOKENS).all()
    return {key: token for key, token in rows}


_TOKENS = sa.select(col(FiguresVersion.key), col(FiguresVersion.token))


def on_fact(fact: Fact) -> None:
    """A project created, moved, suspended or resumed: its passes follow."""
    project, event = fact.project, fact.event
    if project is None or project.id is None:
        return
    session = fact.session
    at = event.at
    if event.kind in ("creation", "transition") and event.to_state:
        # Two statements, no row loaded: every transition pays them (a transition's hot path).
        session.execute(
            sa.update(StepPass)
            .where(col(StepPass.project_id) == project.id, col(StepPass.left_at).is_(None))
            .values(left_at=at)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            sa.insert(StepPass).values(
                project_id=project.id,
                state=event.to_state,
                entered_at=at,
                paused_seconds=0,
                clock_day=dates.paris_date(at).toordinal(),
            )
        )
        touch(session)
        return
    current = _open_pass(session, project.id)
    if current is not None and event.kind == "suspension":
        current.paused_since, current.paused_day = at, dates.paris_date(at).toordinal()
        session.add(current)
        session.flush()
        # The forecasts' order moves with the project's clock.
        touch(session)
    elif current is not None and event.kind == "reprise" and current.paused_since is not None:
        current.paused_seconds += max(int((at - current.paused_since).total_seconds()), 0)
        current.clock_day += max(dates.paris_date(at).toordinal() - (current.paused_day or 0), 0)
        current.paused_since = current.paused_day = None
        session.add(current)
        session.flush()
        touch(session)


def on_migrated(fact: Fact) -> None:
    """A project moved to a newer definition version: its passes through renamed states take
    the new keys (`renamed` of the fact), so that each step's figures count them."""
    renamed: dict[str, str] = fact.event.data.get("renamed") or {}
    if not renamed or fact.event.project_id is None:
        return
    for old, new in renamed.items():
        fact.session.execute(
            sa.update(StepPass)
            .where(col(StepPass.project_id) == fact.event.project_id, col(StepPass.state) == old)
            .values(state=new)
        )
    touch(fact.session)


PASS_FACTS = ("creation", "transition", "suspension", "reprise", "migration")


def rebuild_passes(session: Session) -> int:
    """Replay every project's history into `step_passes` (for data written without the facts'
    subscribers: the benchmark's bulk rows); the same rules as `on_fact`. Returns the passes."""
    session.execute(sa.delete(StepPass))
    rows = session.execute(
        sa.select(
            col(Event.project_id),
            col(Event.at),
            col(Event.kind),
            col(Event.to_state),
            col(Event.data),
        )
        .where(col(Event.kind).in_(PASS_FACTS), col(Event.project_id).is_not(None))
        .order_by(col(Event.project_id), col(Event.at), col(Event.id))
    ).all()
    out: list[dict[str, Any]] = []
    current: dict[int, dict[str, Any]] = {}
    for project_id, at, kind, to_state, data in rows:
        assert project_id is not None
        open_pass = current.get(project_id)
        if kind == "migration":
            renamed = (data or {}).get("renamed") or {}
            for kept in out:
                if kept["project_id"] == project_id and kept["state"] in renamed:
                    kept["state"] = renamed[kept["state"]]
            continue
        if kind in ("creation", "transition") and to_state:
            if open_pass is not None:
                open_pass["left_at"] = at
            open_pass = {
                "project_id": project_id,
                "state": to_state,
                "entered_at": at,
                "left_at": None,
                "paused_seconds": 0,
                "paused_since": None,
                "clock_day": dates.paris_date(at).toordinal(),
                "paused_day": None,
            }
            current[project_id] = open_pass
            out.append(open_pass)
        elif open_pass is not None and kind == "suspension":
            open_pass["paused_since"] = at
            open_pass["paused_day"] = dates.paris_date(at).toordinal()
        elif open_pass is not None and kind == "reprise" and open_pass["paused_since"]:
            paused = int((at - open_pass["paused_since"]).total_seconds())
            open_pass["paused_seconds"] += max(paused, 0)
            day = dates.paris_date(at).toordinal()
            open_pass["clock_day"] += max(day - open_pass["paused_day"], 0)
            open_pass["paused_since"] = open_pass["paused_day"] = None
    for start in range(0, len(out), 2000):
        session.execute(sa.insert(StepPass), out[start : start + 2000])
    touch(session)
    return len(out)


# --- the cache ----------------------------------------------------------------------------------

T = TypeVar("T")
_figures = Cache("chiffres")


def _cached(
    session: Session, key: tuple[Any, ...], compute: Callable[[], T], token: str | None = None
) -> T:
    """`compute()` once per token of the figures and per Paris day, in this process (`token`:
    the figures' token, already read in this transaction)."""
    token = token or tokens(session).get(FIGURES_KEY)
    return _figures.get(key, None if token is None else (token, dates.today()), compute)


def scope_key(actor: Actor | None, engine: Engine) -> tuple[Any, ...]:
    """Whose projects: the visibility rule's condition itself (everyone's when it has none), so
    that two actors who see the same projects share the cache and a changed rule stales it."""
    visible = None if actor is None else visibility_clause(actor, engine)
    if visible is None:
        return ("tous",)
    try:
        return (str(visible.compile(compile_kwargs={"literal_binds": True})),)
    except Exception:  # a condition whose values cannot be written as literals
        assert actor is not None
        return (actor.role, actor.user_id, actor.regions)


def _scope(actor: Actor | None, engine: Engine) -> list[Any]:
    visible = None if actor is None else visibility_clause(actor, engine)
    return [] if visible is None else [visible]


# --- percentiles and durations ------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (the « inclusive » method): the median of
    1, 2, 3, 10 is 2.5, its 10th percentile 1.3."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Durations:
    """Finished passes of one state for one kind of project, in days."""

    n: int
    median: float | None
    p10: float | None
    p90: float | None


NO_DURATIONS = Durations(0, None, None, None)


def _durations(values: Sequence[float]) -> Durations:
    if not values:
        return NO_DURATIONS
    return Durations(
        len(values), percentile(values, 0.5), percentile(values, 0.1), percentile(values, 0.9)
    )


def step_durations(
    session: Session, *, engine: Engine, actor: Actor | None = None, token: str | None = None
) -> dict[tuple[str, str], Durations]:
    """(kind, state) → the durations of its finished passes, for the projects `actor` sees
    (all of them without an actor: what forecasts are built on; `token`: see `_cached`)."""

    def compute() -> dict[tuple[str, str], Durations]:
        # sqlmodel's exec() is typed for at most four columns; this query has five.
        rows = session.exec(
            select(  # type: ignore[call-overload]
                Project.kind,
                StepPass.state,
                StepPass.entered_at,
                StepPass.left_at,
                StepPass.paused_seconds,
            )
            .join(Project, col(Project.id) == col(StepPass.project_id))
            .where(col(StepPass.left_at).is_not(None), *_scope(actor, engine))
        ).all()
        values: dict[tuple[str, str], list[float]] = defaultdict(list)
        for kind, state, entered, left, paused in rows:
            assert left is not None
            seconds = (left - entered).total_seconds() - paused
            values[(kind, state)].append(max(seconds, 0.0) / 86400)
        return {key: _durations(v) for key, v in values.items()}

    return _cached(session, ("durees", *scope_key(actor, engine)), compute, token)


def target_days(months: int | None) -> int | None:
    return None if months is None else round(months * DAYS_PER_MONTH)


# --- the forecast -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What remains for a project at one state: the days of the current step (median, 10th and
    90th percentiles) and the days of the steps after it, and what they are built on."""

    current: tuple[int, int, int]
    rest: tuple[int, int, int]
    basis: Basis


def _is_step(state: StateDef) -> bool:
    """A step of the path, where a project is under way (not a final state)."""
    return state.step is not None and not state.final


def plan(
    definition: WorkflowDefinition, state: str, durations: dict[tuple[str, str], Durations]
) -> Plan | None:
    """None for a state that is no step (a final state)."""
    here = definition.state(state)
    if not _is_step(here):
        return None
    assert here.step is not None
    remaining = [s for s in definition.steps() if s.step is not None and s.step >= here.step]
    figures = [durations.get((definition.project_kind, s.key), NO_DURATIONS) for s in remaining]
    historical = all(f.n >= MIN_PASSES for f in figures)
    days: list[tuple[int, int, int]] = []
    for step, figure in zip(remaining, figures, strict=True):
        if historical:
            assert figure.median is not None and figure.p10 is not None and figure.p90 is not None
            days.append((round(figure.median), round(figure.p10), round(figure.p90)))
        else:
            target = target_days(step.target_months) or 0
            days.append((target, target, target))
    first, *after = days
    rest = tuple(sum(d[i] for d in after) for i in range(3))
    return Plan(first, (rest[0], rest[1], rest[2]), "historique" if historical else "cibles")


@dataclass(frozen=True)
class Forecast:
    label_on: date
    low: date
    high: date
    basis: Basis
    beyond_target: bool
    target_on: date | None


def _forecast(
    project_plan: Plan, clock_day: int, paused_day: int | None, today: int, target: date | None
) -> Forecast:
    # Days already spent in the step: today (or the day its suspension began) minus its clock.
    anchor = clock_day + (today - paused_day if paused_day is not None else 0)

    def at(i: int) -> date:
        return date.fromordinal(max(anchor + project_plan.current[i], today) + project_plan.rest[i])

    label_on = at(0)
    return Forecast(
        label_on=label_on,
        low=at(1),
        high=at(2),
        basis=project_plan.basis,
        beyond_target=target is not None and label_on > target,
        target_on=target,
    )


def forecasts(
    session: Session, *, engine: Engine, projects: Iterable[Project]
) -> dict[int, Forecast]:
    """The forecast of each project under way among `projects` (none for a closed one): two
    queries whatever their number (the cached durations, the open passes with the label date);
    none for closed projects only (the durations are not read: a transition to a final state
    has just made them stale)."""
    wanted = {
        p.id: p
        for p in projects
        if p.id is not None and _is_step(definition_of(engine, p).state(p.state))
    }
    if not wanted:
        return {}
    durations = step_durations(session, engine=engine)
    rows = session.exec(
        select(StepPass, col(Deadline.due_on))
        .outerjoin(
            Deadline,
            sa.and_(
                col(Deadline.project_id) == col(StepPass.project_id),
                col(Deadline.kind) == "label",
            ),
        )
        .where(col(StepPass.project_id).in_(list(wanted)), col(StepPass.left_at).is_(None))
    ).all()
    today = dates.today().toordinal()
    plans: dict[tuple[str, int, str], Plan | None] = {}
    result: dict[int, Forecast] = {}
    for step_pass, target in rows:
        project = wanted[step_pass.project_id]
        if step_pass.state != project.state:
            continue
        key = (project.workflow_key, project.workflow_version, project.state)
        if key not in plans:
            plans[key] = plan(definition_of(engine, project), project.state, durations)
        project_plan = plans[key]
        if project_plan is not None:
            result[step_pass.project_id] = _forecast(
                project_plan, step_pass.clock_day, step_pass.paused_day, today, target
            )
    return result


def forecast(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    open_pass: StepPass | None,
    target: date | None,
    token: str | None = None,
) -> Forecast | None:
    """The project's forecast from its open pass and target label date, already loaded
    (`projects.load_facts`); None in a final state. `token`: see `_cached`."""
    if open_pass is None or open_pass.state != project.state:
        return None
    definition = definition_of(engine, project)
    if not _is_step(definition.state(project.state)):
        return None  # a closed project: no figures to read (they change with every fact)
    durations = step_durations(session, engine=engine, token=token)
    project_plan = plan(definition, project.state, durations)
    if project_plan is None:
        return None
    today = dates.today().toordinal()
    return _forecast(project_plan, open_pass.clock_day, open_pass.paused_day, today, target)


def forecast_order(session: Session, *, engine: Engine, open_pass: Any = StepPass) -> Any:
    """SQL expression: the forecast label day (a day number) of the project whose open pass is
    joined as `open_pass` (an alias of `StepPass`), NULL for a closed project; the same
    arithmetic as `forecasts`."""
    durations = step_durations(session, engine=engine)
    today = dates.today().toordinal()
    branches_current: list[tuple[Any, int]] = []
    branches_rest: list[tuple[Any, int]] = []
    for definition in engine.all():
        for state in definition.states:
            project_plan = plan(definition, state.key, durations)
            if project_plan is None:
                continue
            where = sa.and_(
                col(Project.workflow_key) == definition.key,
                col(Project.workflow_version) == definition.version,
                col(Project.state) == state.key,
            )
            branches_current.append((where, project_plan.current[0]))
            branches_rest.append((where, project_plan.rest[0]))
    if not branches_current:
        return sa.null()
    anchor = open_pass.clock_day + sa.case(
        (open_pass.paused_day.is_(None), 0), else_=today - open_pass.paused_day
    )
    end_of_current = anchor + sa.case(*branches_current, else_=sa.null())
    return sa.case((end_of_current > today, end_of_current), else_=today) + sa.case(
        *branches_rest, else_=sa.null()
    )


def forecast_ids(session: Session, *, engine: Engine) -> list[int]:
    """Every project's id by forecast label date (soonest first, closed projects last, then by
    id): sorted once per token of the figures and per day, then read in slices."""

    def compute() -> list[int]:
        open_pass = aliased(StepPass)
        expected = forecast_order(session, engine=engine, open_pass=open_pass)
        return [
            i
            for i in session.exec(
                select(Project.id)
                .outerjoin(
                    open_pass,
                    sa.and_(
                        col(open_pass.project_id) == col(Project.id),
                        col(open_pass.left_at).is_(None),
                    ),
                )
                .order_by(expected.asc().nulls_last(), col(Project.id))
            ).all()
            if i is not None
        ]

    return _cached(session, ("ordre",), compute)


# --- the network's figures ----------------------------------------------------------------------


def outcomes(engine: Engine) -> dict[str, Outcome]:
    """Final state → what it means, read from the definitions: reached by the Bureau's
    granting or refusing actions, or otherwise (abandonment)."""
    result: dict[str, Outcome] = {}
    for definition in engine.all():
        decided = definition.roles.decision_outcomes
        for state in definition.states:
            if not state.final:
                continue
            reaching = {decided.get(a.key) for a in definition.actions if a.target == state.key}
            if "attribution" in reaching:
                result[state.key] = "label"
            elif "refus" in reaching:
                result[state.key] = "refus"
            else:
                result.setdefault(state.key, "abandon")
    return result


@dataclass(frozen=True)
class YearFigure:
    year: int
    kind: str
    labelled_total: int
    labelled_in_year: int
    in_progress: int


@dataclass(frozen=True)
class Cohort:
    year: int
    kind: str
    started: int
    in_progress: int
    labelled: int
    refused: int
    abandoned: int


@dataclass(frozen=True)
class FunnelStep:
    state: str
    label: str
    step: int | None
    reached: int
    by_kind: dict[str, int]


@dataclass(frozen=True)
class StepFigure:
    state: str
    label: str
    step: int
    kind: str
    n: int
    median_days: float | None
    p10_days: float | None
    p90_days: float | None
    target_days: int | None


@dataclass(frozen=True)
class Rates:
    closed: int
    abandoned: int
    refused: int
    labelled: int

    @property
    def abandon(self) -> float | None:
        return self.abandoned / self.closed if self.closed else None

    @property
    def refusal(self) -> float | None:
        return self.refused / self.closed if self.closed else None


@dataclass(frozen=True)
class NetworkFigures:
    # When they were computed is not part of what they are (the cache's check compares them).
    generated_at: datetime = field(compare=False)
    kinds: list[str]
    by_year: list[YearFigure]
    cohorts: list[Cohort]
    funnel: list[FunnelStep]
    steps: list[StepFigure]
    rates: Rates
    states: dict[str, Outcome] = field(default_factory=dict)


def _year(column: Any) -> Any:
    return sa.cast(sa.extract("year", column), sa.Integer)


def network(
    session: Session, *, engine: Engine, actor: Actor, token: str | None = None
) -> NetworkFigures:
    """The figures of the projects `actor` sees (the visibility rule): six grouped queries,
    cached until a project is created or moves (`token`: the figures' token, already read in
    this transaction)."""
    return _cached(
        session,
        ("reseau", *scope_key(actor, engine)),
        lambda: _network(session, engine=engine, actor=actor),
        token,
    )


def _network(session: Session, *, engine: Engine, actor: Actor) -> NetworkFigures:
    scope = _scope(actor, engine)
    finals = outcomes(engine)
    today = dates.today()
    by_project = col(Project.id) == col(StepPass.project_id)

    started: dict[tuple[str, int], int] = {}
    cohort_rows: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kind, year, state, count in session.exec(
        select(Project.kind, _year(Project.created_at), Project.state, func.count())
        .where(*scope)
        .group_by(col(Project.kind), _year(Project.created_at), col(Project.state))
    ).all():
        year = int(year)
        started[(kind, year)] = started.get((kind, year), 0) + int(count)
        cohort_rows[(year, kind)][finals.get(state, "en_cours")] += int(count)
    labelled: dict[tuple[str, int], int] = {
        (kind, int(year)): int(count)
        for kind, year, count in session.exec(
            select(Project.kind, _year(Project.label_date), func.count())
            .where(col(Project.label_date).is_not(None), *scope)
            .group_by(col(Project.kind), _year(Project.label_date))
        ).all()
    }
    closed: dict[tuple[str, int], int] = {
        (kind, int(year)): int(count)
        for kind, year, count in session.exec(
            select(Project.kind, _year(StepPass.entered_at), func.count())
            .join(Project, by_project)
            .where(col(StepPass.state).in_(list(finals)), *scope)
            .group_by(col(Project.kind), _year(StepPass.entered_at))
        ).all()
    }
    reached: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, state, count in session.exec(
        select(Project.kind, StepPass.state, func.count(sa.distinct(col(StepPass.project_id))))
        .join(Project, by_project)
        .where(*scope)
        .group_by(col(Project.kind), col(StepPass.state))
    ).all():
        reached[state][kind] = int(count)
    durations = step_durations(session, engine=engine, actor=actor)

    latest = engine.latest()
    kinds = sorted({d.project_kind for d in latest} | {k for k, _ in started})
    years = sorted({y for _, y in started} | {y for _, y in labelled} | {today.year})
    by_year = []
    for year in range(years[0], years[-1] + 1):
        for kind in kinds:

            def upto(counts: dict[tuple[str, int], int], kind: str = kind, year: int = year) -> int:
                return sum(n for (k, y), n in counts.items() if k == kind and y <= year)

            by_year.append(
                YearFigure(
                    year=year,
                    kind=kind,
                    labelled_total=upto(labelled),
                    labelled_in_year=labelled.get((kind, year), 0),
                    in_progress=upto(started) - upto(closed),
                )
            )
    cohorts = [
        Cohort(
            year=year,
            kind=kind,
            started=sum(counts.values()),
            in_progress=counts.get("en_cours", 0),
            labelled=counts.get("label", 0),
            refused=counts.get("refus", 0),
            abandoned=counts.get("abandon", 0),
        )
        for (year, kind), counts in sorted(cohort_rows.items())
    ]
    funnel: list[FunnelStep] = []
    seen: set[str] = set()
    step_states = sorted(
        {(s.step, s.key, s.label) for d in latest for s in d.steps() if s.step is not None}
    )
    labelled_states = sorted(
        {(s.key, s.label) for d in latest for s in d.states if finals.get(s.key) == "label"}
    )
    for number, key, label in [*step_states, *((None, k, lab) for k, lab in labelled_states)]:
        if key in seen:
            continue
        seen.add(key)
        counts = reached.get(key, {})
        funnel.append(FunnelStep(key, label, number, sum(counts.values()), dict(counts)))
    steps = [
        StepFigure(
            state=s.key,
            label=s.label,
            step=s.step,
            kind=d.project_kind,
            n=durations.get((d.project_kind, s.key), NO_DURATIONS).n,
            median_days=_round(durations.get((d.project_kind, s.key), NO_DURATIONS).median),
            p10_days=_round(durations.get((d.project_kind, s.key), NO_DURATIONS).p10),
            p90_days=_round(durations.get((d.project_kind, s.key), NO_DURATIONS).p90),
            target_days=target_days(s.target_months),
        )
        for d in sorted(latest, key=lambda d: d.project_kind)
        for s in d.steps()
        if s.step is not None
    ]
    totals: dict[str, int] = defaultdict(int)
    for counts in cohort_rows.values():
        for outcome, n in counts.items():
            totals[outcome] += n
    rates = Rates(
        closed=totals["label"] + totals["refus"] + totals["abandon"],
        abandoned=totals["abandon"],
        refused=totals["refus"],
        labelled=totals["label"],
    )
    return NetworkFigures(
        generated_at=dates.now(),
        kinds=kinds,
        by_year=by_year,
        cohorts=cohorts,
        funnel=funnel,
        steps=steps,
        rates=rates,
        states=finals,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
