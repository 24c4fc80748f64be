"""Request dependencies: the database session, the actor, and the objects a URL names, loaded
or 404 under the visibility rule (project, document, assignment)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from labelflow import accounts, assignments, documents, pipeline, runtime
from labelflow.actors import Actor
from labelflow.db import read_engine, transaction, write_engine
from labelflow.errors import CsrfRejected, NotFound, Unauthenticated, UnknownFilter
from labelflow.models import ApiToken, ConsultantAssignment, Document, Project, User, WebSession
from labelflow.permissions import require, require_messages
from labelflow.pipeline import ProjectFilters
from labelflow.project_view import ViewState, visible_view
from labelflow.projects import visible_project
from labelflow.settings import Settings
from labelflow.storage import Storage
from labelflow.workflow import Engine

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ID = 2**31 - 1


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent.

    Async, so that opening and closing it costs no thread-pool hop (a sync generator costs two,
    about 0.2 ms of server CPU served): a session connects at its first query, which runs in
    the sync dependency or handler that makes it. A write's commit goes to the thread pool (on
    SQLite it waits for the disk); a read's commit ends a read transaction, at once (on
    PostgreSQL a read runs in autocommit, without one: `db.read_engine`).
    """
    write = request.method not in READ_METHODS
    miss: KeptMiss | None = getattr(request.state, "kept_miss", None)
    with miss.session if miss is not None else request_session(request, write=write) as session:
        try:
            yield session
            if write and session.get_bind() is not session.info[READ_BIND]:
                await run_in_threadpool(session.commit)
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise


def request_session(request: Request, *, write: bool) -> Session:
    """A request's session: on the write engine for a write (SQLite's lock taken at BEGIN),
    else on the read engine; the read engine kept for `commit_writes`."""
    db = request.app.state.db
    reads = read_engine(db)
    session = Session(write_engine(db) if write else reads, expire_on_commit=False)
    runtime.attach(session, request.app.state.runtime)
    session.info[READ_BIND] = reads
    return session


@dataclass
class KeptMiss:
    """What `kept.KeptReads` read before it found the answer not kept: the route goes on with
    it (this session, in the same read transaction; this identity; the project and its view on
    the request) instead of reading it all again."""

    session: Session
    identity: Identity


def hand_over(
    request: Request, session: Session, identity: Identity, project: Project, view: ViewState
) -> None:
    request.state.kept_miss = KeptMiss(session, identity)
    request.state.project, request.state.view = project, view


# scope="function": the commit runs before the response, so a failed commit is an error.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
READ_BIND = "labelflow_read_bind"


def commit_writes(session: Session) -> None:
    """Commit a write request's changes now, before its answer is built: the answer's reads
    run in a read transaction of their own, without holding SQLite's write lock (or
    PostgreSQL's row locks) while the answer is composed; the other writers wait that much
    less. A failed commit still fails the request."""
    session.commit()
    session.bind = session.info[READ_BIND]


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.workflows
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

SESSION_COOKIE = "labelflow_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass
class Identity:
    """Who signs the request. `user` and `web_session` are snapshots of their rows, not attached
    to the request's session (made without the ORM: `accounts.find_token`): a route that changes
    the account loads its row (`session.get`)."""

    user: User
    via: str  # "session" (web pages) or "token" (API)
    web_session: WebSession | None = None

    @functools.cached_property
    def actor(self) -> Actor:
        return accounts.actor_of(self.user)


def _touch_later(request: Request, session: Session, touch: Callable[[Session], None]) -> None:
    """Record activity: inside a write request's transaction, else in a short one of its own
    (a read request must not take SQLite's write lock for its whole duration)."""
    if request.method in READ_METHODS:
        with transaction(request.app.state.db) as own:
            touch(own)
    else:
        touch(session)


