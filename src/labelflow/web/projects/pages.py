"""Project pages: the home page of each role (the staff's pipeline), the workflow pages, the
project list and creation form, the project page and its history, transitions, suspension,
deadlines. Each calls the same service as the JSON API (`projects.api`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from labelflow import assignments, deadlines, pipeline, projects
from labelflow.errors import NotFound
from labelflow.models import Project
from labelflow.permissions import ASSIGNMENT_DECLARE, PIPELINE_READ, PROJECT_WRITE, allows
from labelflow.pipeline import ProjectFilters
from labelflow.schemas import ProjectListItem
from labelflow.web.account.present import abilities, home_link
from labelflow.web.bureau.present import agenda_page
from labelflow.web.deps import (
    MAX_ID,
    ActorDep,
    EngineDep,
    ListStateDep,
    PageViewDep,
    ProjectDep,
    SessionDep,
    SubId,
    permit,
    permit_on_project,
)
from labelflow.web.forms import (
    REFUSALS,
    CommentForm,
    DeadlineForm,
    FormState,
    ProjectForm,
    TransitionForm,
    refusal,
)
from labelflow.web.project_page import cached_project_page, show_project, submit
from labelflow.web.projects.history import history_page as history_context
from labelflow.web.projects.present import (
    criterion_label,
    dashboard,
    dashboard_context,
    figure_filter_labels,
    home_projects,
    list_item,
    role_home,
    single_project_home,
    staff_choices,
    staff_owner_filter,
    state_choices,
    state_label,
)
from labelflow.web.routing import PART_MARK, keep_shell, page_router, render, render_kept
from labelflow.web.templating import Drawings
from labelflow.workflow import Engine, mermaid

router = page_router()

PAGE_SIZE = 25
OVERDUE_CHOICES = {"oui": True, "non": False}


@router.get("/")
def home(request: Request, session: SessionDep, engine: EngineDep, actor: ActorDep) -> Response:
    """The home page of the signed-in role: the pipeline for staff, the agenda for the Bureau,
    else their own projects (a porteur's only project at once)."""
    if allows(actor, PIPELINE_READ):
        key, figures_page = dashboard(session, engine, actor)
        keep_shell(request, figures_page.shell)
        figures = figures_page.value
        technical = abilities(actor).get("technical", False)

        def draw() -> str:
            template = request.app.state.templates.env.get_template("_dashboard.html")
            context = dashboard_context(figures, actor)
            return str(template.render(**context, viewer_can={"technical": technical}))

        # The whole page drawn once per cached figures and shell; its content once per figures
        # (and rights), whoever's shell is around it.
        return render_kept(
            request,
            key,
            figures_page.tokens,
            "dashboard.html",
            lambda: {**dashboard_context(figures, actor), "content_html": PART_MARK},
            lambda: {PART_MARK: figures.drawings.get(technical, draw)},
        )
    if actor.role == "bureau":
        return render(request, "bureau_agenda.html", agenda_page(session, engine, actor))
    rows, total = home_projects(session, engine, actor)
    if single_project_home(actor, total):
        return show_project(request, session, engine, rows[0].project, at_home=True)
    context = role_home(engine, actor, rows, total)
    if allows(actor, ASSIGNMENT_DECLARE):
        context["pending_missions"] = assignments.count_pending_assignments(session, actor=actor)
    return render(request, "home.html", context)


@router.get("/workflows")
def workflows_page(request: Request, engine: EngineDep) -> Response:
    return render(
        request,
        "workflows.html",
        {
            "definitions": engine.latest(),
            "json_url": "/api/v1/workflows",
        },
    )


@router.get("/workflows/{key}")
def workflow_page(request: Request, key: str, engine: EngineDep) -> Response:
    try:
        definition = engine.definition(key)
    except KeyError:
        raise NotFound("Ce parcours est introuvable.") from None
    return render(
        request,
        "workflow.html",
        {
            "definition": definition,
            "mermaid": mermaid(definition),
            "criterion_label": criterion_label,
            "state_label": state_label,
            "json_url": f"/api/v1/workflows/{definition.key}",
        },
    )


@dataclass(frozen=True)
class ListPage:
    """One page of the list as cached: its items, their count, the staff accounts offered, and
    its table as drawn for each set of unread counts (a viewer's)."""

    items: list[ProjectListItem]
    total: int
    owner_choices: list[tuple[str, str]]
    tables: Drawings = field(default_factory=Drawings, repr=False)

    def ids(self) -> list[int]:
        return [item.id for item in self.items]

    def table(self, request: Request, unread: dict[int, int], **context: Any) -> str:
        def draw() -> str:
            template = request.app.state.templates.env.get_template("_project_table.html")
            return str(
                template.render(items=self.items, unread_messages_by_project=unread, **context)
            )

        return self.tables.get((tuple(sorted(unread.items())), *sorted(context.items())), draw)


@router.get("/projects")
async def project_list(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    read: ListStateDep,
    state: Annotated[str, Query(max_length=50)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    region: Annotated[str, Query(max_length=100)] = "",
    overdue: Annotated[str, Query(max_length=3)] = "",
    # Any length: a search too long for the list is answered on the list, not by an error page.
    q: str = "",
    page: Annotated[int, Query(ge=1, le=MAX_ID // PAGE_SIZE)] = 1,
    due_soon: Annotated[str, Query(max_length=3)] = "",
    suspended: Annotated[str, Query(max_length=3)] = "",
    staff_owner: Annotated[str, Query(max_length=12)] = "",
    reached: Annotated[str, Query(max_length=50)] = "",
    left: Annotated[str, Query(max_length=50)] = "",
    started: int | None = None,
    labelled_in: int | None = None,
    labelled_by: int | None = None,
    open_at: int | None = None,
    sort: Literal["recent", "prevision"] = "recent",
) -> Response:
    search_refused = len(q.strip()) > pipeline.SEARCH_MAX_LENGTH
    figure_years = {
        "started": started,
        "labelled_in": labelled_in,
        "labelled_by": labelled_by,
        "open_at": open_at,
    }
    owner_id = staff_owner_filter(actor, staff_owner)
    filters = ProjectFilters(
        state=state or None,
        kind=kind or None,
        region=region or None,
        overdue=OVERDUE_CHOICES.get(overdue),
        q=None if search_refused else q or None,
        due_soon=OVERDUE_CHOICES.get(due_soon),
        suspended=OVERDUE_CHOICES.get(suspended),
        staff_owner_id=owner_id,
        reached=reached or None,
        left=left or None,
        started=started,
        labelled_in=labelled_in,
        labelled_by=labelled_by,
        open_at=open_at,
    )
    offset = (page - 1) * PAGE_SIZE

    def listed() -> ListPage:
        rows, total = pipeline.list_projects(
            session,
            engine=engine,
            actor=actor,
            filters=filters,
            limit=PAGE_SIZE,
            offset=offset,
            sort=sort,
        )
        items = [list_item(engine, row) for row in rows]
        return ListPage(items, total, staff_choices(session, actor))

    # The same until a fact, the figures or the day change them; when cached, answered from
    # the event loop with what the identity's hop read (the tokens, the shell's counts and the
    # viewer's own: which of these threads they have not read), else drawn in the thread pool.
    key = ("liste-page", actor.is_staff, *pipeline.list_key(actor, engine, filters, sort, offset))
    query = request.scope["query_string"]
    kept = pipeline.kept_page(actor, query, key, read)
    page_read = (
        kept
        if kept is not None
        else await run_in_threadpool(
            lambda: pipeline.cached_page(
                session, key, listed, actor=actor, listed=ListPage.ids, state=read
            )
        )
    )
    keep_shell(request, page_read.shell)
    listing, unread = page_read.value, page_read.unread
    items, total = listing.items, listing.total
    pages = max(1, -(-total // PAGE_SIZE))

    def context() -> dict[str, Any]:
        params = {
            k: v
            for k, v in {
                "state": state,
                "kind": kind,
                "region": region,
                "overdue": overdue if overdue in OVERDUE_CHOICES else "",
                "q": q,
                "due_soon": due_soon if due_soon in OVERDUE_CHOICES else "",
                "suspended": suspended if suspended in OVERDUE_CHOICES else "",
                "staff_owner": staff_owner if owner_id is not None else "",
                "reached": reached,
                "left": left,
                **{name: str(value) for name, value in figure_years.items() if value is not None},
            }.items()
            if v
        }
        # The order is not a filter: kept in the pages' links and the JSON twin, not in `filtered`.
        order = {"sort": sort} if sort != "recent" else {}
        # The API's filters (its exports take the same, for every page at once).
        filter_params: dict[str, Any] = dict(params)
        if owner_id is not None:
            filter_params["staff_owner"] = owner_id
        if search_refused:
            del filter_params["q"]
        for flag in ("overdue", "due_soon", "suspended"):
            if flag in params:
                filter_params[flag] = "true" if OVERDUE_CHOICES[params[flag]] else "false"
        api_params: dict[str, Any] = {
            **filter_params,
            **order,
            "limit": PAGE_SIZE,
            "offset": offset,
        }

        def page_url(number: int) -> str:
            return "/projects?" + urlencode({**params, **order, "page": number})

        return {
            "items": items,
            "rows_html": PART_MARK,
            "total": total,
            "page": page,
            "pages": pages,
            "page_url": page_url,
            "filters": {
                "state": state,
                "kind": kind,
                "region": region,
                "overdue": overdue,
                "q": q,
                "due_soon": params.get("due_soon", ""),
                "suspended": params.get("suspended", ""),
                "staff_owner": params.get("staff_owner", ""),
                "reached": reached,
                "left": left,
                **{k: v for k, v in params.items() if k in figure_years},
            },
            "figure_filters": figure_filter_labels(engine, params),
            "sort": sort,
            "sort_urls": {
                name: "/projects?"
                + urlencode({**params, **({"sort": name} if name != "recent" else {})})
                for name in pipeline.SORTS
            },
            "filtered": bool(params),
            "search_error": (
                f"La recherche est limitée à {pipeline.SEARCH_MAX_LENGTH} caractères (la vôtre "
                f"en compte {len(q.strip())}) : raccourcissez-la. Les autres filtres sont "
                "appliqués."
                if search_refused
                else ""
            ),
            "state_choices": state_choices(engine),
            "owner_choices": listing.owner_choices,
            "json_url": "/api/v1/projects?" + urlencode(api_params),
            "export_query": urlencode({**filter_params, **order}),
        }

    # Drawn once per cached list, query and unread counts (and shell): `render_kept`.
    return render_kept(
        request,
        (key, request.scope["query_string"], tuple(sorted(unread.items()))),
        page_read.tokens,
        "projects.html",
        context,
        lambda: {PART_MARK: listing.table(request, unread, page=page, pages=pages, sort=sort)},
    )


@router.get("/projects/new", dependencies=[permit(PROJECT_WRITE)])
def new_project(request: Request) -> Response:
    return render(request, "project_new.html", {"form": FormState()})


@router.post("/projects", dependencies=[permit(PROJECT_WRITE)])
def create_project(
    request: Request,
    form: Annotated[ProjectForm, Form()],
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    try:
        project = projects.create_project(session, engine=engine, data=form.to_model(), actor=actor)
        session.flush()
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return render(request, "project_new.html", {"form": state}, state.status)
    return RedirectResponse(f"/projects/{project.id}", status_code=303)


@router.get("/projects/{project_id}")
async def project_page(
    request: Request, project: ProjectDep, view: PageViewDep, session: SessionDep, engine: EngineDep
) -> Response:
    # Async, as the project JSON (its project and view read with the identity): the page from
    # its cached part here, else drawn in the thread pool.
    page = cached_project_page(request, project, view)
    if page is None:
        page = await run_in_threadpool(show_project, request, session, engine, project, state=view)
    return page


@router.get("/projects/{project_id}/history")
def history_page(
    request: Request, project: ProjectDep, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> Response:
    context = history_context(session, engine, project, actor)
    nav, crumb_href, crumb_label = home_link(actor)
    context.update(
        nav=nav,
        crumb_href=crumb_href,
        crumb_label=crumb_label,
        json_url=f"/api/v1/projects/{project.id}/events",
    )
    return render(request, "history.html", context)


@router.post("/projects/{project_id}/transitions", dependencies=[permit_on_project(PROJECT_WRITE)])
def post_transition(
    request: Request,
    form: Annotated[TransitionForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        data = form.to_model()
        return projects.transition(
            session,
            engine=engine,
            project=project,
            action=data.action,
            comment=data.comment,
            actor=actor,
            if_match=form.if_match(),
        )

    ask_first, names = _transition_confirmation(engine, project, form.action)
    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"action-{form.action}",
        form=form,
        anchor="actions",
        call=call,
        done="etape",
        ask_first=ask_first,
        names=names,
    )


def _transition_confirmation(
    engine: Engine, project: Project, action: str
) -> tuple[str, dict[str, str]]:
    """Every step change asks first, naming where the project goes (an unknown action is
    refused by the service, without asking)."""
    definition = projects.definition_of(engine, project)
    action_def = definition.action(action)
    if action_def is None:
        return "", {}
    target = action_def.target
    key = "closing" if definition.is_final(target) else "transition"
    return key, {"action": action_def.label, "target": state_label(definition, target)}


def _suspension(
    request: Request,
    form: CommentForm,
    project: Project,
    session: Session,
    engine: Engine,
    actor: Any,
    *,
    suspend: bool,
) -> Response:
    def call() -> Any:
        return projects.set_suspended(
            session,
            project=project,
            suspend=suspend,
            comment=form.comment,
            actor=actor,
            engine=engine,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name="suspension",
        form=form,
        anchor="suspension",
        call=call,
        done="suspendu" if suspend else "repris",
    )


@router.post("/projects/{project_id}/suspend", dependencies=[permit_on_project(PROJECT_WRITE)])
def suspend(
    request: Request,
    form: Annotated[CommentForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _suspension(request, form, project, session, engine, actor, suspend=True)


@router.post("/projects/{project_id}/resume", dependencies=[permit_on_project(PROJECT_WRITE)])
def resume(
    request: Request,
    form: Annotated[CommentForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    return _suspension(request, form, project, session, engine, actor, suspend=False)


@router.post(
    "/projects/{project_id}/deadlines/{deadline_id}",
    dependencies=[permit_on_project(PROJECT_WRITE)],
)
def move_deadline(
    request: Request,
    deadline_id: SubId,
    form: Annotated[DeadlineForm, Form()],
    project: ProjectDep,
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
) -> Response:
    def call() -> Any:
        deadlines.move_deadline(
            session,
            engine=engine,
            project=project,
            deadline_id=deadline_id,
            data=form.to_model(),
            actor=actor,
            if_match=form.if_match(),
        )

    return submit(
        request,
        session,
        engine,
        project,
        form_name=f"deadline-{deadline_id}",
        form=form,
        anchor="echeances",
        call=call,
        done="echeance_deplacee",
    )
