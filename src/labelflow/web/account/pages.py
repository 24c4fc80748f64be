"""Sign-in and the signed-in account's pages: login and logout, « Mon compte » with the password
change (the same service as `PUT /api/v1/me/password`), the personal API tokens (shown once,
revocable; the same services as `/api/v1/me/tokens`) and the calendar feed's address (shown once,
replaced or revoked; the services of `/api/v1/me/calendar`).

The session id is renewed at every sign-in; the cookie is HttpOnly, SameSite=Lax and Secure
when served over HTTPS. The login form, used before any session exists, is protected against
cross-site forgery by a signed double-submit token (cookie + hidden field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from labelflow import accounts, feeds
from labelflow.actors import Actor
from labelflow.errors import Invalid, LinkInvalid, TooManyAttempts
from labelflow.models import User
from labelflow.settings import Settings
from labelflow.web.account.present import RESET_ASKED, client_address
from labelflow.web.confirm import notice
from labelflow.web.deps import (
    MAX_ID,
    SESSION_COOKIE,
    ActorDep,
    IdentityDep,
    SessionDep,
    SettingsDep,
    csrf_form,
)
from labelflow.web.feeds.present import calendar_context, feed_url
from labelflow.web.forms import REFUSALS, FormState, PasswordForm, TokenForm, refusal
from labelflow.web.notifications.present import preferences_context
from labelflow.web.routing import PAGE_DEPENDENCIES, public_page_router, render

# The login form comes before any session: each signed-in page names PAGE_DEPENDENCIES.
router = public_page_router()
LOGIN_COOKIE = "labelflow_login"
BAD_CREDENTIALS = "Adresse e-mail ou mot de passe incorrect."
REQUIRED = "Ce champ est obligatoire."


def _sign(settings: Settings, value: str) -> str:
    mac = hmac.new(settings.secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac[:32]}"


def _login_token_ok(settings: Settings, cookie: str | None, field: str | None) -> bool:
    if not cookie or not field or not hmac.compare_digest(cookie, field):
        return False
    value, _, _mac = cookie.partition(".")
    return hmac.compare_digest(_sign(settings, value), cookie)


def safe_next(target: str | None) -> str:
    """Only a path of this site (never `//host` or an absolute URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    settings: Settings,
    *,
    email: str = "",
    next_url: str = "/",
    message: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    token = _sign(settings, secrets.token_urlsafe(16))
    context = {
        "email": email,
        "next": safe_next(next_url),
        "message": message,
        "errors": errors or {},
        "login_token": token,
    }
    response = render(request, "login.html", context, status_code)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _account_page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    form: FormState | None = None,
    password_form: FormState | None = None,
    new_token: str = "",
    new_calendar_url: str = "",
    calendar_replaced: bool = False,
    status_code: int = 200,
) -> Response:
    user = accounts.get_user(session, actor.user_id or 0)
    return render(
        request,
        "account.html",
        {
            "user": user,
            "tokens": list(reversed(accounts.list_tokens(session, user_id=user.id or 0))),
            "form": form or FormState(),
            "password_form": password_form or FormState(),
            "password_min": accounts.PASSWORD_MIN,
            "new_token": new_token,
            "nav": "account",
            "json_url": "/api/v1/me",
            "notice": "" if password_form else notice(request.query_params.get("fait", "")),
            **preferences_context(session, actor),
            **calendar_context(
                session, actor, new_url=new_calendar_url, replaced=calendar_replaced
            ),
        },
        status_code,
    )


