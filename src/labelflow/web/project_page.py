"""The project page, composed of every concept's section (each built by that concept's
presenter), and the helper through which all its forms are submitted.

Every concept's page forms come back here (`submit`); this module imports only presenters, so no
page module imports another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import chain, deadlines, documents, governance, messages, project_view
from labelflow.actors import Actor
from labelflow.cache import Cache
from labelflow.db import transaction
from labelflow.models import Project, id_of
from labelflow.project_page_data import load_page
from labelflow.project_view import ProjectHead, ViewState
from labelflow.projects import definition_of
from labelflow.report_document import report_card
from labelflow.web.account.present import abilities, home_link
from labelflow.web.assignments.present import consultant_section
from labelflow.web.bureau.present import DECISION_LABELS, bureau_section
from labelflow.web.confirm import ask, confirmed, hidden_fields, notice
from labelflow.web.deps import READ_METHODS
from labelflow.web.documents.present import documents_public, upload_types
from labelflow.web.forms import REFUSALS, Forms, PageForm, refusal
from labelflow.web.messages.present import messages_section
from labelflow.web.milestones.present import milestone_section
from labelflow.web.notifications.present import follow_context
from labelflow.web.projects.history import history_lines
from labelflow.web.projects.present import (
    done_by_labels,
    owner_choices,
    project_public,
    project_template,
    state_label,
    timeline,
)
from labelflow.web.records.present import attestation_public, edit_values, stakeholder_public
from labelflow.web.routing import draw_part, keep_shell, render_kept, render_with, shell
from labelflow.web.users.present import members_section
from labelflow.workflow import Engine

# The page shows the latest facts; the full history has its own page and JSON twin.
HISTORY_ON_PAGE = 30


def project_page(
    session: Session, engine: Engine, project: Project, actor: Actor, state: ViewState
) -> dict[str, Any]:
    """Everything the project page shows to `actor`, loaded in one statement
    (`project_page_data`) beside what the view's tokens read (`state`); the forms shown are
    those the actor's role may submit (`can`)."""
    assert project.id is not None
    definition = definition_of(engine, project)
    # One more than shown tells whether older facts exist, without counting them.
    facts, rows = load_page(
        session, engine=engine, project=project, actor=actor, newest=HISTORY_ON_PAGE + 1
    )
    public = project_public(
        session,
        engine,
        project,
        facts=facts,
        viewer=actor,
        thread=(state.unread, state.awaiting),
        figures_token=state.tokens.figures,
    )
    recent = rows.recent
    older_exist = len(recent) > HISTORY_ON_PAGE
    # Staff read the whole history: its latest fact is the chain's head (see `chain`).
    history_break = (
        chain.project_verified(
            session, project_id=project.id, head=max(recent, key=id_of, default=None)
        )
        if actor.is_staff
        else None
    )
    recent = recent[-HISTORY_ON_PAGE:]
    documents_shown = documents_public(definition, rows.documents)
    steps = definition.steps()
    everywhere = {s.key for s in steps}
    can = abilities(actor)
    nav, crumb_href, crumb_label = home_link(actor)
    return {
        "project": public,
        "definition": definition,
        "is_final": definition.is_final(project.state),
        "final_state": definition.state(project.state) if public.step is None else None,
        "current_state": definition.state(project.state),
        "step_count": len(steps),
        "timeline": timeline(definition, public, rows.entries),
        "history": history_lines(definition, recent),
        "history_hidden": older_exist,
        "history_checked": actor.is_staff,
        "history_break": history_break,
        "stakeholders": [stakeholder_public(s) for s in facts.stakeholders],
        "board": facts.board,
        "board_summary": governance.board_summary(facts.board),
        "report_card": report_card(engine, project, actor, rows.reports, rows.report_people),
        "attestations": [attestation_public(definition, a) for a in facts.attestations],
        "documents": documents_shown,
        # A refused document stays an alert until a new version replaces it.
        "refused_documents": [
            d for d in documents_shown if d.review_status == "rejected" and not d.superseded_by_id
        ],
        "done_by_labels": done_by_labels(actor),
        "owner_choices": owner_choices(rows.staff, project.region) if can["write"] else [],
        **bureau_section(
            session, engine, project, actor, facts.decisions, rows.votes, documents_shown
        ),
        "label_deadline": next((d for d in public.deadlines if d.kind == "label"), None),
        "deadline_status_labels": deadlines.STATUS_LABELS,
        "review_labels": documents.REVIEW_LABELS,
        "review_badges": {"accepted": "success", "rejected": "danger", "en_attente": "warning"},
        "decision_labels": DECISION_LABELS,
        "state_label": lambda key: state_label(definition, key),
        # Actions possible from every step (abandon) are shown apart from the step's own.
        "global_actions": {a.key for a in definition.actions if set(a.sources) >= everywhere},
        # What each role sees and may use.
        "can": can,
        "nav": nav,
        "crumb_href": crumb_href,
        "crumb_label": crumb_label,
        "upload_types": upload_types(definition, actor) if can["upload"] else [],
        **members_section(rows.members, rows.porteurs, can_manage=can["members"]),
        **consultant_section(
            engine, project, rows.consultants, rows.assignments, can_assign=can["records"]
        ),
        **messages_section(
            actor,
            rows.messages,
            documents_shown,
            last_read=state.tokens.read_up_to or 0,
            awaiting=public.awaiting_reply_from,
        ),
        **milestone_section(project, facts, rows.concerned, can_write=can["write"]),
        **follow_context(actor, following=state.tokens.following),
    }


