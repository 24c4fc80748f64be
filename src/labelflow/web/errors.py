"""One rendering for every error: `{"error": {code, message, ...}}` in French."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from labelflow import actors, dates, decisions, documents, notifications, projects, workflow
from labelflow.errors import DomainError, TooManyAttempts, Unauthenticated
from labelflow.french import typeset

log = logging.getLogger("labelflow")

# The answer of a saturated service (`web.limits` and the database's own saturation).
RETRY_AFTER_SECONDS = 2
SATURATED_MESSAGE = (
    "Le service est momentanément saturé : trop de demandes arrivent en même temps. "
    "Réessayez dans quelques secondes."
)

HTTP_MESSAGES = {
    400: ("requete_invalide", "La requête est invalide."),
    401: ("non_authentifie", "Vous devez vous connecter."),
    403: ("interdit", "Vous n'avez pas le droit de faire cela."),
    404: ("introuvable", "Cette page ou cette ressource est introuvable."),
    405: ("methode_non_permise", "Cette méthode n'est pas permise sur cette adresse."),
    413: ("requete_trop_volumineuse", "La requête est trop volumineuse."),
    415: ("type_de_fichier_refuse", "Ce type de contenu n'est pas accepté."),
    422: ("requete_invalide", "La requête est invalide."),
}


# The labels of every fixed set of values the API and the forms accept (`Literal` fields of
# `schemas.py`), so that a refusal names the values as users know them.
VOCABULARIES: tuple[Mapping[str, str], ...] = (
    projects.KIND_LABELS,
    projects.INITIATOR_LABELS,
    workflow.COLLEGE_LABELS,
    actors.ROLE_LABELS,
    decisions.OUTCOME_LABELS,
    decisions.VOTE_LABELS,
    documents.REVIEW_LABELS,
    workflow.ASSESSMENTS,
    workflow.RECOMMENDATIONS,
    notifications.KINDS,
    notifications.MODE_LABELS,
)
# pydantic names the expected values by their repr: "'a', 'b' or 'c'".
_EXPECTED_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'")


def choices(expected: str) -> str:
    """'Choisissez parmi : Satisfaisant, À consolider, Insuffisant.' from pydantic's list."""
    values = _EXPECTED_VALUE.findall(expected)
    # The smallest table holding them all: the initiators rather than the colleges.
    table = min(
        (t for t in VOCABULARIES if values and set(values) <= t.keys()), key=len, default=None
    )
    if table is None:
        names = [f"« {v} »" for v in values]
    else:
        names = [table[v][:1].upper() + table[v][1:] for v in values]
    return f"Choisissez parmi : {', '.join(names)}."


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "requete"


def french_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    match kind:
        case "missing":
            return "Ce champ est obligatoire."
        case "string_too_short":
            return (
                "Ce champ ne peut pas être vide."
                if ctx.get("min_length") == 1
                else (f"Au moins {ctx.get('min_length')} caractères sont attendus.")
            )
        case "string_too_long":
            return f"Ce champ ne doit pas dépasser {ctx.get('max_length')} caractères."
        case "too_short":
            return (
                "Cette liste ne peut pas être vide."
                if ctx.get("min_length") == 1
                else (f"Au moins {ctx.get('min_length')} éléments sont attendus.")
            )
        case "too_long":
            return f"Au plus {ctx.get('max_length')} éléments sont acceptés."
        case "string_pattern_mismatch":
            loc = error.get("loc", ())
            if loc and loc[-1] == "insee":
                return "Le code INSEE doit compter 5 caractères (par exemple 59512)."
            return "Le format de cette valeur n'est pas valide."
        case "literal_error" | "enum":
            return f"Valeur non reconnue. {choices(str(ctx.get('expected', '')))}"
        case "string_unicode":
            return "Ce texte contient des caractères invalides."
        case "string_type":
            return "Une chaîne de caractères est attendue."
        case "int_parsing" | "int_type" | "int_from_float":
            return "Un nombre entier est attendu."
        case "greater_than_equal" | "greater_than":
            return f"La valeur doit être supérieure ou égale à {ctx.get('ge', ctx.get('gt'))}."
        case "less_than_equal" | "less_than":
            return f"La valeur doit être inférieure ou égale à {ctx.get('le', ctx.get('lt'))}."
        case "bool_parsing" | "bool_type":
            return "Une valeur vrai/faux est attendue."
        case (
            "date_from_datetime_parsing"
            | "date_parsing"
            | "date_type"
            | "date_from_datetime_inexact"
        ):
            return f"Une date au format {dates.TYPED_FORMAT} est attendue, {dates.EXAMPLE}."
        case "list_type":
            return "Une liste est attendue."
        case "dict_type" | "model_type" | "model_attributes_type":
            return "Un objet JSON est attendu."
        case "json_invalid":
            return "Le corps de la requête n'est pas un JSON valide."
        case "extra_forbidden":
            return "Ce champ n'est pas reconnu."
        case "value_error":
            reason = ctx.get("reason") or str(ctx.get("error", ""))
            if "email" in str(error.get("msg", "")).lower() or "email" in reason.lower():
                return "Adresse e-mail invalide."
            if "UploadFile" in reason:  # a multipart part without a file name
                return "Un fichier (avec son nom) est attendu."
            return str(ctx.get("error", "")) or "Valeur invalide."
        case _:
            return "Valeur invalide."


def french_fields(errors: Sequence[Any]) -> list[dict[str, str]]:
    return [
        # A JSON syntax error's location is a character position, not a field.
        {
            "field": "requete"
            if e.get("type") == "json_invalid"
            else _field_name(e.get("loc", ())),
            "message": french_message(e),
        }
        for e in errors
    ]


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path in ("/healthz", "/openapi.json"):
        return False
    return "text/html" in request.headers.get("accept", "") or not path.startswith("/api")


