"""The Bureau: its members, meetings, recusals (déports), votes and decisions, and what a
decision does once staff apply it (label number, network membership, decision letter).

The Bureau is the set of active accounts with the role `bureau`. A decision is stored only once
it is valid (meeting attended by the project's pass, quorum reached, no recused member voting,
outcome consistent with the vote), so the `bureau_decision` criterion keeps meaning "a decision
for the current pass with that outcome".
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from labelflow import dates, documents, pdf
from labelflow.actors import Actor
from labelflow.errors import ActionNotPossible, Conflict, Forbidden, Invalid, NotFound
from labelflow.events import record_event
from labelflow.models import (
    BoardMember,
    BureauMeeting,
    Decision,
    Document,
    ExpertiseReport,
    LabelCounter,
    MeetingAttendee,
    Project,
    Recusal,
    User,
    Vote,
)
from labelflow.projects import BUREAU_STATE, definition_of, touch, visibility_clause
from labelflow.settings import Settings
from labelflow.workflow import Engine

BUREAU_ROLE = "bureau"
VOTE_LABELS = {"pour": "pour", "contre": "contre", "abstention": "abstention"}
OUTCOME_LABELS = {
    "attribution": "attribution du label",
    "refus": "refus du label",
    "ajournement": "ajournement",
}
# The actions of the Bureau step and the decision each applies.
ACTION_OUTCOMES = {
    "attribuer_label": "attribution",
    "refuser_label": "refus",
    "ajourner": "ajournement",
}
LETTER_TYPE = "courrier_decision"
LETTER_TEMPLATES = {
    "attribution": "pdf/letter_attribution.html",
    "refus": "pdf/letter_refus.html",
    "ajournement": "pdf/letter_ajournement.html",
}
KIND_LABELS = {"quartier": "Régie de Quartier", "territoire": "Régie de Territoire"}


def _id(row: Any) -> int:
    assert row.id is not None
    return int(row.id)


# --- members ----------------------------------------------------------------------------------


def members(session: Session) -> list[User]:
    """The Bureau today: active accounts with the role `bureau`, by name."""
    return list(
        session.exec(
            select(User)
            .where(User.role == BUREAU_ROLE, col(User.active).is_(True))
            .order_by(col(User.name), col(User.id))
        )
    )


def _users(session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {_id(u): u for u in session.exec(select(User).where(col(User.id).in_(wanted)))}


# --- meetings ---------------------------------------------------------------------------------


@dataclass
class MeetingView:
    meeting: BureauMeeting
    chair: User | None
    attendees: list[User]
    decisions: list[tuple[Decision, Project]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return _id(self.meeting)


def create_meeting(
    session: Session,
    *,
    held_on: date,
    attendee_ids: Sequence[int],
    chair_id: int | None,
    notes: str | None,
    actor: Actor,
) -> BureauMeeting:
    """Record a meeting: who was there (active Bureau members) and who chaired it."""
    if held_on > dates.today():
        raise Invalid("Une réunion du Bureau ne peut pas être dans le futur.", field="held_on")
    bureau = {_id(u): u for u in members(session)}
    present = list(dict.fromkeys(attendee_ids))
    if not present:
        raise Invalid("Cochez les membres du Bureau présents.", field="attendee_ids")
    strangers = [i for i in present if i not in bureau]
    if strangers:
        known = _users(session, strangers)
        names = ", ".join(known[i].name if i in known else f"n° {i}" for i in strangers)
        raise Invalid(
            f"Seuls les membres actifs du Bureau peuvent être présents : {names} n'en fait pas "
            "partie.",
            field="attendee_ids",
        )
    if chair_id is None or chair_id not in present:
        raise Invalid(
            "La présidence de séance revient à l'un des membres présents.", field="chair_id"
        )
    meeting = BureauMeeting(
        held_on=held_on,
        chair_id=chair_id,
        bureau_size=len(bureau),
        notes=(notes or "").strip() or None,
        created_by=actor.name,
        created_at=dates.now(),
    )
    session.add(meeting)
    session.flush()
    for user_id in present:
        session.add(MeetingAttendee(meeting_id=_id(meeting), user_id=user_id))
    session.flush()
    return meeting


def _meeting_views(
    session: Session, meetings: Sequence[BureauMeeting], *, actor: Actor | None
) -> list[MeetingView]:
    """Meetings with their chair, attendees and decisions: three queries, whatever the count."""
    ids = [_id(m) for m in meetings]
    if not ids:
        return []
    attendees: dict[int, list[User]] = {i: [] for i in ids}
    for attendee, user in session.exec(
        select(MeetingAttendee, User)
        .join(User, col(User.id) == MeetingAttendee.user_id)
        .where(col(MeetingAttendee.meeting_id).in_(ids))
        .order_by(col(User.name), col(User.id))
    ):
        attendees[attendee.meeting_id].append(user)
    chairs = _users(session, (m.chair_id for m in meetings if m.chair_id))
    decided: dict[int, list[tuple[Decision, Project]]] = {i: [] for i in ids}
    if actor is not None:
        query = (
            select(Decision, Project)
            .join(Project, col(Project.id) == Decision.project_id)
            .where(col(Decision.meeting_id).in_(ids))
            .order_by(col(Decision.id))
        )
        visible = visibility_clause(actor)
        if visible is not None:
            query = query.where(visible)
        for decision, project in session.exec(query):
            assert decision.meeting_id is not None
            decided[decision.meeting_id].append((decision, project))
    return [
        MeetingView(
            m,
            chairs.get(m.chair_id) if m.chair_id else None,
            attendees[_id(m)],
            decided[_id(m)],
        )
        for m in meetings
    ]


def list_meetings(session: Session, *, actor: Actor | None = None) -> list[MeetingView]:
    """Every meeting, latest first (decisions: those on projects `actor` may see)."""
    meetings = session.exec(
        select(BureauMeeting).order_by(
            col(BureauMeeting.held_on).desc(), col(BureauMeeting.id).desc()
        )
    ).all()
    return _meeting_views(session, meetings, actor=actor)


def get_meeting(session: Session, *, meeting_id: int, actor: Actor | None = None) -> MeetingView:
    meeting = session.get(BureauMeeting, meeting_id)
    if meeting is None:
        raise NotFound("Cette réunion du Bureau est introuvable.")
    return _meeting_views(session, [meeting], actor=actor)[0]


def meetings_for(session: Session, *, project: Project) -> list[MeetingView]:
    """The meetings that may deliberate on the project: held since it entered the Bureau step."""
    if project.state != BUREAU_STATE:
        return []
    since = dates.paris_date(project.entered_state_at)
    meetings = session.exec(
        select(BureauMeeting)
        .where(col(BureauMeeting.held_on) >= since)
        .order_by(col(BureauMeeting.held_on).desc(), col(BureauMeeting.id).desc())
    ).all()
    return _meeting_views(session, meetings, actor=None)


# --- recusals ---------------------------------------------------------------------------------


@dataclass
class RecusalView:
    recusal: Recusal
    user: User
    current: bool


def list_recusals(session: Session, *, project: Project) -> list[RecusalView]:
    """Every recusal declared on the project (`current`: for its present pass at the Bureau)."""
    rows = session.exec(
        select(Recusal, User)
        .join(User, col(User.id) == Recusal.user_id)
        .where(Recusal.project_id == project.id)
        .order_by(col(Recusal.declared_at), col(Recusal.id))
    ).all()
    return [RecusalView(r, u, _is_current(project, r.pass_started_at)) for r, u in rows]


def _is_current(project: Project, pass_started_at: datetime) -> bool:
    return project.state == BUREAU_STATE and pass_started_at == project.entered_state_at


def _recused_ids(session: Session, *, project: Project) -> set[int]:
    return set(
        session.exec(
            select(Recusal.user_id).where(
                Recusal.project_id == project.id,
                Recusal.pass_started_at == project.entered_state_at,
            )
        )
    )


def declare_recusal(
    session: Session,
    *,
    project: Project,
    user_id: int | None,
    reason: str,
    actor: Actor,
) -> Recusal:
    """A Bureau member withdraws from the deliberation on the project's current pass: their own
    declaration, or staff's on their behalf."""
    if project.state != BUREAU_STATE:
        raise ActionNotPossible(
            "Un déport se déclare pendant l'étape « Décision du Bureau ».",
            code="etape_incorrecte",
        )
    if actor.role == BUREAU_ROLE:
        if user_id is not None and user_id != actor.user_id:
            raise Forbidden("Un membre du Bureau ne déclare que son propre déport.")
        user_id = actor.user_id
    elif user_id is None:
        raise Invalid("Choisissez le membre du Bureau qui se déporte.", field="user_id")
    member = session.get(User, user_id) if user_id is not None else None
    if member is None or member.role != BUREAU_ROLE or not member.active:
        raise Invalid("Choisissez un membre actif du Bureau.", field="user_id")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Indiquez la raison du déport.", field="reason")
    if _id(member) in _recused_ids(session, project=project):
        raise Conflict(
            f"{member.name} s'est déjà déporté·e sur ce dossier.", code="deport_existant"
        )
    touch(session, project, if_match=None)
    recusal = Recusal(
        project_id=_id(project),
        user_id=_id(member),
        pass_started_at=project.entered_state_at,
        reason=reason,
        declared_by=actor.name,
        declared_at=dates.now(),
    )
    session.add(recusal)
    session.flush()
    record_event(
        session,
        project_id=_id(project),
        actor=actor,
        kind="deport",
        comment=reason,
        data={"id": recusal.id, "user_id": member.id, "name": member.name},
    )
    return recusal


