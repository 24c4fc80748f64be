"""The project list and the staff dashboard: which projects a user finds, and how many are at
each step, overdue or due soon."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from labelflow import dates, deadlines, messages, project_view, stats
from labelflow.actors import Actor
from labelflow.cache import Cache
from labelflow.errors import Invalid
from labelflow.events import Fact
from labelflow.models import Deadline, FiguresVersion, Project, ProjectMember, StepPass, User
from labelflow.project_view import ShellCounts
from labelflow.projects import KIND_LABELS, fold, visibility_clause
from labelflow.workflow import Engine

# The longest `q` searched for (the API refuses longer; the list page says so).
SEARCH_MAX_LENGTH = 200
SEARCH_TEXT_LENGTH = 2000


@dataclass
class ProjectFilters:
    state: str | None = None
    kind: str | None = None
    region: str | None = None
    overdue: bool | None = None
    q: str | None = None
    due_soon: bool | None = None
    suspended: bool | None = None
    staff_owner_id: int | None = None
    # The lists behind « État du réseau »'s figures: projects that entered a state at least once
    # (`reached`), or left it (`left`: the passes of a step's durations), started in a year,
    # labelled in a year or by its end, under way at the end of a year.
    reached: str | None = None
    left: str | None = None
    started: int | None = None
    labelled_in: int | None = None
    labelled_by: int | None = None
    open_at: int | None = None


# The years the figures' filters accept.
FIRST_YEAR, LAST_YEAR = 1990, 2200


# How the list may be ordered: newest first (the default), or by forecast label date (soonest
# first, closed projects last).
SORTS = ("recent", "prevision")


@dataclass
class ProjectRow:
    """One line of the list: the project, whether it is late, its chargé·e de suivi and its
    forecast."""

    project: Project
    overdue: bool
    staff_owner: User | None
    forecast: stats.Forecast | None = None


# --- the search text: what `q` finds ---------------------------------------------------------


def search_text(session: Session, *, project: Project) -> str:
    """Folded name, communes (names and INSEE codes), association name, the porteurs linked to
    the project and its chargé·e de suivi: what the list's search finds a project by."""
    porteurs = session.exec(
        select(User.name)
        .join(ProjectMember, col(ProjectMember.user_id) == col(User.id))
        .where(ProjectMember.project_id == project.id)
        .order_by(col(ProjectMember.id))
    ).all()
    owner = session.get(User, project.staff_owner_id) if project.staff_owner_id else None
    parts = [
        project.name,
        *(c["name"] for c in project.communes),
        *(c["insee"] for c in project.communes),
        project.association_name or "",
        *porteurs,
        owner.name if owner is not None else "",
    ]
    return fold(" ".join(p for p in parts if p))[:SEARCH_TEXT_LENGTH]


def refresh_search_text(session: Session, *, project: Project) -> None:
    # Derived data: written without moving the project's version (no one's edit is stale).
    text = search_text(session, project=project)
    if text != project.search_text:
        project.search_text = text
        session.add(project)
        session.flush()


def on_project_fact(fact: Fact) -> None:
    """A project created or changed, a porteur linked or unlinked: its search text follows."""
    if fact.project is not None:
        refresh_search_text(fact.session, project=fact.project)


def on_account_changed(fact: Fact) -> None:
    """A renamed account: the projects it is a porteur of, or follows, are found by its new name."""
    data = fact.event.data or {}
    if data.get("op") != "modification" or "name" not in (data.get("fields") or []):
        return
    user_id = data.get("user_id")
    member_of = select(ProjectMember.project_id).where(ProjectMember.user_id == user_id)
    for project in fact.session.exec(
        select(Project).where(
            sa.or_(col(Project.staff_owner_id) == user_id, col(Project.id).in_(member_of))
        )
    ):
        refresh_search_text(fact.session, project=project)


# --- the cache of the lists and the dashboard ---------------------------------------------------

# The token of `figures_versions` that every fact changes: what the list and the dashboard show
# follows a project's row (its version moves with nearly every fact), its deadlines, its
# messages and the names of its people, so any fact may change it.
LISTS_KEY = "projets"
T = TypeVar("T")
_lists = Cache("listes")


def on_fact(fact: Fact) -> None:
    """Any fact: the lists and the dashboard cached by every process are stale once it commits."""
    stats.touch(fact.session, LISTS_KEY)