def _html_error(request: Request, status: int, message: str, code: str) -> Response:
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return HTMLResponse(f"<h1>{message}</h1>", status_code=status)
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        "error.html",
        {"status": status, "message": message, "code": code},
        status_code=status,
    )


# The lists of an error body whose entries carry a French `message`: the fields' problems, the
# unmet criteria, the problems beside the fields.
MESSAGE_LISTS = ("fields", "unmet", "problems")


def typeset_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The error body with its French sentences typeset as the pages are (`french.typeset`):
    the message and each listed entry's message; codes, field names and figures as they are."""
    err = dict(body["error"])
    if isinstance(err.get("message"), str):
        err["message"] = typeset(err["message"])
    for key in MESSAGE_LISTS:
        if isinstance(err.get(key), list):
            err[key] = [
                {**item, "message": typeset(item["message"])}
                if isinstance(item, Mapping) and isinstance(item.get("message"), str)
                else item
                for item in err[key]
            ]
    return {**body, "error": err}


def json_error(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Every JSON error goes out here, typeset (the middlewares' too)."""
    return JSONResponse(typeset_body(body), status_code=status, headers=headers)


def error_response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request):
        err = body["error"]
        response = _html_error(request, status, err["message"], err["code"])
        if headers:
            response.headers.update(headers)
        return response
    return json_error(status, body, headers)


# What a database says when it is saturated rather than broken: SQLite's write lock still held
# after the busy timeout, PostgreSQL out of connection slots.
SATURATION_SIGNS = ("database is locked", "too many clients", "remaining connection slots")


def is_saturation(exc: OperationalError) -> bool:
    return any(sign in str(exc.orig) for sign in SATURATION_SIGNS)


# What a database server says while it restarts or is out of reach: the request is refused
# for now (the pool replaces dead connections once it is back: `db.PING_AFTER_IDLE_SECONDS`).
UNAVAILABLE_SIGNS = (
    "connection refused",
    "connection failed",
    "server closed the connection",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the connection is closed",
    "consuming input failed",
    "could not receive data",
    "could not send data",
)
UNAVAILABLE_MESSAGE = (
    "La base de données est momentanément indisponible : votre demande n'a pas été "
    "enregistrée. Réessayez dans quelques secondes."
)
# SQLite on a full disk: nothing was written.
FULL_SIGNS = ("database or disk is full", "no space left on device")
FULL_MESSAGE = (
    "L'espace disque de la base de données est plein : votre demande n'a pas été enregistrée. "
    "Prévenez l'équipe."
)


def is_unavailable(exc: DBAPIError) -> bool:
    reason = str(exc.orig).lower()
    return bool(exc.connection_invalidated) or any(sign in reason for sign in UNAVAILABLE_SIGNS)


def unavailable_response(request: Request) -> Response:
    body = {"error": {"code": "base_indisponible", "message": UNAVAILABLE_MESSAGE}}
    return error_response(request, 503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def saturation_response(request: Request) -> Response:
    body = {"error": {"code": "service_sature", "message": SATURATED_MESSAGE}}
    return error_response(request, 503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def internal_error(request: Request, exc: BaseException) -> Response:
    """The 500, logged with a reference the user can give."""
    request_id = uuid.uuid4().hex[:12]
    log.error(
        "unexpected error %s on %s %s",
        request_id,
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    body = {
        "error": {
            "code": "erreur_interne",
            "message": "Une erreur inattendue est survenue. "
            f"Communiquez la référence {request_id} à l'équipe.",
            "request_id": request_id,
        }
    }
    return error_response(request, 500, body)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers: dict[str, str] = {}
        if isinstance(exc, Unauthenticated):
            if wants_html(request):
                # A page asked without a session: sign in, then come back here.
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(request, exc.status, exc.body(), headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        fields = french_fields(exc.errors())
        body = {
            "error": {
                "code": "requete_invalide",
                "message": "Certaines valeurs sont manquantes ou invalides.",
                "fields": fields,
            }
        }
        return error_response(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # FastAPI and Starlette answer 400 to a body they cannot decode (bad UTF-8, broken
            # multipart): it is invalid input like malformed JSON, so it gets the same 422.
            fields = [{"field": "requete", "message": "Le corps de la requête est illisible."}]
            body = {
                "error": {
                    "code": "requete_invalide",
                    "message": "Certaines valeurs sont manquantes ou invalides.",
                    "fields": fields,
                }
            }
            return error_response(request, 422, body)
        code, message = HTTP_MESSAGES.get(exc.status_code, ("erreur", "La requête a échoué."))
        headers = dict(exc.headers) if exc.headers else None
        body = {"error": {"code": code, "message": message}}
        return error_response(request, exc.status_code, body, headers)

    # Saturation the admission gate did not prevent (another process holding SQLite's lock,
    # a pool run dry): the client is told to come back, never that the service broke.
    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        log.warning("pool exhausted on %s %s: %s", request.method, request.url.path, exc)
        return saturation_response(request)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        where = (request.method, request.url.path, exc.orig)
        if isinstance(exc, OperationalError) and is_saturation(exc):
            log.warning("database saturated on %s %s: %s", *where)
            return saturation_response(request)
        if is_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", *where)
            return unavailable_response(request)
        if any(sign in str(exc.orig).lower() for sign in FULL_SIGNS):
            log.error("database disk full on %s %s: %s", *where)
            body = {"error": {"code": "stockage_plein", "message": FULL_MESSAGE}}
            return error_response(request, 507, body)
        return internal_error(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return internal_error(request, exc)