# --- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quorum:
    present: int  # present and not recused
    members: int  # the Bureau's members on the meeting day, recused ones excepted
    fraction: float

    @property
    def required(self) -> int:
        """The smallest number of present members that is more than the fraction."""
        return int(self.members * self.fraction) + 1

    @property
    def reached(self) -> bool:
        return self.members > 0 and self.present > self.members * self.fraction


def quorum(
    meeting: BureauMeeting, attendee_ids: set[int], recused: set[int], *, fraction: float
) -> Quorum:
    # Recused members count neither among those present nor among the Bureau's members.
    return Quorum(
        present=len(attendee_ids - recused),
        members=max(meeting.bureau_size - len(recused), 0),
        fraction=fraction,
    )


def _counts(votes: Sequence[tuple[int, str]]) -> tuple[int, int, int]:
    values = [v for _, v in votes]
    return values.count("pour"), values.count("contre"), values.count("abstention")


def _vote_text(pour: int, contre: int, abstention: int) -> str:
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n > 1 and not word.endswith('s') else ''}"

    return f"{pour} pour, {contre} contre, {plural(abstention, 'abstention')}"


def _check_outcome(outcome: str, pour: int, contre: int, abstention: int) -> None:
    votes = _vote_text(pour, contre, abstention)
    if outcome == "attribution" and pour <= contre:
        raise Invalid(
            f"La décision « attribution du label » contredit le vote ({votes}) : "
            "l'attribution demande plus de voix pour que contre.",
            code="decision_contraire_au_vote",
            field="outcome",
        )
    if outcome == "refus" and contre <= pour:
        raise Invalid(
            f"La décision « refus du label » contredit le vote ({votes}) : "
            "le refus demande plus de voix contre que pour.",
            code="decision_contraire_au_vote",
            field="outcome",
        )