def cached(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()` once per token of the lists, of the figures (the forecasts shown) and per
    Paris day (overdue, due soon), in this process: one statement when cached."""
    found = stats.tokens(session)
    lists = found.get(LISTS_KEY)
    tokens = None if lists is None else (lists, found.get(stats.FIGURES_KEY), dates.today())
    return _lists.get(key, tokens, compute)


@dataclass(frozen=True)
class PageState:
    """What a page of the lists or of the figures reads besides its cached value, in one
    statement: the tokens of the lists and of the figures, its shell's counts and (a list) the
    viewer's unread count of each project listed (those with none left out)."""

    lists: str | None
    figures: str | None
    shell: ShellCounts
    unread: dict[int, int]
    # `list_state`: the kept value whose projects' unread counts these are, and its key.
    listed: Any = None
    listed_key: Hashable = None

    @property
    def lists_tokens(self) -> tuple[Hashable, ...] | None:
        """What `cached` keeps the lists under (None: nothing to be invalidated by)."""
        return None if self.lists is None else (self.lists, self.figures, dates.today())


def page_state(
    session: Session, *, actor: Actor, project_ids: Sequence[int] | None = None
) -> PageState:
    """The page's tokens, its shell's counts and the unread counts of `project_ids` (None: not
    a list): one statement, built once per role."""
    audiences = project_view.reader_audiences(actor)
    listed = project_ids is not None and bool(audiences)
    parameters: dict[str, Any] = {"user_id": actor.user_id or 0}
    slots = 0
    if listed:
        ids = list(project_ids or ())
        slots = messages.listed_slots(len(ids))
        parameters.update(messages.listed_parameters(ids))
    # Through the connection: a Core statement, without the ORM's execution.
    query = _page_query(actor.role, audiences, slots)
    rows = session.connection().execute(query, parameters).all()
    lists, figures, bell, unread_total = rows[0][:4]
    unread = {int(r[4]): int(r[5]) for r in rows if r[4] is not None} if listed else {}
    shell = project_view.shell_of(audiences, (bell, unread_total))
    return PageState(lists, figures, shell, unread)


@functools.lru_cache(maxsize=32)
def _page_query(role: str, audiences: tuple[str, ...], slots: int) -> Any:
    """`page_state`'s statement: one row of tokens and shell counts, joined (a list: `slots`
    projects listed) to their unread counts, one row each (the first row's part only when
    none)."""

    def token(key: str) -> Any:
        return select(FiguresVersion.token).where(col(FiguresVersion.key) == key)

    columns = (
        token(LISTS_KEY).scalar_subquery().label("lists"),
        token(stats.FIGURES_KEY).scalar_subquery().label("figures"),
        *project_view.shell_columns(role, audiences),
    )
    if not slots:
        return sa.select(*columns)
    page = sa.select(*columns).subquery("page")
    unread = messages.unread_counts_query(audiences, slots).subquery("unread")
    return sa.select(page, unread.c.project_id, unread.c.unread).select_from(
        page.outerjoin(unread, sa.true())
    )


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page's cached value with what `page_state` read beside it, and the tokens the value
    is kept under (None: not kept)."""

    value: T
    shell: ShellCounts
    unread: dict[int, int]
    tokens: Hashable | None


def cached_page(
    session: Session,
    key: Hashable,
    compute: Callable[[], T],
    *,
    actor: Actor,
    listed: Callable[[T], Sequence[int]] | None = None,
    state: PageState | None = None,
) -> Page[T]:
    """`cached` for a page, in one statement when cached: the tokens, the shell's counts and
    (`listed`: the ids of the projects a value lists) the viewer's unread count of each, read
    for the value kept under `key`, which a hit answers; a miss reads its own unread counts.
    `state`: that statement as `list_state` read it already (for another kept value, maybe)."""
    kept = _lists.peek(key)
    if state is None or state.listed is not kept:
        ids = None if listed is None else ([] if kept is None else listed(kept))
        state = page_state(session, actor=actor, project_ids=ids)
    tokens = state.lists_tokens
    value = _lists.get(key, tokens, compute)
    unread = state.unread
    if listed is not None and value is not kept:
        unread = messages.unread_counts(session, project_ids=listed(value), actor=actor)
    return Page(value, state.shell, unread, tokens)


# The list page's cache key that a viewer's query string gave last: `list_state` reads the
# unread counts of the page kept under it with the tokens, in the identity's thread-pool hop,
# and a kept page is answered from the event loop (`kept_page`): one hop instead of two.
_list_queries = Cache("requêtes des listes", size=1024)


def _query_key(actor: Actor, query: bytes) -> Hashable:
    return (actor.user_id, actor.role, query)


def list_state(
    session: Session, *, actor: Actor, query: bytes, listed: Callable[[Any], Sequence[int]]
) -> PageState:
    """`page_state` for the list page that `query` gave this viewer last (if still kept), read
    before its handler has parsed the query."""
    key = _list_queries.peek(_query_key(actor, query))
    kept = None if key is None else _lists.peek(key)
    state = page_state(session, actor=actor, project_ids=[] if kept is None else listed(kept))
    return replace(state, listed=kept, listed_key=key)


def kept_page(actor: Actor, query: bytes, key: Hashable, state: PageState) -> Page[Any] | None:
    """The page kept under `key` when `state` (`list_state`) read its unread counts and its
    tokens are still those it is kept under; None: `cached_page` in the thread pool. The
    query's key is remembered for the next `list_state`."""
    if state.listed_key != key:
        # Kept under the key itself as its token: a query that gives another key replaces it.
        _list_queries.get(_query_key(actor, query), key, lambda: key)
        return None
    tokens = state.lists_tokens
    value = _lists.hit(key, tokens)
    if value is None or value is not state.listed:
        return None
    return Page(value, state.shell, state.unread, tokens)


def list_key(
    actor: Actor, engine: Engine, filters: ProjectFilters, *parameters: Hashable
) -> tuple[Hashable, ...]:
    """The cache key of one page of the list: whose projects (the visibility rule), the filters
    and the page's order and bounds."""
    # The filters' values in their order (all plain values: `astuple`'s deep copy is 10 µs).
    return (*stats.scope_key(actor, engine), tuple(vars(filters).values()), *parameters)


# --- the list ----------------------------------------------------------------------------------


def known_regions(session: Session) -> list[str]:
    """The régions projects are in, as they are written (what a regional account names)."""
    return sorted(session.exec(select(Project.region).distinct()).all())


def filter_conditions(
    session: Session, *, engine: Engine, actor: Actor, filters: ProjectFilters, today: date
) -> list[Any]:
    """The SQL conditions on Project for the projects `actor` may see (the visibility rule)
    that match `filters`: the list, its count and its exports select the same projects."""
    overdue = deadlines.overdue_clause(today)
    conditions: list[Any] = []
    visible = visibility_clause(actor, engine)
    if visible is not None:
        conditions.append(visible)
    # PostgreSQL refuses NUL characters in text parameters (a 500): no stored value has one.
    state, kind, region, q = (
        (v or "").replace("\x00", "")
        for v in (filters.state, filters.kind, filters.region, filters.q)
    )
    if state:
        conditions.append(col(Project.state) == state)
    if kind:
        conditions.append(col(Project.kind) == kind)
    if region.strip():
        # Compared folded in Python: SQLite's lower() ignores accents ("Île-de-France").
        wanted = fold(region.strip())
        regions = [r for r in session.exec(select(Project.region).distinct()) if fold(r) == wanted]
        conditions.append(col(Project.region).in_(regions))
    if filters.overdue is not None:
        conditions.append(overdue if filters.overdue else sa.not_(overdue))
    if filters.due_soon is not None:
        soon = deadlines.due_soon_clause(today)
        conditions.append(soon if filters.due_soon else sa.not_(soon))
    if filters.suspended is not None:
        conditions.append(col(Project.suspended).is_(filters.suspended))
    if filters.staff_owner_id is not None:
        conditions.append(col(Project.staff_owner_id) == filters.staff_owner_id)
    conditions.extend(_figures_conditions(engine, filters))
    if q.strip():
        escaped = fold(q.strip()).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(col(Project.search_text).like(f"%{escaped}%", escape="\\"))
    return conditions


def filter_problems(engine: Engine, filters: ProjectFilters) -> list[dict[str, str]]:
    """What is wrong with `filters` (`{field, message}`; none: they can be applied): a state or
    a kind no definition knows."""
    problems = []
    known = engine.state_keys()
    if filters.state and filters.state not in known:
        message = f"État inconnu « {filters.state} » (états connus : {', '.join(sorted(known))})."
        problems.append({"field": "state", "message": message})
    if filters.kind and filters.kind not in KIND_LABELS:
        names = ", ".join(f"« {k} » ({label})" for k, label in KIND_LABELS.items())
        problems.append({"field": "kind", "message": f"Choisissez parmi : {names}."})
    return problems


def ordered(session: Session, *, engine: Engine, query: Any, sort: str) -> Any:
    """`query` (on Project) in the list's order: newest first, or by forecast label date."""
    if sort == "prevision":
        # Aliased: the filters' subqueries on the passes stay correlated to projects only.
        open_pass = aliased(StepPass)
        expected = stats.forecast_order(session, engine=engine, open_pass=open_pass)
        return query.outerjoin(
            open_pass,
            sa.and_(col(open_pass.project_id) == col(Project.id), col(open_pass.left_at).is_(None)),
        ).order_by(expected.asc().nulls_last(), col(Project.id))
    return query.order_by(col(Project.created_at).desc(), col(Project.id).desc())


def list_projects(
    session: Session,
    *,
    engine: Engine,
    actor: Actor,
    filters: ProjectFilters,
    limit: int,
    offset: int,
    sort: str = "recent",
) -> tuple[list[ProjectRow], int]:
    """One page of the projects `actor` may see (newest first, or by forecast) with their
    overdue flag and chargé·e de suivi (in the same query), their forecasts, and the total."""
    today = dates.today()
    overdue = deadlines.overdue_clause(today)
    conditions = filter_conditions(
        session, engine=engine, actor=actor, filters=filters, today=today
    )
    total = session.exec(select(func.count()).select_from(Project).where(*conditions)).one()
    # The page's ids first (only the order's columns are sorted), then its rows with their
    # overdue flag: computed for the rows shown, not for every project the order compares.
    if sort == "prevision" and not conditions:
        # Every project, by forecast: a slice of the order sorted once (until the figures move).
        ids = stats.forecast_ids(session, engine=engine)[offset : offset + limit]
    else:
        page = ordered(
            session, engine=engine, query=select(Project.id).where(*conditions), sort=sort
        )
        ids = [int(i) for i in session.exec(page.limit(limit).offset(offset)).all()]
    owner = aliased(User)
    found = session.exec(
        select(Project, overdue.label("overdue"), owner)
        .outerjoin(owner, col(owner.id) == col(Project.staff_owner_id))
        .where(col(Project.id).in_(ids))
    ).all()
    position = {pid: n for n, pid in enumerate(ids)}
    rows = sorted(found, key=lambda row: position[row[0].id or 0])
    expected_on = stats.forecasts(session, engine=engine, projects=[p for p, _, _ in rows])
    return [ProjectRow(p, bool(o), u, expected_on.get(p.id or 0)) for p, o, u in rows], int(total)


def _year_start(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


def _figures_conditions(engine: Engine, filters: ProjectFilters) -> list[Any]:
    """The conditions of the figures' filters, with the same year bounds as `stats.network`."""
    conditions: list[Any] = []
    for name in ("started", "labelled_in", "labelled_by", "open_at"):
        year = getattr(filters, name)
        if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
            raise Invalid(
                f"L'année doit être comprise entre {FIRST_YEAR} et {LAST_YEAR}.", field=name
            )
    known = {s.key for d in engine.all() for s in d.states}
    for name in ("reached", "left"):
        state = getattr(filters, name)
        if not state:
            continue
        if state not in known:
            raise Invalid(
                f"État inconnu « {state} » (états connus : {', '.join(sorted(known))}).",
                field=name,
            )
        passes = select(StepPass.id).where(
            StepPass.project_id == Project.id, StepPass.state == state
        )
        if name == "left":
            passes = passes.where(col(StepPass.left_at).is_not(None))
        conditions.append(passes.exists())
    if filters.started is not None:
        conditions.append(col(Project.created_at) >= _year_start(filters.started))
        conditions.append(col(Project.created_at) < _year_start(filters.started + 1))
    if filters.labelled_in is not None:
        conditions.append(col(Project.label_date) >= date(filters.labelled_in, 1, 1))
        conditions.append(col(Project.label_date) <= date(filters.labelled_in, 12, 31))
    if filters.labelled_by is not None:
        conditions.append(col(Project.label_date) <= date(filters.labelled_by, 12, 31))
    if filters.open_at is not None:
        end = _year_start(filters.open_at + 1)
        closed = (
            select(StepPass.id)
            .where(
                StepPass.project_id == Project.id,
                col(StepPass.state).in_(list(stats.outcomes(engine))),
                col(StepPass.entered_at) < end,
            )
            .exists()
        )
        conditions.append(col(Project.created_at) < end)
        conditions.append(sa.not_(closed))
    return conditions


# --- the dashboard ----------------------------------------------------------------------------

PIPELINE_LIST_SIZE = 10


@dataclass
class StateCount:
    """Projects at one step (or in one final state), both kinds and per kind."""

    state: str
    label: str
    step: int | None
    quartier: int = 0
    territoire: int = 0

    @property
    def total(self) -> int:
        return self.quartier + self.territoire


@dataclass
class DueProject:
    id: int
    name: str
    kind: str
    state: str
    state_label: str
    step: int | None
    due_on: date


@dataclass
class Pipeline:
    today: date
    steps: list[StateCount]
    finals: list[StateCount]
    suspended: int
    overdue: int
    due_soon: int
    overdue_projects: list[DueProject]
    due_soon_projects: list[DueProject]
    # The setting at the time of the call (not of the import).
    due_soon_days: int = field(default_factory=lambda: deadlines.DUE_SOON_DAYS)

    @property
    def running(self) -> int:
        return sum(s.total for s in self.steps)

    @property
    def total(self) -> int:
        return self.running + sum(s.total for s in self.finals)


def _pipeline_buckets(engine: Engine) -> tuple[dict[int, StateCount], dict[str, StateCount]]:
    """Empty counters: the steps and final states of the latest definitions, in their order."""
    steps: dict[int, StateCount] = {}
    finals: dict[str, StateCount] = {}
    for definition in engine.latest():
        for state in definition.states:
            if state.final:
                finals.setdefault(state.key, StateCount(state.key, state.label, None))
            elif state.step is not None:
                steps.setdefault(state.step, StateCount(state.key, state.label, state.step))
    return dict(sorted(steps.items())), finals


def _due_projects(
    session: Session, engine: Engine, clause: Any, *, limit: int, visible: Any
) -> list[DueProject]:
    """The first `limit` projects matching `clause`, by their earliest open due date."""
    # Aliased: `clause` has its own subqueries on deadlines, correlated to projects only.
    deadline = aliased(Deadline)
    due = func.min(deadline.due_on).label("due_on")
    # Only the columns shown are grouped and sorted, not every matching project's whole row.
    shown = (
        col(Project.id),
        col(Project.name),
        col(Project.kind),
        col(Project.state),
        col(Project.workflow_key),
        col(Project.workflow_version),
    )
    # sqlmodel's exec() is typed for at most four columns; this query has seven.
    rows = session.exec(
        select(*shown, due)  # type: ignore[call-overload]
        .join(deadline, col(deadline.project_id) == col(Project.id))
        .where(col(deadline.closed_on).is_(None), clause, *visible)
        # The other columns depend on the primary key (accepted by SQLite and PostgreSQL).
        .group_by(col(Project.id))
        .order_by(due, col(Project.id))
        .limit(limit)
    ).all()
    result = []
    for pid, name, kind, state_key, key, version, due_on in rows:
        state = engine.definition(key, version).state(state_key)
        result.append(DueProject(pid, name, kind, state_key, state.label, state.step, due_on))
    return result


def dashboard(session: Session, *, engine: Engine, today: date, actor: Actor) -> Pipeline:
    """Projects per step, per final state, suspended, overdue and due soon, among the projects
    `actor` sees (a regional team: its régions): three queries.

    Overdue and due soon use the same SQL conditions as the list filters, so each number
    equals the length of the list it links to.
    """
    clause = visibility_clause(actor, engine)
    visible = [] if clause is None else [clause]
    overdue = deadlines.overdue_clause(today)
    soon = deadlines.due_soon_clause(today)

    def flagged(condition: Any) -> Any:
        return func.sum(sa.case((condition, 1), else_=0))

    # Grouped by definition version too: a state is placed by the definition its projects follow.
    group = (
        col(Project.kind),
        col(Project.workflow_key),
        col(Project.workflow_version),
        col(Project.state),
    )
    # sqlmodel's exec() is typed for at most four columns; this query has eight.
    rows = session.exec(  # type: ignore[call-overload]
        select(*group)
        .add_columns(func.count(), flagged(col(Project.suspended)), flagged(overdue), flagged(soon))
        .where(*visible)
        .group_by(*group)
    ).all()
    steps, finals = _pipeline_buckets(engine)
    suspended = late = due_soon = 0
    for kind, key, version, state, count, n_suspended, n_late, n_soon in rows:
        state_def = engine.definition(key, version).state(state)
        if state_def.final:
            bucket = finals.setdefault(state, StateCount(state, state_def.label, None))
        else:
            number = state_def.step or 0
            bucket = steps.setdefault(number, StateCount(state, state_def.label, number))
        if kind == "territoire":
            bucket.territoire += int(count)
        else:
            bucket.quartier += int(count)
        suspended += int(n_suspended or 0)
        late += int(n_late or 0)
        due_soon += int(n_soon or 0)
    return Pipeline(
        today=today,
        steps=list(steps.values()),
        finals=list(finals.values()),
        suspended=suspended,
        overdue=late,
        due_soon=due_soon,
        overdue_projects=_due_projects(
            session, engine, overdue, limit=PIPELINE_LIST_SIZE, visible=visible
        ),
        due_soon_projects=_due_projects(
            session, engine, soon, limit=PIPELINE_LIST_SIZE, visible=visible
        ),
    )
