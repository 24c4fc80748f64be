"""Domain errors: each carries its HTTP status, a stable code and a French message.

Services raise them; the web layer renders every one the same way:
`{"error": {"code": ..., "message": ..., **extra}}`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "erreur"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
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


class CommentRequired(Invalid):
    code = "commentaire_requis"


class PayloadTooLarge(DomainError):
    status = 413
    code = "fichier_trop_volumineux"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "type_de_fichier_refuse"


class Unauthenticated(DomainError):
    status = 401
    code = "non_authentifie"


class TooManyAttempts(DomainError):
    status = 429
    code = "trop_de_tentatives"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
