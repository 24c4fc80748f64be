"""Bureau decisions: the deliberation on a project's current pass (meeting, votes, quorum,
recusals respected, outcome consistent with the vote), checked before anything is stored.

A decision is stored only once it is valid, so the `bureau_decision` criterion keeps meaning "a
decision for the current pass with that outcome".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.bureau import CANCELLED, HELD, recused_ids, users_by_id
from labelflow.errors import (
    AttendanceNotRecorded,
    Conflict,
    DomainError,
    Invalid,
    MeetingNotConvened,
    NoQuorum,
    OutcomeContradictsVote,
    RecusedVoter,
    WrongStep,
)
from labelflow.events import record_fact
from labelflow.french import plural
from labelflow.models import BureauMeeting, Decision, MeetingAttendee, Project, User, Vote, id_of
from labelflow.projects import at_bureau, bump
from labelflow.settings import Settings
from labelflow.workflow import Engine

VOTE_LABELS = {"pour": "pour", "contre": "contre", "abstention": "abstention"}
OUTCOME_LABELS = {
    "attribution": "attribution du label",
    "refus": "refus du label",
    "ajournement": "ajournement",
}


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


def vote_text(pour: int, contre: int, abstention: int) -> str:
    return f"{pour} pour, {contre} contre, {plural(abstention, 'abstention')}"


@dataclass(frozen=True)
class Deliberation:
    """A proposed decision with everything needed to judge it, already loaded. What the input
    left out or had refused is None (a page form with a field refused): the checks that need it
    are skipped, the others still run."""

    meeting: BureauMeeting | None
    entered_on: date  # when the project entered the Bureau's step (this pass)
    outcome: str | None
    motivation: str | None
    votes: Sequence[tuple[int, str]] | None  # (user id, vote)
    attendee_ids: set[int]
    recused: set[int]
    names: Mapping[int, str]
    quorum_fraction: float

    def name(self, uid: int) -> str:
        return self.names.get(uid, f"compte n° {uid}")


def deliberation_problems(d: Deliberation) -> list[DomainError]:
    """Why the deliberation cannot be recorded, most fundamental first (none: it can)."""
    problems: list[DomainError] = []
    if d.outcome is not None and d.outcome not in OUTCOME_LABELS:
        problems.append(Invalid(f"Décision inconnue « {d.outcome} ».", field="outcome"))
    if d.meeting is not None and d.meeting.held_on < d.entered_on:
        problems.append(
            Invalid(
                f"La réunion du {dates.french_date(d.meeting.held_on)} précède l'arrivée du "
                "projet à l'étape « Décision du Bureau » (le "
                f"{dates.french_date(d.entered_on)}) : choisissez une réunion tenue depuis.",
                field="meeting_id",
            )
        )
    if d.outcome in ("refus", "ajournement") and not d.motivation:
        problems.append(
            Invalid(
                "La motivation est requise pour un refus ou un ajournement "
                "(pour un ajournement : les recommandations du Bureau).",
                field="motivation",
            )
        )
    if d.votes is not None:
        problems += _vote_problems(d, d.votes)
    if d.meeting is not None:
        count = quorum(d.meeting, d.attendee_ids, d.recused, fraction=d.quorum_fraction)
        if not count.reached:
            problems.append(
                NoQuorum(
                    f"Quorum non atteint : {plural(count.present, 'présent')} sur "
                    f"{plural(count.members, 'membre non déporté', 'membres non déportés')} "
                    f"du Bureau ; il en faut au moins {count.required}.",
                    present=count.present,
                    members=count.members,
                    required=count.required,
                )
            )
    if d.meeting is not None and d.votes is not None:
        voter_ids = {uid for uid, _ in d.votes}
        missing = sorted(d.attendee_ids - d.recused - voter_ids, key=d.name)
        if missing:
            problems.append(
                Invalid(
                    "Indiquez le vote (pour, contre ou abstention) de chaque membre présent et "
                    f"non déporté : il manque celui de {', '.join(d.name(u) for u in missing)}.",
                    field="votes",
                )
            )
    if d.outcome is not None and d.votes is not None:
        problems += _outcome_problems(d.outcome, *_counts(d.votes))
    return problems


def _vote_problems(d: Deliberation, votes: Sequence[tuple[int, str]]) -> list[DomainError]:
    """Who may not vote: twice, recused, or absent from the meeting (when it is known)."""
    problems: list[DomainError] = []
    voter_ids = [uid for uid, _ in votes]
    twice = sorted({uid for uid in voter_ids if voter_ids.count(uid) > 1})
    if twice:
        who = ", ".join(d.name(u) for u in twice)
        problems.append(
            Invalid(f"Un seul vote par membre : {who} figure plusieurs fois.", field="votes")
        )
    recused_voters = [uid for uid in voter_ids if uid in d.recused]
    if recused_voters:
        who = ", ".join(d.name(u) for u in recused_voters)
        problems.append(
            RecusedVoter(
                f"{who} s'est déporté·e sur ce dossier : son vote ne peut pas être enregistré.",
                field="votes",
            )
        )
    absent = [uid for uid in voter_ids if uid not in d.attendee_ids]
    if d.meeting is not None and absent:
        problems.append(
            Invalid(
                "Seuls les membres présents à la réunion du "
                f"{dates.french_date(d.meeting.held_on)} votent : "
                f"{', '.join(d.name(u) for u in absent)} n'y étai(en)t pas.",
                field="votes",
            )
        )
    return problems


# The order in which a deliberation is read (and its form filled): which meeting, who voted
# what, the decision, its motivation.
FIELD_ORDER = ("meeting_id", "votes", "outcome", "motivation")


def _field_rank(problem: Mapping[str, str]) -> int:
    name = problem["field"].partition(".")[0]
    return FIELD_ORDER.index(name) if name in FIELD_ORDER else len(FIELD_ORDER)


def refusal(
    problems: Sequence[DomainError], *, refused: Sequence[Mapping[str, str]] = ()
) -> DomainError | None:
    """One refusal for every problem at once (none: nothing to refuse).

    A problem on a field makes it a 422 listing every field's problems in `fields` (the one
    problem itself, with its code, when it is alone), the others (the quorum) named beside
    them in `problems`; only when the fields are fine is it the 409 of the others, all named.
    `refused`: the `{field, message}` the input model already refused (a page form's), whose
    fields get no other problem.
    """
    taken = {f["field"].partition(".")[0] for f in refused}
    on_fields = [
        p
        for p in problems
        if p.extra.get("fields") and not {f["field"] for f in p.extra["fields"]} & taken
    ]
    others = [p for p in problems if not p.extra.get("fields")]
    listed = [{"code": p.code, "message": p.message} for p in others]
    error: DomainError
    if refused or on_fields:
        if not refused and len(on_fields) == 1:
            error = on_fields[0]
        else:
            fields = [dict(f) for f in refused] + [f for p in on_fields for f in p.extra["fields"]]
            collected = Invalid.collected(sorted(fields, key=_field_rank))
            assert collected is not None
            error = collected
    elif len(others) == 1:
        error = others[0]
    elif others:
        error = Conflict(" ".join(p.message for p in others))
    else:
        return None
    if listed:
        error.extra["problems"] = listed
    return error


def _outcome_problems(outcome: str, pour: int, contre: int, abstention: int) -> list[DomainError]:
    votes = vote_text(pour, contre, abstention)
    if outcome == "attribution" and pour <= contre:
        return [
            OutcomeContradictsVote(
                f"La décision « attribution du label » contredit le vote ({votes}) : "
                "l'attribution demande plus de voix pour que contre.",
                field="outcome",
            )
        ]
    if outcome == "refus" and contre <= pour:
        return [
            OutcomeContradictsVote(
                f"La décision « refus du label » contredit le vote ({votes}) : "
                "le refus demande plus de voix contre que pour.",
                field="outcome",
            )
        ]
    return []


def deliberate(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    meeting_id: int | None,
    outcome: str | None,
    motivation: str | None,
    votes: Sequence[tuple[int, str]] | None,
    settings: Settings,
    refused: Sequence[Mapping[str, str]] = (),
) -> Deliberation:
    """The deliberation on the project's current pass, loaded and judged: refused with every
    problem at once (`refusal`), nothing stored. None: a value left out or refused by the input
    model, whose problems (`refused`, a page form's) are refused with the others.

    Outside the Bureau's step there is no pass to judge the values against: that 409 comes
    before anything else.
    """
    if not at_bureau(engine, project):
        raise WrongStep(
            "Une décision du Bureau ne peut être enregistrée qu'à l'étape « Décision du Bureau ».",
        )
    deliberation = _deliberation(
        session,
        project=project,
        meeting_id=meeting_id,
        outcome=outcome,
        motivation=(motivation or "").strip() or None,
        votes=votes,
        fraction=settings.bureau_quorum_fraction,
    )
    # A meeting convened but not held (or cancelled) has no attendance to judge the votes and
    # the quorum against: that 409 comes before the rest.
    meeting = deliberation.meeting
    if meeting is not None and meeting.status != HELD:
        when = dates.french_date(meeting.held_on)
        if meeting.status == CANCELLED:
            raise MeetingNotConvened(
                f"La séance du {when} a été annulée : aucune décision ne peut y être prise."
            )
        raise AttendanceNotRecorded(
            f"La présence à la séance du {when} n'est pas encore enregistrée : enregistrez les "
            "membres présents et la présidence de séance avant la décision."
        )
    problems = deliberation_problems(deliberation)
    if meeting_id is not None and deliberation.meeting is None:
        problems.insert(0, Invalid("Cette réunion du Bureau est introuvable.", field="meeting_id"))
    error = refusal(problems, refused=refused)
    if error is not None:
        raise error
    return deliberation


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

    Refused, with nothing stored, for every one of `deliberation_problems` at once (a meeting
    before the pass, someone voting who was absent or recused, a present member's vote missing,
    no quorum, an outcome contradicting the vote).
    """
    deliberation = deliberate(
        session,
        engine=engine,
        project=project,
        meeting_id=meeting_id,
        outcome=outcome,
        motivation=motivation,
        votes=votes,
        settings=settings,
    )
    meeting = deliberation.meeting
    assert meeting is not None  # an unknown meeting is refused
    bump(session, project, if_match=if_match)
    decision = _store_decision(
        session, project=project, d=deliberation, meeting=meeting, outcome=outcome, votes=votes,
        actor=actor,
    )  # fmt: skip
    pour, contre, abstention = _counts(votes)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="decision",
        comment=deliberation.motivation,
        data={
            "id": decision.id,
            "outcome": outcome,
            "meeting_id": meeting_id,
            "meeting_on": meeting.held_on.isoformat(),
            "votes_for": pour,
            "votes_against": contre,
            "votes_abstain": abstention,
            "recused": sorted(deliberation.name(u) for u in deliberation.recused),
        },
    )
    return decision


def _deliberation(
    session: Session,
    *,
    project: Project,
    meeting_id: int | None,
    outcome: str | None,
    motivation: str | None,
    votes: Sequence[tuple[int, str]] | None,
    fraction: float,
) -> Deliberation:
    meeting = session.get(BureauMeeting, meeting_id) if meeting_id is not None else None
    attendee_ids: set[int] = set()
    if meeting is not None:
        attendee_ids = set(
            session.exec(
                select(MeetingAttendee.user_id).where(MeetingAttendee.meeting_id == meeting_id)
            )
        )
    recused = recused_ids(session, project=project)
    people = users_by_id(session, [*attendee_ids, *recused, *(uid for uid, _ in votes or ())])
    return Deliberation(
        meeting=meeting,
        entered_on=dates.paris_date(project.entered_state_at),
        outcome=outcome,
        motivation=motivation,
        votes=votes,
        attendee_ids=attendee_ids,
        recused=recused,
        names={uid: user.name for uid, user in people.items()},
        quorum_fraction=fraction,
    )


def _store_decision(
    session: Session,
    *,
    project: Project,
    d: Deliberation,
    meeting: BureauMeeting,
    outcome: str,
    votes: Sequence[tuple[int, str]],
    actor: Actor,
) -> Decision:
    pour, contre, abstention = _counts(votes)
    decision = Decision(
        project_id=id_of(project),
        meeting_id=id_of(meeting),
        meeting_on=meeting.held_on,
        outcome=outcome,
        motivation=d.motivation,
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
        session.add(Vote(decision_id=id_of(decision), user_id=uid, vote=value))
    session.flush()
    return decision


def list_decisions(session: Session, *, project: Project) -> Sequence[Decision]:
    return session.exec(
        select(Decision).where(Decision.project_id == project.id).order_by(col(Decision.id))
    ).all()


def list_votes(
    session: Session, decisions: Iterable[Decision]
) -> dict[int, list[tuple[int, str, str]]]:
    """(user id, name, vote) per decision, in one query."""
    ids = [id_of(d) for d in decisions]
    rows = session.exec(votes_query(col(Vote.decision_id).in_(ids))).all() if ids else []
    return votes_of(decisions, rows)


def votes_query(which: Any) -> Any:
    """The votes `which` selects, each with its voter, by the voter's name."""
    return (
        select(Vote, User)
        .join(User, col(User.id) == Vote.user_id)
        .where(which)
        .order_by(col(User.name), col(User.id))
    )


def votes_of(
    decisions: Iterable[Decision], rows: Iterable[tuple[Vote, User]]
) -> dict[int, list[tuple[int, str, str]]]:
    """`list_votes` from the votes of `votes_query` (those of other decisions left out)."""
    result: dict[int, list[tuple[int, str, str]]] = {id_of(d): [] for d in decisions}
    for vote, user in rows:
        if vote.decision_id in result:
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
