"""What staff record on a project: stakeholders, board, attestations, deadlines.

The consultant in charge of the expertise is assigned through `assignments`, the Bureau's
decisions are recorded through `bureau`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from labelflow import dates
from labelflow.actors import Actor
from labelflow.errors import (
    Invalid,
    NotFound,
)
from labelflow.events import record_fact
from labelflow.models import Attestation, BoardMember, Project, Stakeholder, id_of
from labelflow.projects import bump, definition_of, require_open
from labelflow.schemas import (
    AttestationCreate,
    BoardMemberCreate,
    StakeholderCreate,
)
from labelflow.workflow import Engine


def list_stakeholders(session: Session, *, project: Project) -> Sequence[Stakeholder]:
    return session.exec(
        select(Stakeholder)
        .where(Stakeholder.project_id == project.id)
        .order_by(col(Stakeholder.id))
    ).all()


def create_stakeholder(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    data: StakeholderCreate,
    actor: Actor,
    if_match: int | None,
) -> Stakeholder:
    require_open(engine, project)
    bump(session, project, if_match=if_match)
    stakeholder = Stakeholder(
        project_id=id_of(project), created_at=dates.now(), **data.model_dump()
    )
    session.add(stakeholder)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="partie_prenante",
        data={
            "op": "ajout",
            "id": stakeholder.id,
            "name": data.name,
            "college": data.college,
            "engaged_on": data.engaged_on.isoformat() if data.engaged_on else None,
        },
    )
    return stakeholder


def delete_stakeholder(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    stakeholder_id: int,
    actor: Actor,
    if_match: int | None,
) -> None:
    require_open(engine, project)
    stakeholder = session.get(Stakeholder, stakeholder_id)
    if stakeholder is None or stakeholder.project_id != project.id:
        raise NotFound("Cette partie prenante est introuvable.")
    bump(session, project, if_match=if_match)
    session.delete(stakeholder)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="partie_prenante",
        data={
            "op": "retrait",
            "id": stakeholder_id,
            "name": stakeholder.name,
            "college": stakeholder.college,
        },
    )


def list_board_members(session: Session, *, project: Project) -> Sequence[BoardMember]:
    return session.exec(
        select(BoardMember)
        .where(BoardMember.project_id == project.id)
        .order_by(col(BoardMember.id))
    ).all()


def create_board_member(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    data: BoardMemberCreate,
    actor: Actor,
    if_match: int | None,
) -> BoardMember:
    require_open(engine, project)
    if data.is_president and any(
        m.is_president for m in list_board_members(session, project=project)
    ):
        raise Invalid(
            "Le conseil d'administration a déjà un·e président·e : retirez-le ou la d'abord.",
            field="is_president",
        )
    bump(session, project, if_match=if_match)
    member = BoardMember(project_id=id_of(project), created_at=dates.now(), **data.model_dump())
    session.add(member)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="membre_ca",
        data={
            "op": "ajout",
            "id": member.id,
            "name": data.name,
            "college": data.college,
            "is_president": data.is_president,
        },
    )
    return member


def delete_board_member(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    member_id: int,
    actor: Actor,
    if_match: int | None,
) -> None:
    require_open(engine, project)
    member = session.get(BoardMember, member_id)
    if member is None or member.project_id != project.id:
        raise NotFound("Ce membre du conseil d'administration est introuvable.")
    bump(session, project, if_match=if_match)
    session.delete(member)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="membre_ca",
        data={"op": "retrait", "id": member_id, "name": member.name, "college": member.college},
    )


def list_attestations(session: Session, *, project: Project) -> Sequence[Attestation]:
    return session.exec(
        select(Attestation)
        .where(Attestation.project_id == project.id)
        .order_by(col(Attestation.id))
    ).all()


def create_attestation(
    session: Session,
    *,
    engine: Engine,
    project: Project,
    data: AttestationCreate,
    actor: Actor,
    if_match: int | None,
) -> Attestation:
    require_open(engine, project)
    definition = definition_of(engine, project)
    if definition.attestation(data.code) is None:
        known = ", ".join(a.key for a in definition.attestations)
        raise Invalid(f"Attestation inconnue « {data.code} » (attendues : {known}).", field="code")
    if data.date > dates.today():
        raise Invalid("La date d'une attestation ne peut pas être dans le futur.", field="date")
    bump(session, project, if_match=if_match)
    attestation = Attestation(
        project_id=id_of(project),
        code=data.code,
        attested_on=data.date,
        comment=data.comment,
        recorded_by=actor.name,
        recorded_at=dates.now(),
    )
    session.add(attestation)
    session.flush()
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="attestation",
        comment=data.comment,
        data={"id": attestation.id, "code": data.code, "date": data.date.isoformat()},
    )
    return attestation
