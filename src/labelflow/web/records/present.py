"""The project's file as shown: stakeholders, attestations, the fields' edit form."""

from __future__ import annotations

from labelflow import dates
from labelflow.models import Attestation, Stakeholder
from labelflow.schemas import AttestationPublic, ProjectPublic, StakeholderPublic
from labelflow.web.forms import communes_text
from labelflow.workflow import WorkflowDefinition


def stakeholder_public(s: Stakeholder) -> StakeholderPublic:
    return StakeholderPublic(
        id=s.id or 0,
        name=s.name,
        college=s.college,
        engaged_on=s.engaged_on,
        contact=s.contact,
        engaged=bool(s.engaged_on and s.engaged_on <= dates.today()),
    )


def attestation_public(definition: WorkflowDefinition, a: Attestation) -> AttestationPublic:
    att = definition.attestation(a.code)
    return AttestationPublic(
        id=a.id or 0,
        code=a.code,
        label=att.label if att else a.code,
        date=a.attested_on,
        comment=a.comment,
        recorded_by=a.recorded_by,
        recorded_at=a.recorded_at,
    )


def edit_values(project: ProjectPublic) -> dict[str, str]:
    """The project fields' edit form: its initial values, from the project as shown."""
    return {
        "name": project.name,
        "communes": communes_text(project.communes),
        "region": project.region,
        "departement": project.departement or "",
        "qpv": "\n".join(project.qpv),
        "association_name": project.association_name or "",
        "rna_number": project.rna_number or "",
        "association_created_on": str(project.association_created_on or ""),
        "charge_mission_recruited_on": str(project.charge_mission_recruited_on or ""),
    }
