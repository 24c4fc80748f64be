"""The Bureau: its members, meetings, recusals (déports), votes and decisions, and its agenda
(what a decision does once staff apply it is in `labelflow.label`).

The Bureau is the set of active accounts with the role `bureau`. A decision is stored only once
it is valid (meeting attended by the project's pass, quorum reached, no recused member voting,
outcome consistent with the vote), so the `bureau_decision` criterion keeps meaning "a decision
for the current pass with that outcome".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.errors import (
    AlreadyRecused,
    Forbidden,
    Invalid,
    NotFound,
    WrongStep,
)
from labelflow.events import record_fact
from labelflow.models import (
    BoardMember,
    BureauMeeting,
    Decision,
    Document,
    ExpertiseReport,
    MeetingAttendee,
    Project,
    Recusal,
    User,
    id_of,
)
from labelflow.permissions import readable_documents_clause
from labelflow.projects import at_bureau, at_bureau_clause, bump, visibility_clause
from labelflow.workflow import Engine

BUREAU_ROLE = "bureau"


# --- members ----------------------------------------------------------------------------------


def list_bureau_members(session: Session) -> list[User]:
    """The Bureau today: active accounts with the role `bureau`, by name."""
    return list(
        session.exec(
            select(User)
            .where(User.role == BUREAU_ROLE, col(User.active).is_(True))
            .order_by(col(User.name), col(User.id))
        )
    )


def users_by_id(session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {id_of(u): u for u in session.exec(select(User).where(col(User.id).in_(wanted)))}


# --- meetings ---------------------------------------------------------------------------------


@dataclass
class MeetingView:
    meeting: BureauMeeting
    chair: User | None
    attendees: list[User]
    decisions: list[tuple[Decision, Project]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return id_of(self.meeting)


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
    bureau = {id_of(u): u for u in list_bureau_members(session)}
    present = list(dict.fromkeys(attendee_ids))
    if not present:
        raise Invalid("Cochez les membres du Bureau présents.", field="attendee_ids")
    strangers = [i for i in present if i not in bureau]
    if strangers:
        known = users_by_id(session, strangers)
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
        session.add(MeetingAttendee(meeting_id=id_of(meeting), user_id=user_id))
    session.flush()
    record_fact(
        session,
        actor=actor,
        kind="reunion",
        at=meeting.created_at,
        data={
            "meeting_id": meeting.id,
            "held_on": held_on.isoformat(),
            "attendee_ids": present,
            "chair_id": chair_id,
        },
    )
    return meeting


def _meeting_views(
    session: Session,
    meetings: Sequence[BureauMeeting],
    *,
    engine: Engine,
    actor: Actor | None,
) -> list[MeetingView]:
    """Meetings with their chair, attendees and decisions: three queries, whatever the count."""
    ids = [id_of(m) for m in meetings]
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
    chairs = users_by_id(session, (m.chair_id for m in meetings if m.chair_id))
    decided: dict[int, list[tuple[Decision, Project]]] = {i: [] for i in ids}
    if actor is not None:
        query = (
            select(Decision, Project)
            .join(Project, col(Project.id) == Decision.project_id)
            .where(col(Decision.meeting_id).in_(ids))
            .order_by(col(Decision.id))
        )
        visible = visibility_clause(actor, engine)
        if visible is not None:
            query = query.where(visible)
        for decision, project in session.exec(query):
            assert decision.meeting_id is not None
            decided[decision.meeting_id].append((decision, project))
    return [
        MeetingView(
            m,
            chairs.get(m.chair_id) if m.chair_id else None,
            attendees[id_of(m)],
            decided[id_of(m)],
        )
        for m in meetings
    ]


def list_meetings(
    session: Session, *, engine: Engine, actor: Actor | None = None
) -> list[MeetingView]:
    """Every meeting, latest first (decisions: those on projects `actor` may see)."""
    meetings = session.exec(
        select(BureauMeeting).order_by(
            col(BureauMeeting.held_on).desc(), col(BureauMeeting.id).desc()
        )
    ).all()
    return _meeting_views(session, meetings, engine=engine, actor=actor)


def get_meeting(
    session: Session, *, engine: Engine, meeting_id: int, actor: Actor | None = None
) -> MeetingView:
    meeting = session.get(BureauMeeting, meeting_id)
    if meeting is None:
        raise NotFound("Cette réunion du Bureau est introuvable.")
    return _meeting_views(session, [meeting], engine=engine, actor=actor)[0]


def list_meetings_for(session: Session, *, engine: Engine, project: Project) -> list[MeetingView]:
    """The meetings that may deliberate on the project: held since it entered the Bureau step."""
    if not at_bureau(engine, project):
        return []
    since = dates.paris_date(project.entered_state_at)
    meetings = session.exec(
        select(BureauMeeting)
        .where(col(BureauMeeting.held_on) >= since)
        .order_by(col(BureauMeeting.held_on).desc(), col(BureauMeeting.id).desc())
    ).all()
    return _meeting_views(session, meetings, engine=engine, actor=None)


# --- recusals ---------------------------------------------------------------------------------


@dataclass
class RecusalView:
    recusal: Recusal
    user: User
    current: bool


def list_recusals(session: Session, *, engine: Engine, project: Project) -> list[RecusalView]:
    """Every recusal declared on the project (`current`: for its present pass at the Bureau)."""
    rows = session.exec(
        select(Recusal, User)
        .join(User, col(User.id) == Recusal.user_id)
        .where(Recusal.project_id == project.id)
        .order_by(col(Recusal.declared_at), col(Recusal.id))
    ).all()
    current = at_bureau(engine, project)
    return [
        RecusalView(r, u, current and r.pass_started_at == project.entered_state_at)
        for r, u in rows
    ]


def recused_ids(session: Session, *, project: Project) -> set[int]:
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
    engine: Engine,
    project: Project,
    user_id: int | None,
    reason: str,
    actor: Actor,
) -> Recusal:
    """A Bureau member withdraws from the deliberation on the project's current pass: their own
    declaration, or staff's on their behalf."""
    if not at_bureau(engine, project):
        raise WrongStep(
            "Un déport se déclare pendant l'étape « Décision du Bureau ».",
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
    if id_of(member) in recused_ids(session, project=project):
        raise AlreadyRecused(f"{member.name} s'est déjà déporté·e sur ce dossier.")
    bump(session, project, if_match=None)
    recusal = Recusal(
        project_id=id_of(project),
        user_id=id_of(member),
        pass_started_at=project.entered_state_at,
        reason=reason,
        declared_by=actor.name,
        declared_at=dates.now(),
    )
    session.add(recusal)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="deport",
        comment=reason,
        data={"id": recusal.id, "user_id": member.id, "name": member.name},
    )
    return recusal


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