# The project part of the page (`_project_page.html`, `_my_project_page.html`) per project and
# viewer, drawn once under the view's tokens (`project_view`); the shell around it (navigation,
# bell, messages count, anti-forgery token, the notice of the last action) drawn per request.
_bodies = Cache("projet-page", size=512)
# Stand-ins drawn into the cached part for what is the request's own (letters and digits: left
# alone by escaping and typesetting), replaced by it afterwards.
CSRF_MARK = "csrf0a7c3e91d5"
NOTICE_MARK = "avis0a7c3e91d5"
BODY_MARK = "corps0a7c3e91d5"


@dataclass(frozen=True)
class PageBody:
    html: str
    unread: int  # the viewer's unread messages it shows (reading the page reads them)
    step: int | None
    state_label: str


def show_project(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    forms: Forms | None = None,
    status_code: int = 200,
    refused_anchor: str = "",
    *,
    at_home: bool = False,
    state: ViewState | None = None,
) -> Response:
    """The project page; `forms`: refused forms shown again, with their reasons (never cached:
    they are this request's); `state`: the view's tokens and shell's counts, when read with
    the project (`deps.PageViewDep`)."""
    # The signed-in user, as remembered by the pages' router dependency.
    actor: Actor = request.state.viewer
    template = project_template(actor)
    context: dict[str, Any] = {}

    # With the shell's counts: one statement for both.
    if state is None:
        state = project_view.view_state(session, project=project, actor=actor, shell=True)
    keep_shell(request, state.shell)

    def draw() -> PageBody:
        context.update(project_page(session, engine, project, actor, state))
        context.update(
            forms=forms or Forms(),
            refused_anchor=refused_anchor,
            refused_message=next((f.general for f in (forms or {}).values() if f.refused), ""),
            edit_values=edit_values(context["project"]),
            json_url=f"/api/v1/projects/{project.id}",
        )
        for form_state in context["forms"].values():
            form_state.general_above = True
        if at_home:
            context["nav"] = "home"
        part = f"_{template.removesuffix('.html')}_page.html"
        html = draw_part(request, part, {**context, "csrf_token": CSRF_MARK, "notice": NOTICE_MARK})
        public = context["project"]
        return PageBody(html, context.get("messages_unread", 0), public.step, public.state_label)

    if forms:
        body = draw()
    else:
        body = _bodies.get((project.id, actor, template, at_home), state.tokens, draw)
    if body.unread:
        _mark_read_on_view(request, session, project, actor, body.unread)
    return _around(request, project, template, body, context, status_code, at_home, bool(forms))


