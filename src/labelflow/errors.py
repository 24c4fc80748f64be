"""Domain errors: each carries its HTTP status, a stable code and a French message.

One class per code: a raise site names the class, never the code string.

Services raise them; the web layer renders every one the same way:
`{"error": {"code": ..., "message": ..., **extra}}`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "erreur"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class NotFound(DomainError):
    status = 404
    code = "introuvable"


class Forbidden(DomainError):
    status = 403
    code = "interdit"


class Conflict(DomainError):
    status = 409
    code = "conflit"


class CriteriaUnmet(Conflict):
    code = "criteres_non_remplis"


class ActionNotPossible(Conflict):
    code = "action_impossible"


class Suspended(Conflict):
    code = "projet_suspendu"


class StaleVersion(Conflict):
    """Someone else changed the project first (no If-Match sent)."""

    code = "conflit_de_version"


class ChangedSincePlan(Conflict):
    """A project changed after the migration plan read it: skipped, never half-migrated."""

    code = "modifie_depuis_le_plan"


class MigrationRefused(Conflict):
    """A project that cannot move to the version asked (closed, a state the version lacks)."""

    code = "migration_impossible"


class PreconditionFailed(DomainError):
    """The If-Match version is stale or malformed."""

    status = 412
    code = "version_perimee"


class Invalid(DomainError):
    """A value the service refuses; `fields` lists `{field, message}` like validation errors."""

    status = 422
    code = "requete_invalide"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        if field is not None and "fields" not in extra:
            extra["fields"] = [{"field": field, "message": message}]
        super().__init__(message, **extra)

    @classmethod
    def collected(cls, problems: list[dict[str, str]]) -> Invalid | None:
        """One refusal for every `{field, message}` found (none: nothing to refuse)."""
        if not problems:
            return None
        if len(problems) == 1:
            return cls(problems[0]["message"], fields=problems)
        return cls(INVALID_VALUES, fields=problems)


INVALID_VALUES = "Certaines valeurs sont manquantes ou invalides."


class UnknownFilter(Invalid):
    """A query parameter that is not one of the list's filters (an export refuses it)."""

    code = "filtre_inconnu"


class CommentRequired(Invalid):
    code = "commentaire_requis"


class PayloadTooLarge(DomainError):
    status = 413
    code = "fichier_trop_volumineux"


class InsufficientStorage(DomainError):
    """The document store has no room left (a full disk): nothing was kept."""

    status = 507
    code = "stockage_plein"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "type_de_fichier_refuse"


class FileInfected(Invalid):
    """The antivirus found a threat in an uploaded file."""

    code = "fichier_infecte"


class AntivirusUnavailable(DomainError):
    """The antivirus is configured but cannot be reached: no file is accepted unscanned."""

    status = 503
    code = "antivirus_indisponible"


class Unauthenticated(DomainError):
    status = 401
    code = "non_authentifie"


class TooManyAttempts(DomainError):
    status = 429
    code = "trop_de_tentatives"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


# --- the specific refusals, grouped by concept ------------------------------------------------


class ProjectClosed(ActionNotPossible):
    code = "projet_clos"


class WrongStep(ActionNotPossible):
    """The project is not at the step this record belongs to."""

    code = "etape_incorrecte"


class DeadlineClosed(Conflict):
    code = "echeance_close"


class DocumentSuperseded(Conflict):
    code = "piece_remplacee"


class AccountExists(Conflict):
    code = "compte_existant"


class SelfAction(Conflict):
    """An admin may not take away their own rights."""

    code = "action_sur_soi"


class AlreadyMember(Conflict):
    code = "deja_membre"


class AssignmentInProgress(Conflict):
    code = "affectation_en_cours"


class AssignmentEnded(Conflict):
    code = "affectation_close"


class AlreadyDeclared(Conflict):
    code = "declaration_deja_faite"


class InvalidDeclaration(Invalid):
    code = "declaration_invalide"


class IncompleteDeclaration(Invalid):
    code = "declaration_incomplete"


class ReportNotFound(NotFound):
    code = "rapport_introuvable"


class ReportClosed(ActionNotPossible):
    code = "rapport_clos"


class ReportLocked(Conflict):
    """The report was submitted: it changes only once staff reopen it."""

    code = "rapport_soumis"


class ReportIncomplete(Invalid):
    code = "rapport_incomplet"


class ReportOutOfStep(ActionNotPossible):
    code = "rapport_hors_etape"


class ReportTransmitted(ActionNotPossible):
    code = "rapport_transmis"


class ReportNotSubmitted(ActionNotPossible):
    code = "rapport_non_soumis"


class AlreadyRecused(Conflict):
    code = "deport_existant"


class RecusedVoter(Invalid):
    code = "membre_deporte"


class NoQuorum(Conflict):
    code = "quorum_non_atteint"


class AttendanceNotRecorded(Conflict):
    """A convened meeting whose attendance and chair are not recorded yet: no decision."""

    code = "presence_non_enregistree"


class MeetingNotConvened(Conflict):
    """A meeting held or cancelled: it can no longer be moved, cancelled or attended."""

    code = "seance_non_convoquee"


class MeetingNotYetHeld(Conflict):
    code = "seance_a_venir"


class OutcomeContradictsVote(Invalid):
    code = "decision_contraire_au_vote"


class UnknownAudience(Invalid):
    code = "audience_inconnue"


class EmptyMessage(Invalid):
    code = "message_vide"


class MessageTooLong(Invalid):
    code = "message_trop_long"


class AttachmentInvalid(Invalid):
    """A document attached to a message is not one of the project's (or not the caller's to see)."""

    code = "piece_jointe_invalide"


class AudienceNotAllowed(Forbidden):
    code = "audience_interdite"


class CsrfRejected(Forbidden):
    code = "csrf"


# --- follow-up: jobs, notifications ---------------------------------------------------------------


class JobNotAbandoned(Conflict):
    code = "tache_non_abandonnee"


class WebhookUrlRefused(Invalid):
    code = "adresse_refusee"


class UnknownWebhookEvent(Invalid):
    code = "evenement_inconnu"


class EssentialNotification(Invalid):
    code = "notification_essentielle"


# --- accounts by e-mail -----------------------------------------------------------------------


class LinkInvalid(DomainError):
    """An invitation or password-reset link already used, expired or unknown."""

    status = 400
    code = "lien_invalide"