def record_decision(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    meeting_id: int,
    outcome: str,
    motivation: str | None,
    votes: Sequence[tuple[int, str]],
    actor: Actor,
    settings: Settings,
    if_match: int | None,
) -> Decision:
    """The Bureau's decision on the project's current pass, taken at one of its meetings.

    Refused, with nothing stored, when the meeting predates the pass, when someone votes who was
    absent or recused, when a present member's vote is missing, when the quorum is not reached
    or when the outcome contradicts the vote.
    """
    if project.state != BUREAU_STATE:
        raise ActionNotPossible(
            "Une décision du Bureau ne peut être enregistrée qu'à l'étape « Décision du Bureau ».",
            code="etape_incorrecte",
        )
    if outcome not in OUTCOME_LABELS:
        raise Invalid(f"Décision inconnue « {outcome} ».", field="outcome")
    meeting = session.get(BureauMeeting, meeting_id)
    if meeting is None:
        raise Invalid("Cette réunion du Bureau est introuvable.", field="meeting_id")
    entered = dates.paris_date(project.entered_state_at)
    if meeting.held_on < entered:
        raise Invalid(
            f"La réunion du {dates.french_date(meeting.held_on)} précède l'arrivée du projet à "
            f"l'étape « Décision du Bureau » (le {dates.french_date(entered)}) : choisissez une "
            "réunion tenue depuis.",
            field="meeting_id",
        )
    motivation = (motivation or "").strip() or None
    if outcome in ("refus", "ajournement") and not motivation:
        raise Invalid(
            "La motivation est requise pour un refus ou un ajournement "
            "(pour un ajournement : les recommandations du Bureau).",
            field="motivation",
        )
    attendee_ids = set(
        session.exec(
            select(MeetingAttendee.user_id).where(MeetingAttendee.meeting_id == meeting_id)
        )
    )
    recused = _recused_ids(session, project=project)
    voter_ids = [uid for uid, _ in votes]
    people = _users(session, [*attendee_ids, *recused, *voter_ids])

    def name(uid: int) -> str:
        return people[uid].name if uid in people else f"compte n° {uid}"

    twice = sorted({uid for uid in voter_ids if voter_ids.count(uid) > 1})
    if twice:
        raise Invalid(
            f"Un seul vote par membre : {', '.join(name(u) for u in twice)} figure plusieurs fois.",
            field="votes",
        )
    recused_voters = [uid for uid in voter_ids if uid in recused]
    if recused_voters:
        who = ", ".join(name(u) for u in recused_voters)
        raise Invalid(
            f"{who} s'est déporté·e sur ce dossier : son vote ne peut pas être enregistré.",
            code="membre_deporte",
            field="votes",
        )
    absent = [uid for uid in voter_ids if uid not in attendee_ids]
    if absent:
        raise Invalid(
            f"Seuls les membres présents à la réunion du {dates.french_date(meeting.held_on)} "
            f"votent : {', '.join(name(u) for u in absent)} n'y étai(en)t pas.",
            field="votes",
        )
    count = quorum(meeting, attendee_ids, recused, fraction=settings.bureau_quorum_fraction)
    if not count.reached:
        raise Conflict(
            f"Quorum non atteint : {count.present} présent(s) sur {count.members} membre(s) non "
            f"déporté(s) du Bureau ; il en faut au moins {count.required}.",
            code="quorum_non_atteint",
            present=count.present,
            members=count.members,
            required=count.required,
        )
    missing = sorted(attendee_ids - recused - set(voter_ids), key=name)
    if missing:
        raise Invalid(
            "Indiquez le vote (pour, contre ou abstention) de chaque membre présent et non "
            f"déporté : il manque celui de {', '.join(name(u) for u in missing)}.",
            field="votes",
        )
    pour, contre, abstention = _counts(votes)
    _check_outcome(outcome, pour, contre, abstention)
    touch(session, project, if_match=if_match)
    decision = Decision(
        project_id=_id(project),
        meeting_id=meeting_id,
        meeting_on=meeting.held_on,
        outcome=outcome,
        motivation=motivation,
        votes_for=pour,
        votes_against=contre,
        votes_abstain=abstention,
        pass_started_at=project.entered_state_at,
        recorded_by=actor.name,
        recorded_at=dates.now(),
    )
    session.add(decision)
    session.flush()
    for uid, value in votes:
        session.add(Vote(decision_id=_id(decision), user_id=uid, vote=value))
    session.flush()
    record_event(
        session,
        project_id=_id(project),
        actor=actor,
        kind="decision",
        comment=motivation,
        data={
            "id": decision.id,
            "outcome": outcome,
            "meeting_id": meeting_id,
            "meeting_on": meeting.held_on.isoformat(),
            "votes_for": pour,
            "votes_against": contre,
            "votes_abstain": abstention,
            "recused": sorted(name(u) for u in recused),
        },
    )
    return decision


