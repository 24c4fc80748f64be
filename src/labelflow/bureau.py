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
    MeetingNotConvened,
    MeetingNotYetHeld,
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
    MeetingAgendaItem,
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


CONVENED, HELD, CANCELLED = "convoquee", "tenue", "annulee"
MEETING_STATUS_LABELS = {CONVENED: "Convoquée", HELD: "Tenue", CANCELLED: "Annulée"}


@dataclass
class MeetingView:
    meeting: BureauMeeting
    chair: User | None
    attendees: list[User]
    decisions: list[tuple[Decision, Project]] = field(default_factory=list)
    agenda: list[Project] = field(default_factory=list)

    @property
    def id(self) -> int:
        return id_of(self.meeting)


def decision_file_url(project: Project) -> str:
    """The project's decision file on the Bureau's agenda page."""
    return f"/bureau#dossier-{project.id}"


def _check_attendance(
    session: Session, *, attendee_ids: Sequence[int], chair_id: int | None
) -> tuple[list[int], dict[int, User]]:
    """Who was there (active Bureau members, at least one) and the chair among them."""
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
    return present, bureau


def _check_agenda(
    session: Session, *, engine: Engine, project_ids: Sequence[int] | None, convening: bool
) -> list[Project]:
    """The agenda: projects at the Bureau's step, in the order given (omitted when convening:
    every one waiting there, longest waiting first)."""
    waiting = list(
        session.exec(
            select(Project)
            .where(at_bureau_clause(engine))
            .order_by(col(Project.entered_state_at), col(Project.id))
        )
    )
    if project_ids is None:
        chosen = waiting if convening else []
    else:
        by_id = {id_of(p): p for p in waiting}
        wanted = list(dict.fromkeys(project_ids))
        missing = [str(i) for i in wanted if i not in by_id]
        if missing:
            raise Invalid(
                "L'ordre du jour ne porte que des projets à l'étape « Décision du Bureau » : "
                f"{', '.join(missing)} n'y est pas.",
                field="project_ids",
            )
        chosen = [by_id[i] for i in wanted]
    if convening and not chosen:
        raise Invalid(
            "Aucun dossier n'est inscrit à l'ordre du jour : une séance se convoque pour les "
            "projets à l'étape « Décision du Bureau ».",
            field="project_ids",
        )
    return chosen


def _meeting_fact(
    session: Session, *, meeting: BureauMeeting, op: str, actor: Actor, **data: object
) -> None:
    record_fact(
        session,
        actor=actor,
        kind="reunion",
        at=dates.now(),
        comment=str(data.pop("comment", "") or "") or None,
        data={"meeting_id": meeting.id, "op": op, "held_on": meeting.held_on.isoformat(), **data},
    )


def create_meeting(
    session: Session,
    *,
    engine: Engine,
    held_on: date,
    attendee_ids: Sequence[int],
    chair_id: int | None,
    notes: str | None,
    actor: Actor,
    project_ids: Sequence[int] | None = None,
) -> BureauMeeting:
    """A meeting held (today or past: who was there, who chaired it), recorded after the fact
    and told to no one; or one convened ahead (a future date, no attendees yet, an agenda):
    every active Bureau member is told (`notifications.on_meeting`)."""
    convening = held_on > dates.today()
    if convening and (attendee_ids or chair_id is not None):
        raise Invalid(
            "Une séance à venir se convoque sans présents ni présidence : ils s'enregistrent "
            "le jour où elle se tient.",
            field="held_on",
        )
    if convening:
        bureau = {id_of(u): u for u in list_bureau_members(session)}
        present: list[int] = []
    else:
        present, bureau = _check_attendance(session, attendee_ids=attendee_ids, chair_id=chair_id)
    agenda = _check_agenda(session, engine=engine, project_ids=project_ids, convening=convening)
    if convening and not bureau:
        raise Invalid(
            "Aucun membre actif du Bureau à convoquer : créez d'abord leurs comptes.",
            field="held_on",
        )
    meeting = BureauMeeting(
        held_on=held_on,
        chair_id=chair_id,
        bureau_size=len(bureau),
        notes=(notes or "").strip() or None,
        created_by=actor.name,
        created_at=dates.now(),
        status=CONVENED if convening else HELD,
    )
    session.add(meeting)
    session.flush()
    for user_id in present:
        session.add(MeetingAttendee(meeting_id=id_of(meeting), user_id=user_id))
    for project in agenda:
        session.add(MeetingAgendaItem(meeting_id=id_of(meeting), project_id=id_of(project)))
    session.flush()
    _meeting_fact(
        session,
        meeting=meeting,
        op="convocation" if convening else "tenue",
        actor=actor,
        attendee_ids=present,
        chair_id=chair_id,
        project_ids=[p.id for p in agenda],
    )
    return meeting