def _presented(request: Request) -> tuple[type[ApiToken] | type[WebSession], str] | None:
    """What the request presents to be signed: its bearer token (an Authorization header
    decides alone), else its session cookie; None: nothing. A malformed header is refused."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, raw = auth.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthenticated("En-tête Authorization invalide : utilisez « Bearer <jeton> ».")
        return ApiToken, raw.strip()
    raw_cookie = request.cookies.get(SESSION_COOKIE)
    return (WebSession, raw_cookie) if raw_cookie else None


def known_signer(request: Request) -> accounts.KnownSecret | None:
    """What signs the request (`_presented`) if this process has read it valid before, to be
    checked again in the answer's statement (`project_view.signed_visible_view`); else None
    (`resolve_identity` decides)."""
    try:
        presented = _presented(request)
    except Unauthenticated:
        return None
    return None if presented is None else accounts.known_secret(*presented)


def identity_of(known: accounts.KnownSecret) -> Identity:
    if isinstance(known.record, WebSession):
        return Identity(known.user, "session", known.record)
    return Identity(known.user, "token")


def resolve_identity(request: Request, session: Session, settings: Settings) -> Identity | None:
    presented = _presented(request)
    if presented is None:
        return None
    model, raw = presented
    if model is ApiToken:
        found = accounts.find_token(session, raw_token=raw)
        if found is None:
            raise Unauthenticated("Ce jeton d'API est invalide ou a été révoqué.")
        user, token = found
        if accounts.token_needs_touch(token):
            token_id = token.id or 0
            _touch_later(request, session, lambda s: accounts.touch_token(s, token_id=token_id))
        return Identity(user, "token")
    found_session = accounts.find_session(session, raw_token=raw, settings=settings)
    if found_session is not None:
        user, record = found_session
        if accounts.session_needs_touch(record):
            sid = record.id or 0
            _touch_later(request, session, lambda s: accounts.touch_session(s, session_id=sid))
        return Identity(user, "session", record)
    return None


def current_identity(request: Request, session: SessionDep) -> Identity:
    """Who signs the request (401, and the API's anti-forgery check) and, in the same sync
    call, what its route reads before its handler (`_load_named`): every thread-pool hop costs
    the served process about 0.2 ms of CPU, so a request's loading is one. The JSON and page
    routers' dependency (routing.py), shared with the handlers that ask for the identity.
    (The settings and the workflows taken from the app, not as dependencies: FastAPI walks
    this one's dependencies again for each that asks for the identity, several per route.)"""
    miss: KeptMiss | None = getattr(request.state, "kept_miss", None)
    if miss is not None and miss.session is session:
        return miss.identity  # resolved and kept, the project and its view loaded (kept.py)
    state = request.app.state
    settings: Settings = state.settings
    engine: Engine = state.workflows
    identity = resolve_identity(request, session, settings)
    if identity is None:
        raise Unauthenticated("Vous devez vous connecter.")
    if (
        identity.web_session is not None
        and request.method not in READ_METHODS
        and request.url.path.startswith("/api/")
        and not accounts.csrf_matches(
            identity.web_session.csrf_token, request.headers.get(CSRF_HEADER)
        )
    ):
        # A browser session calling the API must prove it is our page (forms send a field).
        raise CsrfRejected("Jeton anti-falsification absent ou invalide (en-tête X-CSRF-Token).")
    # Before anything that may fail: a page's 404 or 403 is drawn for the signed-in user.
    keep_identity(request, identity, session)
    _load_named(request, session, engine, identity)
    return identity


def keep_identity(request: Request, identity: Identity, session: Session | None) -> None:
    """The identity on the request, with a plain snapshot of who is signed in for the
    templates: an error page is rendered after the request's database session is rolled back
    and closed, when the row is unusable. With it, the session through which `routing.shell`
    reads the shell's counts."""
    request.state.identity = identity
    request.state.viewer = identity.actor
    request.state.shell_session = session
    web_session = identity.web_session
    request.state.csrf_token = web_session.csrf_token if web_session is not None else ""


def _load_named(request: Request, session: Session, engine: Engine, identity: Identity) -> None:
    """The objects the URL names (404 under the visibility rule), when the route asks for them
    through the accessors of what is loaded here (`ProjectDep`, `JsonViewDep`, `PageViewDep`:
    the project and its view's tokens; `DocumentDep`, `AssignmentDep`; `ListStateDep`: the
    list page's tokens).
    An id that is not one is left to the route's own validation (422)."""
    needs = _needs(request.scope.get("route"))
    if not needs:
        return
    actor = identity.actor
    state = request.state
    project_id = _path_id(request, "project_id")
    if project_id is not None and (json_view in needs or page_view in needs):
        state.project, state.view = visible_view(
            session, engine=engine, actor=actor, project_id=project_id, shell=page_view in needs
        )
    elif project_id is not None and load_project in needs:
        state.project = visible_project(session, engine=engine, actor=actor, project_id=project_id)
    document_id = _path_id(request, "document_id")
    if document_id is not None and load_document in needs:
        state.document = _document(session, engine, actor, document_id)
    assignment_id = _path_id(request, "assignment_id")
    if assignment_id is not None and load_assignment in needs:
        state.assignment = _assignment(session, engine, actor, assignment_id)
    if list_state in needs:
        state.list_state = pipeline.list_state(
            session, actor=actor, query=request.scope["query_string"], listed=_listed_ids
        )


def _path_id(request: Request, name: str) -> int | None:
    """The URL's id `name` when a row may have it (else the route's validation refuses it)."""
    raw = request.path_params.get(name)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


def _needs(route: Any) -> frozenset[Callable[..., Any]]:
    """The accessors of `_load_named` among the route's dependencies, found once per route."""
    if route is None:
        return frozenset()
    needs: frozenset[Callable[..., Any]] | None = getattr(route, "_labelflow_needs", None)
    if needs is None:
        found: set[Callable[..., Any]] = set()
        pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
        while pending:
            dependant = pending.pop()
            if dependant.call in _ACCESSORS:
                found.add(dependant.call)
            pending.extend(dependant.dependencies)
        needs = frozenset(found)
        route._labelflow_needs = needs
    return needs


IdentityDep = Annotated[Identity, Depends(current_identity)]


async def current_actor(identity: IdentityDep) -> Actor:
    return identity.actor


ActorDep = Annotated[Actor, Depends(current_actor)]


async def csrf_form(request: Request, identity: IdentityDep) -> None:
    """Every state-changing page form carries the session's anti-forgery token."""
    # A bearer token is never sent by a browser on its own: only cookies need the check.
    if request.method in READ_METHODS or identity.via == "token":
        return
    expected = identity.web_session.csrf_token if identity.web_session else None
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if expected is None or not accounts.csrf_matches(
        expected, given if isinstance(given, str) else None
    ):
        raise CsrfRejected(
            "Le formulaire a expiré ou ne vient pas de labelflow : rechargez la page et réessayez."
        )


def permit(permission: str) -> Any:
    """Route dependency: the role must allow `permission` (403)."""

    async def check(actor: ActorDep) -> None:
        require(actor, permission)

    return Depends(check)


def permit_on_project(permission: str) -> Any:
    """Like `permit`, after the project is loaded: an invisible project is 404, not 403."""

    async def check(project: ProjectDep, actor: ActorDep) -> None:
        require(actor, permission)

    return Depends(check)


def permit_messages() -> Any:
    """The role uses a project's messages (403), after the project is loaded (404 first)."""

    async def check(project: ProjectDep, actor: ActorDep) -> None:
        require_messages(actor)

    return Depends(check)


async def get_store(request: Request) -> Storage:
    store: Storage = request.app.state.store
    return store


StoreDep = Annotated[Storage, Depends(get_store)]


ProjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant du projet")]
# A row of the project's file (stakeholder, board member, deadline...), in the project's URL.
SubId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def load_project(request: Request, project_id: ProjectId, identity: IdentityDep) -> Project:
    """The one place where a project is loaded for a request: the visibility rule applies
    (loaded with the identity, `_load_named`; `project_id` declared for its validation)."""
    project: Project = request.state.project
    return project


async def json_view(request: Request, identity: IdentityDep) -> ViewState:
    """The project JSON's tokens (`project_view.view_state`), read with the project. (Not
    after `ProjectDep`: FastAPI would report a bad id twice. Without a project loaded, the
    route's validation refuses the request and its handler never sees this.)"""
    return cast(ViewState, getattr(request.state, "view", None))


async def page_view(request: Request, identity: IdentityDep) -> ViewState:
    """The project page's tokens and its shell's counts, read with the project (as
    `json_view`)."""
    return cast(ViewState, getattr(request.state, "view", None))


async def list_state(request: Request, identity: IdentityDep) -> pipeline.PageState:
    """The list page's tokens, its shell's counts and the viewer's unread counts of the page
    its query gave last (`pipeline.list_state`), read with the identity."""
    return cast(pipeline.PageState, request.state.list_state)


def _listed_ids(value: Any) -> list[int]:
    """The projects a kept list page shows (`projects.pages.ListPage.ids`)."""
    return cast(list[int], value.ids())


ProjectDep = Annotated[Project, Depends(load_project)]
JsonViewDep = Annotated[ViewState, Depends(json_view)]
PageViewDep = Annotated[ViewState, Depends(page_view)]
ListStateDep = Annotated[pipeline.PageState, Depends(list_state)]


@dataclass
class LoadedDocument:
    document: Document
    project: Project


DocumentId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de la pièce")]


def _document(session: Session, engine: Engine, actor: Actor, document_id: int) -> LoadedDocument:
    """A document is visible when its project is and the actor may read it (a superseded
    version, another audience's message attachment: `permissions.readable_documents_clause`)."""
    document = documents.get_document(session, document_id, actor=actor)
    try:
        project = visible_project(
            session, engine=engine, actor=actor, project_id=document.project_id
        )
    except NotFound:
        raise NotFound("Cette pièce est introuvable.") from None
    return LoadedDocument(document, project)


async def load_document(
    request: Request, document_id: DocumentId, identity: IdentityDep
) -> LoadedDocument:
    """The document the URL names, loaded with the identity (`_load_named`)."""
    loaded: LoadedDocument = request.state.document
    return loaded


DocumentDep = Annotated[LoadedDocument, Depends(load_document)]


def permit_on_document(permission: str) -> Any:
    async def check(loaded: DocumentDep, actor: ActorDep) -> None:
        require(actor, permission)

    return Depends(check)


AssignmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant de l'affectation")]


def load_own_assignment(
    assignment_id: AssignmentId, session: SessionDep, actor: ActorDep
) -> ConsultantAssignment:
    """One of the signed-in consultant's assignments (someone else's does not exist). Its own
    sync call, not with the identity: its routes refuse other roles first (403, `permit`)."""
    return assignments.get_own_assignment(session, assignment_id=assignment_id, actor=actor)


OwnAssignmentDep = Annotated[ConsultantAssignment, Depends(load_own_assignment)]


@dataclass
class LoadedAssignment:
    assignment: ConsultantAssignment
    project: Project


def _assignment(
    session: Session, engine: Engine, actor: Actor, assignment_id: int
) -> LoadedAssignment:
    """An assignment and its project, visible exactly when its project is."""
    assignment = assignments.get_assignment(session, assignment_id)
    project = visible_project(session, engine=engine, actor=actor, project_id=assignment.project_id)
    return LoadedAssignment(assignment, project)


async def load_assignment(
    request: Request, assignment_id: AssignmentId, identity: IdentityDep
) -> LoadedAssignment:
    """An assignment and its project, loaded with the identity (`_load_named`)."""
    loaded: LoadedAssignment = request.state.assignment
    return loaded


AssignmentDep = Annotated[LoadedAssignment, Depends(load_assignment)]


async def project_filters(
    state: Annotated[str | None, Query(max_length=50)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=pipeline.SEARCH_MAX_LENGTH)] = None,
    due_soon: Annotated[
        bool | None, Query(description="Échéance dans les 30 jours (et aucune en retard)")
    ] = None,
    suspended: bool | None = None,
    staff_owner: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Compte du ou de la chargé·e de suivi")
    ] = None,
    reached: Annotated[
        str | None,
        Query(max_length=50, description="Entrés au moins une fois dans cet état"),
    ] = None,
    left: Annotated[
        str | None, Query(max_length=50, description="Sortis au moins une fois de cet état")
    ] = None,
    started: Annotated[int | None, Query(description="Projets commencés cette année-là")] = None,
    labelled_in: Annotated[int | None, Query(description="Labellisés cette année-là")] = None,
    labelled_by: Annotated[
        int | None, Query(description="Labellisés au 31 décembre de cette année")
    ] = None,
    open_at: Annotated[int | None, Query(description="En cours à la fin de cette année")] = None,
) -> ProjectFilters:
    """The filters of the project list, as the API reads them (the list and its exports)."""
    return ProjectFilters(
        state=state,
        kind=kind,
        region=region,
        overdue=overdue,
        q=q,
        due_soon=due_soon,
        suspended=suspended,
        staff_owner_id=staff_owner,
        reached=reached,
        left=left,
        started=started,
        labelled_in=labelled_in,
        labelled_by=labelled_by,
        open_at=open_at,
    )