def list_decisions(session: Session, *, project: Project) -> Sequence[Decision]:
    return session.exec(
        select(Decision).where(Decision.project_id == project.id).order_by(col(Decision.id))
    ).all()


def votes_of(
    session: Session, decisions: Iterable[Decision]
) -> dict[int, list[tuple[int, str, str]]]:
    """(user id, name, vote) per decision, in one query."""
    ids = [_id(d) for d in decisions]
    result: dict[int, list[tuple[int, str, str]]] = {i: [] for i in ids}
    if not ids:
        return result
    for vote, user in session.exec(
        select(Vote, User)
        .join(User, col(User.id) == Vote.user_id)
        .where(col(Vote.decision_id).in_(ids))
        .order_by(col(User.name), col(User.id))
    ):
        result[vote.decision_id].append((vote.user_id, user.name, vote.vote))
    return result


def current_decision(
    decisions: Iterable[Decision], *, pass_started_at: datetime, outcome: str | None = None
) -> Decision | None:
    """The decision that counts for a pass: the latest one recorded (with that outcome)."""
    candidates = [
        d
        for d in decisions
        if d.pass_started_at == pass_started_at and (outcome is None or d.outcome == outcome)
    ]
    return max(candidates, key=lambda d: (d.recorded_at, d.id or 0), default=None)


