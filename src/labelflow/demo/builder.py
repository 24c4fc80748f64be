"""One demo project's records, each written through the services at its historical moment."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from jinja2 import Environment
from sqlmodel import Session

from labelflow import accounts, dates, documents, projects, records, runtime
from labelflow.actors import Actor
from labelflow.demo.pdfs import make_pdf, slug
from labelflow.demo.people import FIRST_NAMES, LAST_NAMES
from labelflow.demo.scenarios import Scenario
from labelflow.demo.team import DemoPeople, demo_user
from labelflow.models import Document, Project
from labelflow.runtime import Runtime
from labelflow.schemas import (
    AttestationCreate,
    CommuneIn,
    ProjectCreate,
    StakeholderCreate,
)
from labelflow.storage import Storage
from labelflow.workflow import Engine


class Builder:
    """Writes one scenario; every call runs with the clock frozen at its historical moment."""

    def __init__(
        self,
        session: Session,
        *,
        engine: Engine,
        store: Storage,
        letters_env: Environment,
        rng: random.Random,
        scenario: Scenario,
        origin: datetime,
        people: DemoPeople,
        used_names: set[str],
    ) -> None:
        self.session = session
        self.engine = engine
        self.store = store
        # The decision letters and the report PDF are made by the subscribers of the facts.
        runtime.attach(session, Runtime(workflows=engine, templates=letters_env, store=store))
        self.rng = rng
        self.s = scenario
        self.origin = origin
        self.staff = rng.choice(people.staff)
        self.porteur_name = self.person()
        while self.porteur_name in used_names:  # one porteur per project: no namesakes
            self.porteur_name = self.person()
        used_names.add(self.porteur_name)
        self.porteur = Actor(name=self.porteur_name, role="porteur")  # its account: in create()
        self.people = people
        self.consultant = rng.choice(people.consultants)
        self.project: Project | None = None
        self.done: set[str] = set()
        self.day = scenario.created  # days ago of the step being written
        self._last = origin - timedelta(days=scenario.created + 1)

    # time

    def moment(self, days_ago: float) -> datetime:
        """A working-hours moment `days_ago` days before the load (Paris daytime, in UTC).

        Moments only move forward, so that a project's history reads in the order it was
        written even when two records fall on the same day.
        """
        day = (self.origin - timedelta(days=days_ago)).date()
        minutes = self.rng.randint(7 * 60, 16 * 60)
        moment = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=UTC)
        if moment <= self._last:
            moment = self._last + timedelta(minutes=self.rng.randint(5, 90))
        self._last = moment
        return moment

    def working_day(self, days_ago: int, *, after: int, before: int) -> int:
        """The working day nearest to `days_ago`, strictly between `after` and `before` days
        ago (a Bureau meets on a weekday, not on a Sunday or 14 July); `days_ago` if none."""
        for shift in range(7):
            for candidate in (days_ago - shift, days_ago + shift):
                day = (self.origin - timedelta(days=candidate)).date()
                if before < candidate < after and dates.is_working_day(day):
                    return candidate
        return days_ago

    def spread(self, count: int, start: int, end: int) -> list[int]:
        """`count` sorted days-ago values strictly between `start` and `end` (start > end)."""
        if count == 0:
            return []
        if start - end < 2:
            raise ValueError(f"{self.s.name}: pas assez de jours entre {start} et {end}")
        return sorted((self.rng.randint(end + 1, start - 1) for _ in range(count)), reverse=True)

    def at(self, days_ago: float, call: Callable[[], Any]) -> Any:
        with dates.frozen(self.moment(days_ago)):
            return call()

    # records

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    @property
    def p(self) -> Project:
        assert self.project is not None
        return self.project

    def create(self) -> None:
        place = self.s.place
        data = ProjectCreate(
            name=self.s.name,
            kind=self.s.kind,
            communes=[CommuneIn(insee=code, name=name) for code, name in place.communes],
            region=place.region,
            departement=place.departement,
            qpv=place.qpv,
            initiator=self.s.initiator,
        )
        self.project = self.at(
            self.s.created,
            lambda: projects.create_project(
                self.session, engine=self.engine, data=data, actor=self.staff
            ),
        )

        def link_porteur() -> None:
            # The porteur who brought the project gets an account linked to it at once.
            user = demo_user(self.session, name=self.porteur_name, role="porteur", unique=True)
            accounts.create_member(
                self.session, project=self.p, user_id=user.id or 0, actor=self.staff
            )
            self.porteur = accounts.actor_of(user)

        self.at(self.s.created, link_porteur)

    def stakeholder(self, college: str, name: str) -> None:
        def call() -> None:
            data = StakeholderCreate(
                name=name,
                college=college,
                engaged_on=dates.today(),
                contact=self.person(),
            )
            records.create_stakeholder(
                self.session,
                engine=self.engine,
                project=self.p,
                data=data,
                actor=self.staff,
                if_match=None,
            )

        self.at(self.day, call)

    def document(
        self,
        doc_type: str,
        title: str,
        *,
        by: Actor | None = None,
        review: str | None = "accepted",
        review_comment: str | None = None,
    ) -> None:
        actor = by or self.porteur
        filename = f"{slug(title)}.pdf"
        body = make_pdf(title, [self.s.name, ", ".join(n for _, n in self.s.place.communes)])

        def upload() -> Document:
            return documents.create_document(
                self.session,
                engine=self.engine,
                store=self.store,
                project=self.p,
                doc_type=doc_type,
                filename=filename,
                declared_media_type="application/pdf",
                source=io.BytesIO(body),
                max_bytes=10 * 1024 * 1024,
                allowed_media_types=["application/pdf"],
                actor=actor,
                if_match=None,
            )

        document = self.at(self.day, upload)
        if review is not None:
            self.at(
                self.day,
                lambda: documents.review_document(
                    self.session,
                    engine=self.engine,
                    project=self.p,
                    document=document,
                    status=review,
                    comment=review_comment,
                    actor=self.staff,
                    if_match=None,
                ),
            )

    def attestation(self, code: str, comment: str) -> None:
        def call() -> None:
            data = AttestationCreate(code=code, date=dates.today(), comment=comment)
            records.create_attestation(
                self.session,
                engine=self.engine,
                project=self.p,
                data=data,
                actor=self.staff,
                if_match=None,
            )

        self.at(self.day, call)

    def fire(self, action: str, days_ago: int, comment: str | None = None) -> None:
        self.at(
            days_ago,
            lambda: projects.transition(
                self.session,
                engine=self.engine,
                project=self.p,
                action=action,
                comment=comment,
                actor=self.staff,
                if_match=None,
            ),
        )

    def set_suspended(self, days_ago: int, *, suspend: bool, comment: str) -> None:
        self.at(
            days_ago,
            lambda: projects.set_suspended(
                self.session,
                project=self.p,
                suspend=suspend,
                engine=self.engine,
                actor=self.staff,
                if_match=None,
                comment=comment,
            ),
        )

    def run_steps(self, steps: list[Callable[[], None]], start: int, end: int) -> None:
        """Run `steps` in order, on days spread between `start` and `end` days ago."""
        for day, step in zip(self.spread(len(steps), start, end), steps, strict=True):
            self.day = day
            step()
