"""What each action of the main path needs, written as the people concerned would record it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from labelflow import assignments, bureau, dates, decisions, projects, records, reports
from labelflow.actors import Actor
from labelflow.demo.builder import Builder
from labelflow.schemas import (
    AssessmentIn,
    BoardMemberCreate,
    DeclarationIn,
    ProjectUpdate,
    ReportDraft,
)
from labelflow.settings import Settings


def needs(b: Builder, action: str) -> list[Callable[[], None]]:
    place, kind = b.s.place, b.s.kind
    third = "bailleur" if kind == "quartier" else "partenaire"
    territory = place.qpv[0] if place.qpv else place.communes[0][1]
    if action == "lancer_faisabilite":
        return [
            lambda: b.stakeholder("habitants", place.habitants),
            lambda: b.stakeholder("collectivite", place.collectivite),
            lambda: b.attestation(
                "portage_collectivite",
                f"{place.collectivite} inscrit le projet dans ses priorités et s'engage à "
                "financer l'étude de faisabilité.",
            ),
            lambda: b.stakeholder(third, place.third),
            lambda: b.document("note_cadrage", f"Note de cadrage – {territory}"),
            lambda: b.attestation(
                "convention_amo",
                "Convention d'accompagnement signée entre la collectivité et le Mouvement.",
            ),
        ]
    if action == "soumettre_validation":
        steps: list[Callable[[], None]] = [
            lambda: b.attestation(
                "visite_regie",
                f"Le groupe projet a passé une journée dans {place.regie_visited} : "
                "chantiers, conseil d'administration et échanges avec les salariés.",
            ),
        ]
        if b.rng.random() < 0.5:
            steps.append(
                lambda: b.document(
                    "etude_faisabilite",
                    "Étude de faisabilité – version provisoire",
                    review="rejected",
                    review_comment="Le volet modèle économique manque : chiffrer les marchés "
                    "envisagés et la part d'activités à prix de marché.",
                )
            )
        steps.append(lambda: b.document("etude_faisabilite", "Étude de faisabilité"))
        return steps
    if action == "valider_projet":
        engagement = "engagement_bailleur" if kind == "quartier" else "engagement_partenaires"
        return [
            lambda: b.document(
                "deliberation_collectivite",
                f"Délibération – {place.collectivite}",
                by=b.staff,
            ),
            lambda: b.document(
                "validation_habitants",
                "Compte rendu de la réunion publique des habitants",
            ),
            lambda: b.document(engagement, f"Lettre d'engagement – {place.third}"),
        ]
    if action == "demander_expertise":
        return [
            lambda: create_association(b),
            lambda: b.document("statuts", "Statuts de l'association de préfiguration"),
            lambda: b.document("recepisse_prefecture", "Récépissé de déclaration"),
            lambda: elect_board(b),
            lambda: recruit(b),
            lambda: assign_consultant(b),
        ]
    if action == "transmettre_bureau":
        # The assigned consultant writes the structured report, attaches an annex, submits.
        return [
            lambda: draft_report(b),
            lambda: b.document(
                "annexe_expertise", "Comptes rendus des entretiens", by=b.consultant
            ),
            lambda: submit_report(b),
        ]
    return []


def draft_report(b: Builder) -> None:
    grid = reports.grid_of(b.engine, b.p)
    notes = {
        "satisfaisant": "Constaté lors de la visite et confirmé par les entretiens.",
        "a_consolider": "Engagé, mais à consolider dans les mois qui viennent.",
    }
    assessments = {}
    for criterion in grid.criteria():
        value = "a_consolider" if b.rng.random() < 0.2 else "satisfaisant"
        assessments[criterion.key] = AssessmentIn(assessment=value, comment=notes[value])
    reserves = any(a.assessment == "a_consolider" for a in assessments.values())

    def call() -> None:
        visited = dates.today() - timedelta(days=6)
        data = ReportDraft(
            assessments=assessments,
            visit_dates=[visited, visited + timedelta(days=1)],
            people_met="La présidente et le trésorier de l'association, le ou la chargé·e "
            "de mission, trois salarié·es en insertion, l'élu·e référent·e.",
            recommendation="favorable_avec_reserves" if reserves else "favorable",
            recommendations_text="Poursuivre l'ouverture du conseil d'administration aux "
            "habitants et diversifier les marchés.",
        )
        reports.save_report_draft(
            b.session,
            engine=b.engine,
            project=b.p,
            actor=b.consultant,
            data=data,
            if_match=None,
        )

    b.at(b.day, call)


def submit_report(b: Builder) -> None:
    b.at(
        b.day,
        lambda: reports.submit_report(
            b.session,
            engine=b.engine,
            project=b.p,
            actor=b.consultant,
            if_match=None,
        ),
    )


def create_association(b: Builder) -> None:
    insee = b.s.place.communes[0][0]
    short = b.s.name.replace("Régie de quartier", "Régie").replace("Régie de Territoire", "Régie")

    def call() -> None:
        data = ProjectUpdate(
            association_name=f"Association de préfiguration {short}",
            rna_number=f"W{insee[:2]}{b.rng.randint(0, 9)}{b.rng.randint(0, 999999):06d}",
            association_created_on=dates.today() - timedelta(days=12),
        )
        projects.update_project(
            b.session,
            project=b.p,
            data=data,
            actor=b.staff,
            if_match=None,
            engine=b.engine,
        )

    b.at(b.day, call)


def recruit(b: Builder) -> None:
    def call() -> None:
        data = ProjectUpdate(charge_mission_recruited_on=dates.today() - timedelta(days=3))
        projects.update_project(
            b.session,
            project=b.p,
            data=data,
            actor=b.staff,
            if_match=None,
            engine=b.engine,
        )

    b.at(b.day, call)


def elect_board(b: Builder) -> None:
    third = "bailleur" if b.s.kind == "quartier" else "partenaire"
    colleges = ["habitants"] * b.rng.randint(4, 5) + ["collectivite", third]
    if b.s.kind == "territoire":
        colleges.append("collectivite")

    def call() -> None:
        for i, college in enumerate(colleges):
            data = BoardMemberCreate(name=b.person(), college=college, is_president=i == 0)
            records.create_board_member(
                b.session,
                engine=b.engine,
                project=b.p,
                data=data,
                actor=b.staff,
                if_match=None,
            )

    b.at(b.day, call)


def assign_consultant(b: Builder) -> None:
    """Staff assign the consultant, who declares no link with any stakeholder; in the
    scenario with a conflict, another consultant first declares a link and is refused."""
    if b.s.conflict:
        other = next(c for c in b.people.consultants if c != b.consultant)
        _assign_and_declare(b, other, linked=b.s.place.collectivite)
    _assign_and_declare(b, b.consultant, linked=None)


def _assign_and_declare(b: Builder, consultant: Actor, *, linked: str | None) -> None:
    assignment = b.at(
        b.day,
        lambda: assignments.assign_consultant(
            b.session,
            engine=b.engine,
            project=b.p,
            consultant_id=consultant.user_id or 0,
            actor=b.staff,
            if_match=None,
        ),
    )

    def declare() -> None:
        stakeholders = records.list_stakeholders(b.session, project=b.p)
        assignments.declare_independence(
            b.session,
            engine=b.engine,
            assignment=assignment,
            actor=consultant,
            declarations=[
                DeclarationIn(
                    stakeholder_id=s.id or 0,
                    has_link=s.name == linked,
                    details=(
                        "J'ai conduit en 2024 une mission d'évaluation de la politique de "
                        "la ville pour cette collectivité."
                        if s.name == linked
                        else None
                    ),
                )
                for s in stakeholders
            ],
        )

    b.at(b.day, declare)


def decide(b: Builder, outcome: str, fired: int, entered: int, motivation: str | None) -> None:
    """The Bureau meets (all but one member present), a member withdraws when the label is
    refused, and those present vote as the outcome needs."""
    meeting_day = b.working_day(max(fired + 3, (entered + fired) // 2), after=entered, before=fired)
    members = b.people.bureau
    present = members[:-1]
    recused = members[1] if outcome == "refus" and len(members) > 2 else None
    ballots = {
        "attribution": ["pour", "pour", "abstention", "pour"],
        "refus": ["contre", "pour", "contre", "contre"],
        "ajournement": ["abstention", "pour", "contre", "abstention"],
    }[outcome]

    def call() -> None:
        if recused is not None:
            bureau.declare_recusal(
                b.session,
                engine=b.engine,
                project=b.p,
                user_id=recused.user_id,
                reason="Administratrice du bailleur social partenaire du projet.",
                actor=recused,
            )
        meeting = bureau.create_meeting(
            b.session,
            engine=b.engine,
            held_on=dates.today(),
            attendee_ids=[m.user_id or 0 for m in present],
            chair_id=present[0].user_id,
            notes=None,
            actor=b.staff,
        )
        votes = [
            (m.user_id or 0, ballots[i % len(ballots)])
            for i, m in enumerate(present)
            if m is not recused
        ]
        decisions.record_decision(
            b.session,
            engine=b.engine,
            project=b.p,
            meeting_id=meeting.id or 0,
            outcome=outcome,
            motivation=motivation,
            votes=votes,
            actor=b.staff,
            settings=Settings.model_construct(),  # defaults: the usual quorum
            if_match=None,
        )

    b.at(meeting_day, call)


# the whole story