# --- consequences of a decision ---------------------------------------------------------------


@dataclass(frozen=True)
class Letters:
    """What decision letters need: the templates (`app.state.templates.env`) and the store."""

    env: Environment
    store: documents.DocumentStore


def next_label_number(session: Session, *, prefix: str, year: int) -> int:
    """The next number of the year for `prefix`, unique under concurrent transactions.

    The counter row is created if missing (a no-op when another transaction did it), then
    incremented in place: the UPDATE holds the row lock until commit, so concurrent decisions
    queue on it (PostgreSQL) or on the write lock (SQLite), and each reads its own value.
    """
    table = LabelCounter.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.exec(insert(table).values(prefix=prefix, year=year, last=0).on_conflict_do_nothing())
    number = session.exec(
        sa.update(table)
        .where(table.c.prefix == prefix, table.c.year == year)
        .values(last=table.c.last + 1)
        .returning(table.c.last)
    ).scalar_one()
    return int(number)


def format_label_number(prefix: str, year: int, number: int) -> str:
    """'RQ-2027-003'."""
    return f"{prefix}-{year}-{number:03d}"


def on_decision_transition(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    action: str,
    pass_started_at: datetime,
    on: date,
    actor: Actor,
    letters: Letters | None,
) -> None:
    """Called by `projects.transition` once the project left the Bureau step by `action`.

    Attribution: the label number (from `LabelCounter`), label date and network membership.
    Every decision: its French letter, stored with the project (when `letters` is given; the
    web app always gives it, the benchmark's bulk data does not).
    """
    outcome = ACTION_OUTCOMES.get(action)
    if outcome is None:
        return
    decision = current_decision(
        list_decisions(session, project=project), pass_started_at=pass_started_at, outcome=outcome
    )
    if decision is None:  # pragma: no cover - the action's criterion requires it
        return
    if outcome == "attribution":
        prefix = definition_of(engine, project).label_prefix
        number = next_label_number(session, prefix=prefix, year=on.year)
        project.label_number = format_label_number(prefix, on.year, number)
        project.label_date = on
        project.network_member_since = on
        session.add(project)
        session.flush()
    if letters is not None:
        _store_letter(
            session, project=project, decision=decision, on=on, actor=actor, letters=letters
        )


# WeasyPrint relies on Pango and fontconfig: letters are rare, render them one at a time.
_RENDER_LOCK = threading.Lock()