def cached_project_page(
    request: Request, project: ProjectHead, state: ViewState
) -> Response | None:
    """`show_project`'s page when its project part is cached and reading it changes nothing
    (no unread message to mark read): no statement, so the event loop may answer it, kept
    whole as its bytes (`render_kept`) until the view's tokens change; else None."""
    actor: Actor = request.state.viewer
    template = project_template(actor)
    body: PageBody | None = _bodies.hit((project.id, actor, template, False), state.tokens)
    if body is None or body.unread:
        return None
    keep_shell(request, state.shell)
    notice = _notice(body, request.query_params.get("fait", ""))
    return render_kept(
        request,
        ("projet", project.id, template, notice),
        state.tokens,
        template,
        lambda: _shell_context(request, project, {}, at_home=False),
        lambda: {BODY_MARK: _part(request, body, notice)},
    )


def _around(
    request: Request,
    project: Project,
    template: str,
    body: PageBody,
    context: dict[str, Any],
    status_code: int,
    at_home: bool,
    with_forms: bool,
) -> Response:
    """The page's shell around its project part: the request's own navigation, counts,
    anti-forgery token and notice."""
    notice = "" if with_forms else _notice(body, request.query_params.get("fait", ""))
    shell_context = _shell_context(request, project, context, at_home=at_home)
    return render_with(
        request, template, shell_context, {BODY_MARK: _part(request, body, notice)}, status_code
    )


def _shell_context(
    request: Request, project: ProjectHead, context: dict[str, Any], *, at_home: bool
) -> dict[str, Any]:
    nav, _, _ = home_link(request.state.viewer)
    return {
        **context,  # what the page showed when drawn now (the tests read it), else nothing
        "title": project.name,
        "body": BODY_MARK,
        "nav": "home" if at_home else nav,
        "json_url": f"/api/v1/projects/{project.id}",
    }


def _part(request: Request, body: PageBody, notice: str) -> str:
    """The project part for this request: its anti-forgery token and its notice put in."""
    csrf = getattr(request.state, "csrf_token", "")
    return body.html.replace(CSRF_MARK, csrf).replace(
        draw_part(request, "_notice.html", {"notice": NOTICE_MARK}),
        draw_part(request, "_notice.html", {"notice": notice}),
    )


def _mark_read_on_view(
    request: Request, session: Session, project: Project, actor: Actor, unread: int
) -> None:
    """Opening the thread reads it: in the request's own transaction for a form shown again,
    else in a short one (a page read must not hold SQLite's write lock while it renders)."""
    counts = shell(request)  # the navigation's count as read before: without this thread's now
    if request.method in READ_METHODS:
        with transaction(request.app.state.db) as own:
            messages.mark_read(own, project=project, actor=actor)
    else:
        messages.mark_read(session, project=project, actor=actor)
    if counts is not None and counts.messages is not None:
        keep_shell(request, replace(counts, messages=max(0, counts.messages - unread)))


def _notice(body: PageBody, key: str) -> str:
    """What the last action did (`?fait=`): a known key's message, the step reached for a
    transition, nothing for any other key."""
    if key != "etape":
        return notice(key)
    if body.step is None:
        return f"Le projet est passé à « {body.state_label} »."
    return f"Le projet est passé à l'étape {body.step} — {body.state_label}."


def submit(
    request: Request,
    session: Session,
    engine: Engine,
    project: Project,
    *,
    form_name: str,
    form: PageForm,
    anchor: str,
    call: Callable[[], object],
    done: str = "",
    ask_first: str = "",
    names: Mapping[str, object] | None = None,
) -> Response:
    """Run one service call; on success 303 back to the section saying it (`done`: a key of
    `confirm.NOTICES`, or "etape"), else the page with reasons. `ask_first`: the key of the
    irreversible action's confirmation (`confirm.CONFIRMATIONS`, with `names`), asked on a page
    when the form comes without `confirm=1` (no JavaScript)."""
    if ask_first and not confirmed(form.confirm):
        return ask(
            request,
            key=ask_first,
            fields=hidden_fields(form.model_dump()),
            cancel=f"/projects/{project.id}#{anchor}",
            **(names or {}),
        )
    try:
        call()
    except REFUSALS as exc:
        # Nothing of a refused request may stay (a version bump before the refusal, say).
        session.rollback()
        state = refusal(exc, form.values())
        return show_project(
            request, session, engine, project, Forms({form_name: state}), state.status, anchor
        )
    query = f"?fait={done}" if done else ""
    return RedirectResponse(f"/projects/{project.id}{query}#{anchor}", status_code=303)