@router.get("/login")
def login_form(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    return _login_page(request, settings, next_url=next)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    login_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not _login_token_ok(settings, request.cookies.get(LOGIN_COOKIE), login_token):
        return _login_page(
            request,
            settings,
            email=email,
            next_url=next,
            status_code=403,
            message="Le formulaire a expiré : saisissez de nouveau vos identifiants.",
        )
    # An empty field is a slip, not a wrong password: said beside it, and not counted as a
    # failed attempt.
    missing = {
        name: [REQUIRED]
        for name, typed in (("email", email.strip()), ("password", password))
        if not typed
    }
    if missing:
        return _login_page(
            request, settings, email=email, next_url=next, errors=missing, status_code=422
        )
    address = request.client.host if request.client else "inconnue"
    try:
        user = accounts.authenticate(
            session, email=email, password=password, address=address, settings=settings
        )
    except TooManyAttempts as exc:
        response = _login_page(
            request, settings, email=email, next_url=next, message=exc.message, status_code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        # Same answer for an unknown e-mail and a wrong password; the attempt is committed.
        return _login_page(
            request, settings, email=email, next_url=next, message=BAD_CREDENTIALS, status_code=401
        )
    response = _signed_in(request, session, settings, user, to=safe_next(next))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _signed_in(
    request: Request, session: Session, settings: Settings, user: User, *, to: str
) -> Response:
    """A new web session for `user` (the browser's previous one ends), then off to `to`."""
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.close_session(session, raw_token=old)
    opened = accounts.open_session(session, user=user, settings=settings)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.raw_token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
        max_age=settings.session_absolute_hours * 3600,
    )
    return response


@router.post("/logout", dependencies=[Depends(csrf_form)])
def logout(request: Request, session: SessionDep, identity: IdentityDep) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        accounts.close_session(session, raw_token=raw)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", dependencies=PAGE_DEPENDENCIES)
def account_page(request: Request, session: SessionDep, actor: ActorDep) -> Response:
    return _account_page(request, session, actor)


@router.post("/account/password", dependencies=PAGE_DEPENDENCIES)
def change_password(
    request: Request,
    form: Annotated[PasswordForm, Form()],
    session: SessionDep,
    settings: SettingsDep,
    identity: IdentityDep,
    actor: ActorDep,
) -> Response:
    """The current session stays signed in; every other one of the account ends."""
    try:
        data = form.to_model()
        refused = accounts.change_password(
            session,
            user=identity.user,
            current_password=data.current_password,
            new_password=data.new_password,
            address=request.client.host if request.client else "inconnue",
            settings=settings,
            keep_session_id=identity.web_session.id if identity.web_session else None,
        )
    except TooManyAttempts as exc:
        state = refusal(exc, form.values())
        response = _account_page(request, session, actor, password_form=state, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _account_page(request, session, actor, password_form=state, status_code=422)
    if refused is not None:
        # Rendered, not raised: the failed attempt it counts is committed with the request.
        state = refusal(refused, form.values())
        return _account_page(request, session, actor, password_form=state, status_code=422)
    return RedirectResponse("/account?fait=mot_de_passe_change#mot-de-passe", status_code=303)


@router.post("/account/tokens", dependencies=PAGE_DEPENDENCIES)
def create_token(
    request: Request, form: Annotated[TokenForm, Form()], session: SessionDep, actor: ActorDep
) -> Response:
    try:
        data = form.to_model()
        raw, _token = accounts.create_token(
            session, user=accounts.get_user(session, actor.user_id or 0), name=data.name
        )
    except REFUSALS as exc:
        session.rollback()
        state = refusal(exc, form.values())
        return _account_page(request, session, actor, form=state, status_code=state.status)
    # The only time the token is shown: it is stored as a digest.
    return _account_page(request, session, actor, new_token=raw, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", dependencies=PAGE_DEPENDENCIES)
def revoke_token(token_id: TokenId, session: SessionDep, actor: ActorDep) -> Response:
    accounts.revoke_token(session, user_id=actor.user_id or 0, token_id=token_id)
    return RedirectResponse("/account#jetons", status_code=303)


@router.post("/account/calendar", dependencies=PAGE_DEPENDENCIES)
def create_calendar(
    request: Request, session: SessionDep, settings: SettingsDep, identity: IdentityDep
) -> Response:
    """Create or replace the calendar's address: the only time it is shown."""
    replaced = feeds.get_feed(session, user_id=identity.user.id or 0) is not None
    secret = feeds.create_feed(session, user=identity.user)
    actor = accounts.actor_of(identity.user)
    url = feed_url(settings.base_url, secret)
    return _account_page(
        request,
        session,
        actor,
        new_calendar_url=url,
        calendar_replaced=replaced,
        status_code=201,
    )


@router.post("/account/calendar/revoke", dependencies=PAGE_DEPENDENCIES)
def revoke_calendar(session: SessionDep, actor: ActorDep) -> Response:
    feeds.revoke_feed(session, user_id=actor.user_id or 0)
    return RedirectResponse("/account?fait=agenda_revoque#agenda", status_code=303)


# --- before any sign-in: forgotten password, invitation and reset links -------------------------
#
# Their forms carry a signed double-submit token like the login form's (cookie scoped to the
# page). A link's page shows its form only while the link is live; the link is used up only by a
# successful POST (a mail scanner opening it changes nothing). The new password signs the person
# in at once: every other session of theirs has ended (`accounts.set_password`).

FORM_COOKIE = "labelflow_form"
FORM_EXPIRED = "Le formulaire a expiré : saisissez-le de nouveau."
PASSWORDS_DIFFER = "Les deux mots de passe ne correspondent pas."
LINK_PAGES = {
    accounts.INVITATION: "Choisir votre mot de passe",
    accounts.RESET: "Choisir un nouveau mot de passe",
}
LinkToken = Annotated[str, Path(max_length=200)]


def _form_page(
    request: Request, settings: Settings, template: str, context: dict[str, Any], status: int
) -> Response:
    token = _sign(settings, secrets.token_urlsafe(16))
    response = render(request, template, {**context, "form_token": token}, status)
    response.set_cookie(
        FORM_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=request.url.path,
    )
    return response


def _form_token_ok(request: Request, settings: Settings, field: str) -> bool:
    return _login_token_ok(settings, request.cookies.get(FORM_COOKIE), field)


def _reset_page(
    request: Request,
    settings: Settings,
    *,
    email: str = "",
    done: str = "",
    message: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "email": email,
        "done": done,
        "message": message,
        "errors": errors or {},
        "contact_email": settings.contact_email,
    }
    return _form_page(request, settings, "password_reset.html", context, status_code)


@router.get("/mot-de-passe-oublie")
def password_reset_form(request: Request, settings: SettingsDep) -> Response:
    return _reset_page(request, settings)


@router.post("/mot-de-passe-oublie")
def password_reset_ask(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    form_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not _form_token_ok(request, settings, form_token):
        return _reset_page(request, settings, email=email, message=FORM_EXPIRED, status_code=403)
    if not email.strip():
        return _reset_page(request, settings, errors={"email": [REQUIRED]}, status_code=422)
    try:
        accounts.request_password_reset(
            session, email=email, address=client_address(request), settings=settings
        )
    except TooManyAttempts as exc:
        response = _reset_page(request, settings, email=email, message=exc.message, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # The same page whether the address has an account or not.
    return _reset_page(request, settings, done=RESET_ASKED)


def _link_page(
    request: Request,
    session: Session,
    settings: Settings,
    *,
    purpose: str,
    token: str,
    message: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    heading = LINK_PAGES[purpose]
    try:
        user = accounts.check_link(session, raw_token=token, purpose=purpose)
    except LinkInvalid as exc:
        return render(
            request, "password_set.html", {"heading": heading, "invalid": exc.message}, 400
        )
    context = {
        "heading": heading,
        "invalid": "",
        "button": "Enregistrer et me connecter",
        "account_name": user.name,
        "account_email": user.email,
        "action": request.url.path,
        "password_min": accounts.PASSWORD_MIN,
        "message": message,
        "errors": errors or {},
    }
    return _form_page(request, settings, "password_set.html", context, status_code)


def _set_with_link(
    request: Request,
    session: Session,
    settings: Settings,
    *,
    purpose: str,
    token: str,
    new_password: str,
    new_password_confirm: str,
    form_token: str,
) -> Response:
    if not _form_token_ok(request, settings, form_token):
        return _link_page(
            request,
            session,
            settings,
            purpose=purpose,
            token=token,
            message=FORM_EXPIRED,
            status_code=403,
        )
    errors: dict[str, list[str]] = {}
    if not new_password:
        errors["new_password"] = [REQUIRED]
    elif new_password != new_password_confirm:
        errors["new_password_confirm"] = [PASSWORDS_DIFFER]
    if errors:
        return _link_page(
            request, session, settings, purpose=purpose, token=token, errors=errors, status_code=422
        )
    try:
        user = accounts.confirm_link(
            session, raw_token=token, purpose=purpose, new_password=new_password
        )
    except LinkInvalid:
        session.rollback()
        return _link_page(request, session, settings, purpose=purpose, token=token)
    except Invalid as exc:
        session.rollback()
        fields = exc.extra.get("fields") or [{"field": "new_password", "message": exc.message}]
        errors = {f["field"]: [f["message"]] for f in fields}
        return _link_page(
            request, session, settings, purpose=purpose, token=token, errors=errors, status_code=422
        )
    response = _signed_in(request, session, settings, user, to="/")
    response.delete_cookie(FORM_COOKIE, path=request.url.path)
    return response


@router.get("/mot-de-passe/{token}")
def password_reset_link(
    request: Request, token: LinkToken, session: SessionDep, settings: SettingsDep
) -> Response:
    return _link_page(request, session, settings, purpose=accounts.RESET, token=token)


@router.post("/mot-de-passe/{token}")
def password_reset_set(
    request: Request,
    token: LinkToken,
    session: SessionDep,
    settings: SettingsDep,
    new_password: Annotated[str, Form(max_length=4096)] = "",
    new_password_confirm: Annotated[str, Form(max_length=4096)] = "",
    form_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _set_with_link(
        request,
        session,
        settings,
        purpose=accounts.RESET,
        token=token,
        new_password=new_password,
        new_password_confirm=new_password_confirm,
        form_token=form_token,
    )


@router.get("/invitation/{token}")
def invitation_link(
    request: Request, token: LinkToken, session: SessionDep, settings: SettingsDep
) -> Response:
    return _link_page(request, session, settings, purpose=accounts.INVITATION, token=token)


@router.post("/invitation/{token}")
def invitation_set(
    request: Request,
    token: LinkToken,
    session: SessionDep,
    settings: SettingsDep,
    new_password: Annotated[str, Form(max_length=4096)] = "",
    new_password_confirm: Annotated[str, Form(max_length=4096)] = "",
    form_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _set_with_link(
        request,
        session,
        settings,
        purpose=accounts.INVITATION,
        token=token,
        new_password=new_password,
        new_password_confirm=new_password_confirm,
        form_token=form_token,
    )