def letter_context(
    session: Session, *, project: Project, decision: Decision, on: date
) -> dict[str, Any]:
    """What the letter templates show (dates already in French: no filter needed)."""
    from labelflow import accounts  # noqa: PLC0415 (accounts imports projects, as we do)

    meeting = session.get(BureauMeeting, decision.meeting_id) if decision.meeting_id else None
    chair = session.get(User, meeting.chair_id) if meeting and meeting.chair_id else None
    return {
        "project": project,
        "kind_label": KIND_LABELS.get(project.kind, project.kind),
        "association": project.association_name or project.name,
        "porteurs": [u.name for u in accounts.list_members(session, project=project)],
        "communes": ", ".join(c["name"] for c in project.communes),
        "departement": project.departement,
        "date_text": dates.french_date(on),
        "meeting_text": dates.french_date(decision.meeting_on),
        "decision": decision,
        "outcome_label": OUTCOME_LABELS[decision.outcome],
        "votes_text": _vote_text(
            decision.votes_for, decision.votes_against, decision.votes_abstain
        ),
        "motivation": decision.motivation,
        "chair": chair.name if chair else None,
        "label_number": project.label_number,
        "label_date_text": dates.french_date(project.label_date) if project.label_date else "",
    }


def render_letter(env: Environment, outcome: str, context: dict[str, Any]) -> bytes:
    with _RENDER_LOCK:
        return pdf.render_pdf(env, LETTER_TEMPLATES[outcome], context)


def _store_letter(
    session: Session,
    *,
    project: Project,
    decision: Decision,
    on: date,
    actor: Actor,
    letters: Letters,
) -> Document:
    context = letter_context(session, project=project, decision=decision, on=on)
    content = render_letter(letters.env, decision.outcome, context)
    suffix = project.label_number or on.isoformat()
    return documents.add_generated_document(
        session,
        store=letters.store,
        project=project,
        doc_type=LETTER_TYPE,
        filename=f"courrier-decision-{decision.outcome}-{suffix}.pdf",
        content=content,
        media_type="application/pdf",
        actor=actor,
    )


# --- the agenda: decision files of the projects at the Bureau step ----------------------------


@dataclass
class DecisionFile:
    project: Project
    board: list[BoardMember]
    documents: list[Document]
    recusals: list[RecusalView]
    decisions: list[Decision]
    # The structured expertise report, once submitted (its page and PDF are the project's).
    expertise: ExpertiseReport | None = None

    @property
    def report(self) -> Document | None:
        """A report uploaded as a document (projects from before the structured report)."""
        reports = [d for d in self.documents if d.type == "rapport_expertise"]
        return max(reports, key=lambda d: (d.uploaded_at, d.id or 0), default=None)


def agenda(session: Session) -> list[DecisionFile]:
    """Projects at the Bureau step, longest waiting first, each with what the Bureau reads:
    a fixed number of queries, whatever the number of projects."""
    projects_ = list(
        session.exec(
            select(Project)
            .where(Project.state == BUREAU_STATE)
            .order_by(col(Project.entered_state_at), col(Project.id))
        )
    )
    ids = [_id(p) for p in projects_]
    files = {_id(p): DecisionFile(p, [], [], [], []) for p in projects_}
    if not ids:
        return []
    for member in session.exec(
        select(BoardMember)
        .where(col(BoardMember.project_id).in_(ids))
        .order_by(col(BoardMember.id))
    ):
        files[member.project_id].board.append(member)
    for document in session.exec(
        select(Document)
        .where(col(Document.project_id).in_(ids), col(Document.superseded_by_id).is_(None))
        .order_by(col(Document.uploaded_at), col(Document.id))
    ):
        files[document.project_id].documents.append(document)
    for recusal, user in session.exec(
        select(Recusal, User)
        .join(User, col(User.id) == Recusal.user_id)
        .where(col(Recusal.project_id).in_(ids))
        .order_by(col(Recusal.declared_at), col(Recusal.id))
    ):
        project = files[recusal.project_id].project
        if _is_current(project, recusal.pass_started_at):
            files[recusal.project_id].recusals.append(RecusalView(recusal, user, True))
    for decision in session.exec(
        select(Decision).where(col(Decision.project_id).in_(ids)).order_by(col(Decision.id))
    ):
        project = files[decision.project_id].project
        if decision.pass_started_at == project.entered_state_at:
            files[decision.project_id].decisions.append(decision)
    for report in session.exec(
        select(ExpertiseReport)
        .where(col(ExpertiseReport.project_id).in_(ids), ExpertiseReport.status == "soumis")
        .order_by(col(ExpertiseReport.id))
    ):
        files[report.project_id].expertise = report  # the latest one wins
    return list(files.values())
