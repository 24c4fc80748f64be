"""The « Aide » page as shown: the steps of the offered workflow definitions in plain words (their
labels and descriptions), who acts at each one (read from the definition's roles), what each
role does, and how the national team is reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelflow.actors import ROLE_LABELS, Actor
from labelflow.workflow import Engine, WorkflowDefinition

# The order in which « Qui fait quoi » presents the roles (the viewer's own comes first).
ROLE_ORDER = ("porteur", "staff", "consultant", "bureau")


@dataclass(frozen=True)
class HelpStep:
    number: int
    label: str
    descriptions: list[tuple[str, str]]  # (definition label, description); one when all agree
    who: str
    yours: bool


@dataclass(frozen=True)
class RoleHelp:
    role: str
    label: str
    tasks: list[str]
    yours: bool


def _role_tasks(definition: WorkflowDefinition) -> dict[str, list[str]]:
    roles = definition.roles
    # A definition without an expertise or a Bureau step names none: the tasks say it plainly.
    expertise = definition.state(roles.report_state).label if roles.report_state else "Expertise"
    bureau = definition.state(roles.bureau_state).label if roles.bureau_state else "Décision"
    assignable = " ou ".join(f"« {definition.state(s).label} »" for s in roles.assignable_states)
    return {
        "porteur": [
            "Suivre le projet sur « Mon projet » : l'étape où il en est, ce qui manque pour "
            "passer à la suivante, les prochaines échéances.",
            "Déposer les pièces demandées à chaque étape ; l'équipe nationale les relit et dit si "
            "une pièce est à refaire, avec la raison.",
            "Le porteur ne change pas d'étape lui-même : l'équipe nationale fait avancer le "
            "projet quand tout ce qui est demandé est réuni.",
        ],
        "staff": [
            "Accompagner chaque projet : enregistrer les partenaires, le conseil "
            "d'administration et les attestations, relire les pièces déposées.",
            "Faire passer le projet d'une étape à la suivante quand tout est réuni ; le suspendre "
            "ou l'abandonner si besoin.",
            f"Choisir le ou la consultant·e de l'expertise (étape {assignable}) et préparer les "
            "réunions du Bureau.",
            "Donner un nouveau mot de passe à qui l'a oublié ou dont le compte est bloqué.",
        ],
        "consultant": [
            "Avant toute mission, déclarer ses éventuels liens avec les partenaires du projet "
            "(« Mes missions ») : une mission n'est confiée qu'à une personne sans lien.",
            f"À l'étape « {expertise} », se rendre sur place, rédiger le rapport d'expertise "
            "dans labelflow, en une ou plusieurs fois, puis le remettre.",
        ],
        "bureau": [
            f"À l'étape « {bureau} », examiner le dossier et le rapport d'expertise (« Dossiers "
            "du Bureau »).",
            "Déclarer tout lien avec un projet : un membre concerné ne prend pas part à la "
            "décision.",
            "Réuni, attribuer le label, le refuser ou reporter la décision ; le porteur reçoit "
            "un courrier de décision.",
        ],
    }


def _who(definition: WorkflowDefinition, state: str) -> tuple[str, set[str]]:
    """Who acts at this step, in words, and the roles that do."""
    roles = definition.roles
    if state == roles.bureau_state:
        return "Le Bureau décide, l'équipe nationale prépare le dossier.", {"bureau", "staff"}
    if state == roles.report_state:
        return (
            "Le ou la consultant·e se rend sur place et rédige le rapport ; "
            "le porteur l'accueille.",
            {"consultant", "porteur", "staff"},
        )
    return "Le porteur réunit les pièces, l'équipe nationale les relit.", {"porteur", "staff"}


def _steps(definitions: list[WorkflowDefinition], role: str) -> list[HelpStep]:
    first = definitions[0]
    steps = []
    for state in first.steps():
        number = state.step or 0
        same = [s for d in definitions for s in d.steps() if s.step == number]
        described = [
            (d.label, s.description)
            for d in definitions
            for s in d.steps()
            if s.step == number and s.description
        ]
        if len({text for _label, text in described}) <= 1:
            described = described[:1]
        who, acting = _who(first, state.key)
        steps.append(
            HelpStep(
                number=number,
                label=same[0].label,
                descriptions=described,
                who=who,
                yours=role in acting,
            )
        )
    return steps


def help_context(engine: Engine, actor: Actor, *, contact_email: str) -> dict[str, Any]:
    definitions = engine.latest()
    tasks = _role_tasks(definitions[0])
    order = [actor.role, *(r for r in ROLE_ORDER if r != actor.role)]
    return {
        "nav": "help",
        "role_label": ROLE_LABELS.get(actor.role, actor.role),
        "steps": _steps(definitions, actor.role),
        "roles": [
            RoleHelp(role, ROLE_LABELS[role], tasks[role], role == actor.role)
            for role in order
            if role in tasks
        ],
        "contact_email": contact_email,
        "definitions": definitions,
    }
