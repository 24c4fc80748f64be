"""Criterion checks: each kind of the workflow definitions, evaluated on stored facts.

A check returns the list of what is missing (empty when met), one entry per missing item, so
the API and the pages can show the porteur's full checklist rather than the first failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from labelflow.governance import governance_of
from labelflow.models import (
    Attestation,
    BoardMember,
    Deadline,
    Decision,
    Document,
    ExpertiseReport,
    Project,
    Stakeholder,
    StepPass,
    User,
)
from labelflow.schemas import RNA_PATTERN, DoneBy
from labelflow.workflow import (
    COLLEGE_LABELS,
    KNOWN_FIELDS,
    Criterion,
    CriterionKind,
    WorkflowDefinition,
)

OUTCOME_LABELS = {
    "attribution": "attribution du label",
    "refus": "refus",
    "ajournement": "ajournement",
}


# Who does what a criterion asks for, by its kind: the documents are the porteur's to give; the
# national team records the rest of the file and designates the consultant, who writes the report;
# the Bureau decides.
DONE_BY: dict[CriterionKind, DoneBy] = {
    "document": "porteur",
    "stakeholders": "equipe",
    "attestation": "equipe",
    "field": "equipe",
    "governance": "equipe",
    "consultant_assigned": "equipe",
    "expertise_report": "consultant",
    "bureau_decision": "bureau",
}


@dataclass(frozen=True)
class Unmet:
    code: str
    message: str
    by: DoneBy = "equipe"  # who does it (`DONE_BY`, unless the check knows better)
    by_check: bool = field(default=False, compare=False)  # `by` set by the check itself


@dataclass
class Facts:
    """Everything the criteria look at, loaded once per evaluation (a fixed number of queries)."""

    project: Project
    definition: WorkflowDefinition
    today: date
    stakeholders: list[Stakeholder] = field(default_factory=list)
    board: list[BoardMember] = field(default_factory=list)
    attestations: list[Attestation] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)  # current ones: not superseded
    decisions: list[Decision] = field(default_factory=list)
    consultant: User | None = None
    report: ExpertiseReport | None = None  # the project's latest expertise report
    # Oldest first (created_at, id): no criterion reads them, the project's JSON does.
    deadlines: list[Deadline] = field(default_factory=list)
    # Neither: what the project's view shows, loaded with the rest (`projects.load_facts`).
    open_pass: StepPass | None = None
    staff_owner: User | None = None
    people: dict[int, User] = field(default_factory=dict)  # the milestones' persons, by id


Check = Callable[[Criterion, Facts], list[Unmet]]


def _stakeholders(criterion: Criterion, facts: Facts) -> list[Unmet]:
    engaged = {
        s.college for s in facts.stakeholders if s.engaged_on and s.engaged_on <= facts.today
    }
    return [
        Unmet(
            f"partie_prenante_{college}",
            f"Il manque une partie prenante engagée du collège « {COLLEGE_LABELS[college]} ».",
        )
        for college in criterion.colleges
        if college not in engaged
    ]


DocumentState = Literal["attendue", "deposee", "acceptee", "refusee"]


@dataclass(frozen=True)
class DocumentStatus:
    """Where a step's expected document stands: `attendue`, `deposee` (given, awaiting
    review), `acceptee` or `refusee` (with the reviewer's `reason`)."""

    status: DocumentState
    documents: list[Document]
    reason: str | None = None


def document_status(documents: list[Document], doc_type: str, *, multiple: bool) -> DocumentStatus:
    """From the current (not superseded) documents: the latest one of the type, or all of them
    when several are allowed (one refused is enough to ask for a correction)."""
    mine = sorted(
        (d for d in documents if d.type == doc_type), key=lambda d: (d.uploaded_at, d.id or 0)
    )
    if not multiple:
        mine = mine[-1:]
    if not mine:
        return DocumentStatus("attendue", [])
    refused = [d for d in mine if d.review_status == "rejected"]
    if refused:
        return DocumentStatus("refusee", mine, refused[-1].review_comment)
    if all(d.review_status == "accepted" for d in mine):
        return DocumentStatus("acceptee", mine)
    return DocumentStatus("deposee", mine)


def _document(criterion: Criterion, facts: Facts) -> list[Unmet]:
    assert criterion.type is not None
    doc_type = criterion.type
    doc_def = facts.definition.document_type(doc_type)
    label = doc_def.label if doc_def else doc_type
    # How the current step expects it; a document no step lists needs only to be given.
    expected = facts.definition.expected_document(facts.project.state, doc_type)
    needs = expected.needs if expected else "given"
    status = document_status(
        facts.documents, doc_type, multiple=expected.multiple if expected else False
    )
    code = f"document_{doc_type}"
    if status.status == "attendue":
        return [Unmet(code, f"Il manque la pièce « {label} ».")]
    if status.status == "refusee":
        return [
            Unmet(code, f"La pièce « {label} » a été refusée : une nouvelle version est attendue.")
        ]
    if needs == "accepted" and status.status == "deposee":
        return [
            Unmet(
                code,
                f"La pièce « {label} » attend d'être acceptée par l'équipe nationale.",
                by="equipe",
                by_check=True,
            )
        ]
    return []


def _attestation(criterion: Criterion, facts: Facts) -> list[Unmet]:
    if any(a.code == criterion.code for a in facts.attestations):
        return []
    assert criterion.code is not None
    att = facts.definition.attestation(criterion.code)
    label = att.label if att else criterion.code
    return [Unmet(f"attestation_{criterion.code}", f"Il manque l'attestation « {label} ».")]


def _field(criterion: Criterion, facts: Facts) -> list[Unmet]:
    name = criterion.field
    assert name is not None
    label = KNOWN_FIELDS[name]
    value = getattr(facts.project, name)
    code = f"champ_{name}"
    if value is None or value == "":
        return [Unmet(code, f"Le champ « {label} » n'est pas renseigné.")]
    if name == "rna_number" and not RNA_PATTERN.match(str(value)):
        return [Unmet(code, f"Le {label} « {value} » n'est pas valide (W suivi de 9 chiffres).")]
    if isinstance(value, date) and value > facts.today:
        return [Unmet(code, f"La {label} est dans le futur.")]
    return []


def _governance(criterion: Criterion, facts: Facts) -> list[Unmet]:
    if not facts.board:
        return [
            Unmet(
                "gouvernance_conseil",
                "La composition du conseil d'administration n'est pas renseignée.",
            )
        ]
    unmet = []
    rule = governance_of(facts.board)
    if not rule.habitants_majority:
        unmet.append(
            Unmet(
                "gouvernance_majorite_habitants",
                f"Les habitants n'ont pas la majorité du conseil d'administration "
                f"({rule.habitants} sur {rule.members} membres).",
            )
        )
    if len(rule.presidents) != 1:
        message = (
            "Aucun·e président·e n'est désigné·e au conseil d'administration."
            if not rule.presidents
            else "Plusieurs membres du conseil d'administration sont désignés président·e."
        )
        unmet.append(Unmet("gouvernance_presidence_habitants", message))
    elif not rule.habitant_president:
        unmet.append(
            Unmet(
                "gouvernance_presidence_habitants",
                "La présidence de l'association n'est pas assurée par un·e habitant·e.",
            )
        )
    return unmet


def _consultant_assigned(criterion: Criterion, facts: Facts) -> list[Unmet]:
    # `facts.consultant` is the project's consultant_id, set only while an assignment is
    # active (`assignments`): a pending one (no declaration yet) or a refused one does not count.
    if facts.consultant is not None and facts.consultant.active:
        return []
    return [
        Unmet(
            "consultant_designe",
            "Aucun·e consultant·e n'est encore en charge de l'expertise (désignation, puis "
            "déclaration d'indépendance).",
        )
    ]


def _expertise_report(criterion: Criterion, facts: Facts) -> list[Unmet]:
    # Only a report submitted during the current pass through the expertise step counts.
    report = facts.report
    if (
        report is not None
        and report.status == "soumis"
        and report.submitted_at is not None
        and report.submitted_at >= facts.project.entered_state_at
    ):
        return []
    if report is not None and report.status == "brouillon" and report.revision > 1:
        message = "Le rapport d'expertise a été rouvert : il doit être soumis à nouveau."
    elif report is not None and report.status == "brouillon":
        message = "Le rapport d'expertise est en cours de rédaction : il n'est pas encore soumis."
    else:
        message = "Le rapport d'expertise n'a pas encore été soumis par le ou la consultant·e."
    return [Unmet("rapport_expertise", message)]


def _bureau_decision(criterion: Criterion, facts: Facts) -> list[Unmet]:
    current = [d for d in facts.decisions if d.pass_started_at == facts.project.entered_state_at]
    decision = max(current, key=lambda d: (d.recorded_at, d.id or 0), default=None)
    code = f"decision_bureau_{criterion.outcome}"
    if decision is None:
        return [Unmet(code, "Aucune décision du Bureau n'est enregistrée pour ce dossier.")]
    if decision.outcome != criterion.outcome:
        recorded = OUTCOME_LABELS[decision.outcome]
        return [Unmet(code, f"La décision enregistrée par le Bureau est : {recorded}.")]
    return []


CHECKS: dict[str, Check] = {
    "stakeholders": _stakeholders,
    "document": _document,
    "attestation": _attestation,
    "field": _field,
    "governance": _governance,
    "consultant_assigned": _consultant_assigned,
    "expertise_report": _expertise_report,
    "bureau_decision": _bureau_decision,
}


def unmet_criteria(criteria: list[Criterion], facts: Facts) -> list[Unmet]:
    return [
        u if u.by_check else replace(u, by=DONE_BY[criterion.kind])
        for criterion in criteria
        for u in CHECKS[criterion.kind](criterion, facts)
    ]