def list_decision_files(
    session: Session, *, engine: Engine, actor: Actor | None = None
) -> list[DecisionFile]:
    """Projects at the Bureau step, longest waiting first, each with what the Bureau reads
    (the documents `actor` may read, when given): a fixed number of queries, whatever the
    number of projects."""
    projects_ = list(
        session.exec(
            select(Project)
            .where(at_bureau_clause(engine))
            .order_by(col(Project.entered_state_at), col(Project.id))
        )
    )
    ids = [id_of(p) for p in projects_]
    files = {id_of(p): DecisionFile(p, [], [], [], []) for p in projects_}
    if not ids:
        return []
    for member in session.exec(
        select(BoardMember)
        .where(col(BoardMember.project_id).in_(ids))
        .order_by(col(BoardMember.id))
    ):
        files[member.project_id].board.append(member)
    shown = select(Document).where(
        col(Document.project_id).in_(ids), col(Document.superseded_by_id).is_(None)
    )
    readable = readable_documents_clause(actor) if actor is not None else None
    if readable is not None:
        shown = shown.where(readable)
    for document in session.exec(shown.order_by(col(Document.uploaded_at), col(Document.id))):
        files[document.project_id].documents.append(document)
    for recusal, user in session.exec(
        select(Recusal, User)
        .join(User, col(User.id) == Recusal.user_id)
        .where(col(Recusal.project_id).in_(ids))
        .order_by(col(Recusal.declared_at), col(Recusal.id))
    ):
        project = files[recusal.project_id].project
        if recusal.pass_started_at == project.entered_state_at:
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