ProjectFiltersDep = Annotated[ProjectFilters, Depends(project_filters)]
# The list's order (`pipeline.SORTS`), for the list and its exports.
ListSortDep = Annotated[
    Literal["recent", "prevision"],
    Query(description="`recent` (les plus récents d'abord) ou `prevision` (label attendu)"),
]
# The query parameters of the list but its paging: an export refuses any other.
PROJECT_FILTER_NAMES = frozenset({*inspect.signature(project_filters).parameters, "sort"})


# The list's paging: the exports have none (every project the filters select).
LIST_PAGING = frozenset({"limit", "offset"})


def _refuse_unknown(request: Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        known = ", ".join(f"« {n} »" for n in sorted(allowed))
        raise UnknownFilter(
            f"Filtre inconnu : {', '.join(f'« {n} »' for n in unknown)}. Les paramètres "
            f"acceptés sont : {known}.",
            fields=[{"field": n, "message": "Ce filtre n'existe pas."} for n in unknown],
        )


async def known_filters_only(request: Request) -> None:
    """Route dependency: a query parameter that is not a filter of the list is refused (422),
    rather than silently ignored (an export of every project when one filter is misspelt)."""
    _refuse_unknown(request, PROJECT_FILTER_NAMES)


async def known_list_parameters(request: Request) -> None:
    """Route dependency of the list: its filters, its order and its paging, nothing else (422)."""
    _refuse_unknown(request, PROJECT_FILTER_NAMES | LIST_PAGING)


# What `_load_named` loads, by the accessor through which a route asks for it.
_ACCESSORS = frozenset(
    {load_project, json_view, page_view, load_document, load_assignment, list_state}
)