def _convened(session: Session, meeting_id: int, *, doing: str) -> BureauMeeting:
    meeting = session.get(BureauMeeting, meeting_id)
    if meeting is None:
        raise NotFound("Cette réunion du Bureau est introuvable.")
    if meeting.status != CONVENED:
        when = dates.french_date(meeting.held_on)
        what = "a été annulée" if meeting.status == CANCELLED else "s'est tenue"
        raise MeetingNotConvened(f"La séance du {when} {what} : elle ne peut plus être {doing}.")
    return meeting


def move_meeting(
    session: Session, *, meeting_id: int, held_on: date, reason: str | None, actor: Actor
) -> BureauMeeting:
    """A convened meeting moved to another future day: the Bureau's members are told again."""
    meeting = _convened(session, meeting_id, doing="déplacée")
    if held_on <= dates.today():
        raise Invalid(
            "Une séance convoquée se déplace à une date à venir (pour une séance tenue, "
            "enregistrez sa présence).",
            field="held_on",
        )
    if held_on == meeting.held_on:
        raise Invalid(f"La séance est déjà fixée au {dates.french_date(held_on)}.", field="held_on")
    moved_from = meeting.held_on
    meeting.held_on = held_on
    session.add(meeting)
    session.flush()
    _meeting_fact(
        session,
        meeting=meeting,
        op="deplacement",
        actor=actor,
        moved_from=moved_from.isoformat(),
        comment=(reason or "").strip(),
    )
    return meeting


def cancel_meeting(
    session: Session, *, meeting_id: int, reason: str, actor: Actor
) -> BureauMeeting:
    """A convened meeting cancelled (with a reason): the Bureau's members are told."""
    meeting = _convened(session, meeting_id, doing="annulée")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Indiquez la raison de l'annulation.", field="reason")
    meeting.status = CANCELLED
    meeting.cancel_reason = reason
    session.add(meeting)
    session.flush()
    _meeting_fact(session, meeting=meeting, op="annulation", actor=actor, comment=reason)
    return meeting


def record_attendance(
    session: Session,
    *,
    meeting_id: int,
    attendee_ids: Sequence[int],
    chair_id: int | None,
    notes: str | None,
    actor: Actor,
) -> BureauMeeting:
    """A convened meeting held: who was there and who chaired it, recorded on the day or after,
    before any decision is taken at it. The Bureau's size is counted again that day."""
    meeting = _convened(session, meeting_id, doing="tenue une seconde fois")
    if meeting.held_on > dates.today():
        raise MeetingNotYetHeld(
            f"La séance du {dates.french_date(meeting.held_on)} n'a pas encore eu lieu : sa "
            "présence s'enregistre le jour où elle se tient (ou déplacez-la)."
        )
    present, bureau = _check_attendance(session, attendee_ids=attendee_ids, chair_id=chair_id)
    meeting.status = HELD
    meeting.chair_id = chair_id
    meeting.bureau_size = len(bureau)
    if notes and notes.strip():
        meeting.notes = notes.strip()
    session.add(meeting)
    for user_id in present:
        session.add(MeetingAttendee(meeting_id=id_of(meeting), user_id=user_id))
    session.flush()
    _meeting_fact(
        session,
        meeting=meeting,
        op="presence",
        actor=actor,
        attendee_ids=present,
        chair_id=chair_id,
    )
    return meeting


def _meeting_views(
    session: Session,
    meetings: Sequence[BureauMeeting],
    *,
    engine: Engine,
    actor: Actor | None,
) -> list[MeetingView]:
    """Meetings with their chair, attendees, agenda and decisions: four queries, whatever the
    count."""
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
    agendas: dict[int, list[Project]] = {i: [] for i in ids}
    for item, project in session.exec(
        select(MeetingAgendaItem, Project)
        .join(Project, col(Project.id) == MeetingAgendaItem.project_id)
        .where(col(MeetingAgendaItem.meeting_id).in_(ids))
        .order_by(col(MeetingAgendaItem.id))
    ):
        agendas[item.meeting_id].append(project)
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
            agendas[id_of(m)],
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
    """The meetings that may deliberate on the project: held (their attendance recorded) since
    it entered the Bureau step."""
    if not at_bureau(engine, project):
        return []
    since = dates.paris_date(project.entered_state_at)
    meetings = session.exec(
        select(BureauMeeting)
        .where(col(BureauMeeting.held_on) >= since, BureauMeeting.status == HELD)
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
