"""A project's history as shown: one French sentence per fact, whichever concept recorded it.

It names the facts of every concept (the Bureau's decisions among them), so it sits above their
presenters; the project page shows its latest lines, the history page all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from labelflow import dates, decisions, documents, events
from labelflow.actors import Actor
from labelflow.french import plural
from labelflow.models import Event, Project
from labelflow.projects import definition_of
from labelflow.web.bureau.present import DECISION_LABELS
from labelflow.web.documents.present import filesize
from labelflow.web.messages.present import message_summary
from labelflow.web.projects.present import project_summary, state_label
from labelflow.workflow import COLLEGE_LABELS, KNOWN_FIELDS, Engine, WorkflowDefinition

FIELD_LABELS = {
    "name": "nom du projet",
    "communes": "communes",
    "region": "région",
    "departement": "département",
    "qpv": "quartiers prioritaires",
    "staff_owner_id": "chargé·e de suivi",
    **KNOWN_FIELDS,
}


def _doc_label(definition: WorkflowDefinition, key: str | None) -> str:
    doc = definition.document_type(key or "")
    return doc.label if doc else documents.GENERATED_TYPE_LABELS.get(key or "", key or "")


def _iso_date(value: Any) -> str:
    try:
        return dates.french_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def event_summary(definition: WorkflowDefinition, event: Event) -> str:
    """A French sentence describing one fact of the history."""
    data = event.data or {}
    college = COLLEGE_LABELS.get(str(data.get("college")), "")
    match event.kind:
        case "creation":
            return f"Projet « {data.get('name', '')} » créé (parcours {data.get('workflow', '')})."
        case "transition":
            action = definition.action(event.action or "")
            label = action.label if action else (event.action or "")
            return (
                f"{label} : de « {state_label(definition, event.from_state)} » "
                f"à « {state_label(definition, event.to_state)} »."
            )
        case "modification":
            fields = data.get("fields", {})
            owner = data.get("staff_owner") or {}
            if list(fields) == ["staff_owner_id"] and owner:
                return f"{owner.get('name', '')} devient chargé·e de suivi du projet."
            names = [FIELD_LABELS.get(k, k) for k in fields]
            text = f"Champs modifiés : {', '.join(names)}."
            if owner:
                text += f" Chargé·e de suivi : {owner.get('name', '')}."
            return text
        case "partie_prenante" | "membre_ca":
            verb = "Ajout" if data.get("op") == "ajout" else "Retrait"
            extra = " (présidence)" if data.get("is_president") else ""
            return f"{verb} de « {data.get('name', '')} », collège {college}{extra}."
        case "attestation":
            att = definition.attestation(str(data.get("code", "")))
            label = att.label if att else data.get("code", "")
            return f"Attestation « {label} » du {_iso_date(data.get('date'))}."
        case "document":
            return (
                f"« {_doc_label(definition, data.get('type'))} » : "
                f"{data.get('filename', '')} ({filesize(int(data.get('size') or 0))})."
            )
        case "revue":
            verdict = documents.REVIEW_LABELS.get(str(data.get("status")), "")
            return (
                f"« {_doc_label(definition, data.get('type'))} » "
                f"({data.get('filename', '')}) : {verdict.lower()}."
            )
        case "echeance":
            which = {
                "label": "Date cible du label",
                "jalon": f"Jalon « {data.get('title', '')} »",
            }.get(str(data.get("kind")), f"Étape « {state_label(definition, data.get('state'))} »")
            return (
                f"{which} : échéance déplacée du {_iso_date(data.get('from'))} "
                f"au {_iso_date(data.get('to'))}."
            )
        case "jalon":
            return _milestone_summary(event.action, data)
        case "suspension":
            return "Projet suspendu."
        case "reprise":
            days = int(data.get("paused_days") or 0)
            text = f"Projet repris après {plural(days, 'jour')} de suspension"
            if days > 0:
                return f"{text} : les échéances en cours sont reportées d'autant."
            return f"{text}."
        case "consultant":
            return _consultant_summary(data)
        case "membre":
            if data.get("op") == "ajout":
                return f"Compte de « {data.get('name', '')} » lié au projet."
            return f"Compte de « {data.get('name', '')} » retiré du projet."
        case "rapport":
            revision = data.get("revision")
            return {
                "brouillon": "Rédaction du rapport commencée.",
                "soumission": f"Rapport soumis (version {revision}).",
                "reouverture": f"Rapport rouvert par l'équipe nationale (version {revision}).",
            }.get(str(data.get("op")), "")
        case "decision":
            outcome = DECISION_LABELS.get(str(data.get("outcome")), "")
            text = f"{outcome}, réunion du Bureau du {_iso_date(data.get('meeting_on'))}"
            if "votes_for" in data:
                pour, contre, abstention = (
                    int(data.get(k) or 0) for k in ("votes_for", "votes_against", "votes_abstain")
                )
                text += f" ({decisions.vote_text(pour, contre, abstention)})"
            return text + "."
        case "deport":
            return f"{data.get('name', '')} se déporte : ne participe pas à la délibération."
        case "message":
            return message_summary(data)
        case "migration":
            text = (
                f"Passage de la version {data.get('from_version')} à la version "
                f"{data.get('to_version')} du parcours"
            )
            if data.get("from_state") != data.get("to_state"):
                text += f" : de « {data.get('from_label')} » à « {data.get('to_label')} »"
            moved = len(data.get("deadlines") or [])
            if moved:
                text += f" ; {plural(moved, 'échéance revue', 'échéances revues')}"
            return text + "."
    return ""


MILESTONE_FIELD_LABELS = {"title": "titre", "user_id": "personne concernée"}


def _milestone_summary(action: str | None, data: dict[str, Any]) -> str:
    title = f"Jalon « {data.get('title', '')} »"
    person = data.get("user_name")
    match action:
        case "ajout":
            concerns = f", concernant {person}" if person else ""
            return f"{title} ajouté au {_iso_date(data.get('due_on'))}{concerns}."
        case "deplacement":
            moved = f"du {_iso_date(data.get('from'))} au {_iso_date(data.get('to'))}"
            return f"{title} déplacé {moved}."
        case "suppression":
            return f"{title} du {_iso_date(data.get('due_on'))} supprimé."
        case "tenu":
            return f"{title} du {_iso_date(data.get('due_on'))} tenu."
        case "reouverture":
            return f"{title} du {_iso_date(data.get('due_on'))} rouvert."
    fields = [MILESTONE_FIELD_LABELS.get(f, f) for f in data.get("fields") or []]
    text = f"{title} modifié : {', '.join(fields)}."
    if "user_id" in (data.get("fields") or []) and person:
        text += f" Personne concernée : {person}."
    return text


def _consultant_summary(data: dict[str, Any]) -> str:
    name = data.get("name", "")
    match data.get("op"):
        case "assign":
            return (
                f"{name} ({data.get('email', '')}) sollicité·e pour l'expertise : "
                "en attente de sa déclaration d'indépendance."
            )
        case "declare":
            count = int(data.get("stakeholders") or 0)
            return (
                f"{name} a déclaré ses liens avec les parties prenantes "
                f"({count} partie{'s' if count > 1 else ''} prenante{'s' if count > 1 else ''})."
            )
        case "refuse":
            linked = [f"« {n} »" for n in data.get("linked") or []]
            return (
                f"Affectation de {name} refusée : lien déclaré avec {', '.join(linked)}. "
                "Un·e autre consultant·e doit être désigné·e."
            )
        case "activate":
            email = data.get("email", "")
            return f"{name} ({email}) en charge de l'expertise : affectation active."
        case "end":
            return f"Fin de l'affectation de {name} : son accès au projet a cessé."
    # Before assignments existed, designating the consultant was one fact.
    return f"{name} ({data.get('email', '')}) désigné·e."


@dataclass
class HistoryLine:
    at: datetime
    kind_label: str
    actor: str
    summary: str
    comment: str | None


def history_lines(definition: WorkflowDefinition, history: list[Event]) -> list[HistoryLine]:
    return [
        HistoryLine(
            e.at,
            events.KIND_LABELS.get(e.kind, e.kind),
            e.actor,
            event_summary(definition, e),
            e.comment,
        )
        for e in history
    ]


def history_page(
    session: Session, engine: Engine, project: Project, actor: Actor
) -> dict[str, Any]:
    """The whole history of a project as `actor` may read it, oldest first."""
    assert project.id is not None
    definition = definition_of(engine, project)
    summary = project_summary(engine, project, overdue=False)
    history = list(events.list_events(session, project=project, viewer=actor))
    return {"project": summary, "history": history_lines(definition, history)}
