"""One scenario told from the project's creation to its current step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from labelflow import deadlines, projects
from labelflow.demo.builder import Builder
from labelflow.demo.scenarios import DECISIONS, MAIN_PATH_ACTION
from labelflow.demo.steps import decide, needs
from labelflow.models import Project
from labelflow.schemas import DeadlineMove


def build_project(b: Builder) -> Project:
    """Create the project, walk its route with what each step needs, then its current step."""
    b.create()
    entered = b.s.created
    state = b.p.state
    for action, fired in b.s.route:
        if b.s.pause and entered > b.s.pause[0] > fired:
            # Suspended during this step: the records come after the resumption.
            suspend_and_resume(b, *b.s.pause)
            entered = b.s.pause[1]
        if action in DECISIONS:
            outcome = DECISIONS[action]
            motivation = b.s.comments.get(outcome)
            decide(b, outcome, fired, entered, motivation)
            b.fire(action, fired, motivation)
        elif action == "abandonner":
            b.run_steps(needs(b, MAIN_PATH_ACTION[state])[:2], entered, fired)
            b.fire(action, fired, b.s.comments["abandon"])
        else:
            steps = needs(b, action) if action not in b.done else []
            b.run_steps(steps, entered, fired)
            b.done.add(action)
            b.fire(action, fired)
        entered, state = fired, b.p.state
    if not projects.definition_of(b.engine, b.p).is_final(state):
        current_step(b, state, entered)
    return b.p


def current_step(b: Builder, state: str, entered: int) -> None:
    """Part of what the open step needs (`progress`), a moved deadline, a suspension."""
    last = 1
    if b.s.moved_deadline:
        last = b.s.moved_deadline[0] + 1
    if b.s.suspended:
        last = b.s.suspended + 1
    if state == "prefiguration" and "demander_expertise" in b.done:
        # Back from the Bureau (ajournement): answer its recommendations.
        steps: list[Callable[[], None]] = [
            lambda: b.document("autre", "Plan d'action après l'avis du Bureau"),
            lambda: b.document("autre", "Plan de trésorerie sur trois ans"),
        ]
    else:
        wanted = needs(b, MAIN_PATH_ACTION[state])
        steps = wanted[: int(len(wanted) * b.s.progress)]
    b.run_steps(steps, entered, last)
    if b.s.moved_deadline:
        move_deadline(b, state, *b.s.moved_deadline)
    if b.s.suspended:
        b.set_suspended(
            b.s.suspended,
            suspend=True,
            comment="La chargée de mission a quitté l'association ; le projet reprendra "
            "après son remplacement.",
        )


def move_deadline(b: Builder, state: str, days_ago: int, extra_days: int) -> None:
    assert b.p.id is not None
    open_step = next(
        d
        for d in deadlines.list_deadlines(b.session, project=b.p)
        if d.state == state and d.closed_on is None
    )
    assert open_step.id is not None
    deadline_id = open_step.id

    def call() -> None:
        data = DeadlineMove(
            due_on=open_step.due_on + timedelta(days=extra_days),
            reason="Le diagnostic du bailleur, indispensable à l'étude, a pris du retard.",
        )
        deadlines.move_deadline(
            b.session,
            engine=b.engine,
            project=b.p,
            deadline_id=deadline_id,
            data=data,
            actor=b.staff,
            if_match=None,
        )

    b.at(days_ago, call)


def suspend_and_resume(b: Builder, start: int, end: int) -> None:
    b.set_suspended(
        start,
        suspend=True,
        comment="Période électorale : les nouveaux conseils municipaux doivent confirmer "
        "leur soutien.",
    )
    b.set_suspended(
        end, suspend=False, comment="Soutien confirmé par les nouvelles équipes municipales."
    )
