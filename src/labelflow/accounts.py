"""Accounts: users, password sign-in with throttling, web sessions, API tokens, project members,
and accounts by e-mail (invitation and password-reset links).

Secrets never reach the database in clear: passwords are Argon2id hashes, session ids and API
tokens are stored as SHA-256 digests of random values (they are already high-entropy).

An e-mailed link's secret is `HMAC(LABELFLOW_SECRET_KEY, purpose:nonce)`: `account_tokens`
keeps its SHA-256 digest, and the e-mail job only the random nonce, which the job drops once the
e-mail is sent. So neither the database nor a dump of it holds a usable link, yet a job retried
after an SMTP failure can still write the same link (see `send_account_email`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, SQLModel, col, func, select

from labelflow import cache, dates, jobs, mail
from labelflow.actors import Actor
from labelflow.errors import (
    AccountExists,
    AlreadyMember,
    Invalid,
    LinkInvalid,
    NotFound,
    SelfAction,
    TooManyAttempts,
)
from labelflow.events import record_fact
from labelflow.french import plural
from labelflow.models import (
    AccountToken,
    ApiToken,
    Job,
    LoginAttempt,
    Project,
    ProjectMember,
    ResetRequest,
    User,
    WebSession,
    id_of,
)
from labelflow.schemas import UserCreate, UserUpdate
from labelflow.settings import Settings

PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # long passphrases are welcome; the cap only bounds hashing work
TOKEN_PREFIX = "lf_"
TOUCH_EVERY = timedelta(seconds=60)

_hasher = PasswordHasher()  # Argon2id with the library's maintained parameters
# Verified against when the e-mail is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("labelflow: compte inexistant")


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def password_problem(password: str) -> str:
    """Why `password` is refused ("": it is not)."""
    if len(password) < PASSWORD_MIN:
        return f"Le mot de passe doit compter au moins {PASSWORD_MIN} caractères."
    if len(password) > PASSWORD_MAX:
        return f"Le mot de passe ne peut pas dépasser {PASSWORD_MAX} caractères."
    return ""


def check_password(password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise Invalid(problem, field="password")


ADMIN_STAFF_ONLY = "Seul un membre de l'équipe nationale peut être administrateur."


ACCOUNT_EXISTS = "Un compte existe déjà avec cette adresse e-mail."


REGIONS_STAFF_ONLY = "Seul un compte de l'équipe nationale peut être limité à des régions."


def user_problems(
    *,
    role: str | None,
    is_admin: bool | None,
    password: str | None,
    regions: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """Every `{field, message}` the service refuses in an account's values (None: not given or
    not valid by itself), without looking anything up: what a form checks with its own."""
    problems = []
    if is_admin and role is not None and role != "staff":
        problems.append({"field": "is_admin", "message": ADMIN_STAFF_ONLY})
    if regions and role is not None and role != "staff":
        problems.append({"field": "regions", "message": REGIONS_STAFF_ONLY})
    if password and password_problem(password):
        problems.append({"field": "password", "message": password_problem(password)})
    return problems


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters


def actor_of(user: User) -> Actor:
    return Actor(
        name=user.name,
        role=user.role,
        user_id=user.id,
        is_admin=user.is_admin,
        email=user.email,
        regions=tuple(user.regions or ()) if user.role == "staff" else (),
    )


# --- users -------------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Ce compte est introuvable.")
    return user


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def list_users(
    session: Session, *, role: str | None = None, active: bool | None = None
) -> Sequence[User]:
    query = select(User).order_by(col(User.name), col(User.id))
    if role:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(col(User.active).is_(active))
    return session.exec(query).all()


def create_user(
    session: Session, *, data: UserCreate, actor: Actor, invitation: Settings | None = None
) -> User:
    """A new account. With `invitation` (an administrator, page or API) an account created
    without a password is e-mailed its invitation link; without (the CLI, which always sets a
    password, and fixtures) none is sent."""
    email = normalize_email(str(data.email))
    problems = user_problems(
        role=data.role, is_admin=data.is_admin, password=data.password, regions=data.regions
    )
    if get_user_by_email(session, email) is not None:
        exists = {"field": "email", "message": ACCOUNT_EXISTS}
        if not problems:
            raise AccountExists(ACCOUNT_EXISTS, fields=[exists])
        problems.insert(0, exists)
    refused = Invalid.collected(problems)
    if refused is not None:
        raise refused
    now = dates.now()
    user = User(
        email=email,
        name=data.name,
        role=data.role,
        is_admin=data.is_admin,
        active=True,
        regions=list(data.regions),
        password_hash=hash_password(data.password) if data.password else None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    record_fact(
        session,
        actor=actor,
        kind="compte",
        at=now,
        data={
            "op": "creation",
            "user_id": user.id,
            "role": user.role,
            "is_admin": user.is_admin,
            "regions": user.regions,
        },
    )
    if invitation is not None and user.password_hash is None:
        issue_link(session, user=user, purpose=INVITATION, settings=invitation)
    return user


def update_user(session: Session, *, user: User, data: UserUpdate, actor: Actor) -> User:
    changes = data.model_dump(exclude_unset=True)
    role = changes.get("role") or user.role
    is_admin = changes.get("is_admin", user.is_admin)
    regions = changes.get("regions")
    if regions is None and role != "staff":
        # An account leaving the national team leaves its régions with it.
        regions = [] if user.regions else None
    refused = Invalid.collected(
        user_problems(
            role=role, is_admin=is_admin, password=changes.get("password"), regions=regions
        )
    )
    if refused is not None:
        raise refused
    if user.id == actor.user_id and (
        changes.get("active") is False or changes.get("is_admin") is False
    ):
        raise SelfAction(
            "Vous ne pouvez pas vous retirer vos propres droits d'administration.",
        )
    for name in ("name", "role", "is_admin", "active"):
        if name in changes and changes[name] is not None:
            setattr(user, name, changes[name])
    if regions is not None and regions != user.regions:
        user.regions = list(regions)
        changes["regions"] = user.regions
    if changes.get("password"):
        # The lockout message sends a locked-out user to the national team for a new password.
        set_password(session, user=user, new_password=changes["password"])
    user.updated_at = dates.now()
    session.add(user)
    if changes.get("active") is False:
        # Deactivation ends every open session at once.
        close_user_sessions(session, user_id=user.id or 0)
    session.flush()
    # Which fields changed, never their values for a password.
    changed = sorted(k for k, v in changes.items() if v is not None)
    record_fact(
        session,
        actor=actor,
        kind="compte",
        at=user.updated_at,
        data={"op": "modification", "user_id": user.id, "fields": changed},
    )
    return user


# --- passwords ---------------------------------------------------------------------------------

SAME_PASSWORD = "Le nouveau mot de passe doit être différent du mot de passe actuel."
WRONG_PASSWORD = "Le mot de passe actuel est incorrect."


def set_password(
    session: Session, *, user: User, new_password: str, keep_session_id: int | None = None
) -> None:
    """The one way a password is set (an admin, the account's owner, an invitation or reset
    link): refused by the rule of account creation (Invalid on `new_password`), hashed, and
    every web session of the user ends but `keep_session_id` (the one that changed it). API
    tokens stay valid: they are revoked one by one on « Mon compte ». The failed sign-ins before
    it no longer count (the lockout message sends a locked-out user for a new password)."""
    problem = password_problem(new_password)
    if problem:
        raise Invalid(problem, field="new_password")
    # The session's row (the signed-in account is a snapshot: `_read_secret`); no SQL if loaded.
    user = session.get_one(User, user.id)
    user.password_hash = _hasher.hash(new_password)
    user.updated_at = dates.now()
    session.add(user)
    others = select(WebSession).where(WebSession.user_id == user.id)
    if keep_session_id is not None:
        others = others.where(col(WebSession.id) != keep_session_id)
    for record in session.exec(others):
        session.delete(record)
    failures = select(LoginAttempt).where(
        col(LoginAttempt.email) == user.email, col(LoginAttempt.success).is_(False)
    )
    for attempt in session.exec(failures):
        session.delete(attempt)
    session.flush()


def _verify(user: User, password: str) -> bool:
    hashed = user.password_hash or _DUMMY_HASH
    try:
        return _hasher.verify(hashed, password[:PASSWORD_MAX]) and hashed is not _DUMMY_HASH
    except (VerificationError, InvalidHashError):
        return False


def change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    address: str,
    settings: Settings,
    keep_session_id: int | None,
) -> Invalid | None:
    """A user changes their own password, giving the current one (« Mon compte »).

    Throttled like sign-in, and a wrong current password counts as a failed sign-in (else this
    would be a way round the throttle): TooManyAttempts when too many. The refusal is returned,
    not raised, so that the failed attempt it records is committed with the request (a raised
    error rolls the request back): the caller answers it as it is, nothing else changed."""
    now = dates.now()
    _check_throttle(session, email=user.email, address=address, settings=settings, now=now)
    problems = []
    if not _verify(user, current_password):
        session.add(LoginAttempt(email=user.email, address=address[:64], at=now, success=False))
        problems.append({"field": "current_password", "message": WRONG_PASSWORD})
    problem = password_problem(new_password)
    if problem:
        problems.append({"field": "new_password", "message": problem})
    elif not problems and new_password == current_password:
        problems.append({"field": "new_password", "message": SAME_PASSWORD})
    refused = Invalid.collected(problems)
    if refused is not None:
        return refused
    set_password(session, user=user, new_password=new_password, keep_session_id=keep_session_id)
    record_fact(
        session,
        actor=actor_of(user),
        kind="compte",
        action="mot_de_passe",
        at=now,
        data={"user_id": user.id, "sessions": "autres_fermees"},
    )
    return None


# --- sign-in -----------------------------------------------------------------------------------


def _retry_after(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    if oldest is None:
        return int(window.total_seconds())
    return max(1, int((oldest + window - now).total_seconds()) + 1)


def _check_throttle(
    session: Session, *, email: str, address: str, settings: Settings, now: datetime
) -> None:
    window = timedelta(minutes=settings.login_window_minutes)
    since = now - window
    for column, value, limit in (
        (LoginAttempt.email, email, settings.login_max_failures_per_account),
        (LoginAttempt.address, address, settings.login_max_failures_per_address),
    ):
        count, oldest = session.exec(
            select(func.count(), func.min(LoginAttempt.at)).where(
                column == value,
                col(LoginAttempt.success).is_(False),
                col(LoginAttempt.at) >= since,
            )
        ).one()
        if count >= limit:
            retry = _retry_after(oldest, window, now)
            # retry has a second's margin over what is left: say the minutes actually left.
            minutes = max(1, math.ceil((retry - 1) / 60))
            raise TooManyAttempts(
                "Trop de tentatives de connexion : la connexion est bloquée pendant "
                f"{plural(minutes, 'minute')}. Attendez ce délai avant "
                "de réessayer, ou demandez à l'équipe nationale "
                f"({settings.contact_email}) de réinitialiser votre mot de passe.",
                retry_after=retry,
            )


def authenticate(
    session: Session, *, email: str, password: str, address: str, settings: Settings
) -> User | None:
    """The user, or None for a wrong e-mail or password (the attempt is recorded either way:
    the caller must commit even on failure). Raises TooManyAttempts when throttled."""
    email = normalize_email(email)[:320]
    now = dates.now()
    _check_throttle(session, email=email, address=address, settings=settings, now=now)
    user = get_user_by_email(session, email)
    ok = False
    hashed = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(hashed, password[:PASSWORD_MAX]) and hashed is not _DUMMY_HASH
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(email=email, address=address[:64], at=now, success=ok))
    if not ok or user is None:
        return None
    if _hasher.check_needs_rehash(hashed):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    session.add(user)
    return user


# --- web sessions ------------------------------------------------------------------------------


@dataclass
class OpenedSession:
    raw_token: str
    record: WebSession


def open_session(session: Session, *, user: User, settings: Settings) -> OpenedSession:
    """A new session id at every sign-in (never reuse one from before authentication)."""
    now = dates.now()
    raw = secrets.token_urlsafe(32)
    record = WebSession(
        token_hash=digest(raw),
        user_id=user.id or 0,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
    )
    session.add(record)
    session.flush()
    return OpenedSession(raw, record)


def find_session(
    session: Session, *, raw_token: str, settings: Settings
) -> tuple[User, WebSession] | None:
    """The live session and its active user, or None (unknown, expired, idle, deactivated)."""
    found = _read_secret(session, WebSession, raw_token)
    if found is None:
        return None
    user, record = found.user, found.record
    assert isinstance(record, WebSession)
    if not _session_live(user, record, settings):
        return None
    _known[WebSession].get(found.digest, found.row, lambda: found)
    return user, record


def _session_live(user: User, record: WebSession, settings: Settings) -> bool:
    now = dates.now()
    idle_limit = record.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    return user.active and now < record.expires_at and now < idle_limit


def session_needs_touch(record: WebSession) -> bool:
    return dates.now() - record.last_seen_at >= TOUCH_EVERY


def touch_session(session: Session, *, session_id: int) -> None:
    record = session.get(WebSession, session_id)
    if record is not None:
        record.last_seen_at = dates.now()
        session.add(record)


def close_session(session: Session, *, raw_token: str) -> None:
    record = session.exec(
        select(WebSession).where(WebSession.token_hash == digest(raw_token))
    ).first()
    if record is not None:
        session.delete(record)


def close_user_sessions(session: Session, *, user_id: int) -> None:
    for record in session.exec(select(WebSession).where(WebSession.user_id == user_id)):
        session.delete(record)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


# --- API tokens --------------------------------------------------------------------------------


def create_token(session: Session, *, user: User, name: str) -> tuple[str, ApiToken]:
    """The raw token is returned once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id or 0,
        name=name,
        token_hash=digest(raw),
        prefix=raw[:10],
        created_at=dates.now(),
    )
    session.add(token)
    session.flush()
    return raw, token


def list_tokens(session: Session, *, user_id: int) -> Sequence[ApiToken]:
    return session.exec(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id))
    ).all()


def revoke_token(session: Session, *, user_id: int, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id:
        raise NotFound("Ce jeton est introuvable.")
    if token.revoked_at is None:
        token.revoked_at = dates.now()
        session.add(token)
    return token


def find_token(session: Session, *, raw_token: str) -> tuple[User, ApiToken] | None:
    found = _read_secret(session, ApiToken, raw_token)
    if found is None:
        return None
    user, token = found.user, found.record
    assert isinstance(token, ApiToken)
    if token.revoked_at is not None or not user.active:
        return None
    _known[ApiToken].get(found.digest, found.row, lambda: found)
    return user, token


# --- the signed-in account, at every request ---------------------------------------------------

_USERS = sa.inspect(User).local_table
_OWN = "own_"  # the secret's row's columns, beside the user's


def _secret_query(model: type[SQLModel]) -> Any:
    """The row of a secret's digest (parameter `digest`) and its user, columns labelled: built
    once, run through Core (the ORM's execution and loading cost more than the query)."""
    table = sa.inspect(model).local_table
    return (
        sa.select(*_USERS.c, *(c.label(_OWN + c.key) for c in table.c))
        .join_from(table, _USERS, _USERS.c.id == table.c.user_id)
        .where(table.c.token_hash == sa.bindparam("digest", type_=sa.String))
    )


_SESSION_QUERY = _secret_query(WebSession)
_TOKEN_QUERY = _secret_query(ApiToken)


_QUERIES: dict[type[SQLModel], Any] = {WebSession: _SESSION_QUERY, ApiToken: _TOKEN_QUERY}


@dataclass(frozen=True)
class KnownSecret:
    """A session or an API token and its user as this process last read them valid
    (`find_session`, `find_token`): the row (the user's columns, then the record's) and the
    snapshots made of it (not attached to any session: a route that changes the account loads
    its row, `change_password`).

    Never trusted alone: a statement that joins `SIGNER_ROWS[type(record)]` reads the row
    again, and only the very row known signs the request (`still_signs`), so that a sign-out, a
    revocation, a deactivation, a role or a région changed, by any process, count at once."""

    digest: str
    row: tuple[Any, ...]
    user: User
    record: WebSession | ApiToken


def _read_secret(session: Session, model: type[SQLModel], raw_token: str) -> KnownSecret | None:
    """The row of `raw_token` and its user, made into snapshots without the ORM."""
    secret_digest = digest(raw_token)
    row = session.connection().execute(_QUERIES[model], {"digest": secret_digest}).first()
    if row is None:
        return None
    values = row._mapping
    user = User.model_construct(**{c.key: values[c.key] for c in _USERS.c})
    own = sa.inspect(model).local_table.c
    record = model.model_construct(**{c.key: values[_OWN + c.key] for c in own})
    assert isinstance(record, WebSession | ApiToken)
    return KnownSecret(secret_digest, tuple(row), user, record)


# --- a secret this process has read valid: checked again within the answer's own statement ----

# Keyed by the secret's digest; a row changed is replaced at its next `find_*`.
_known: dict[type[SQLModel], cache.Cache] = {
    WebSession: cache.Cache("sessions lues", size=4096),
    ApiToken: cache.Cache("jetons d'API lus", size=4096),
}

# Each secret's row as `find_session` and `find_token` read it, as a derived table to join
# (parameter `digest`).
SIGNER_ROWS: dict[type[SQLModel], Any] = {
    model: query.subquery("signataire") for model, query in _QUERIES.items()
}


def known_secret(model: type[WebSession] | type[ApiToken], raw_token: str) -> KnownSecret | None:
    known: KnownSecret | None = _known[model].peek(digest(raw_token))
    return known


def still_signs(known: KnownSecret, row: Sequence[Any], settings: Settings) -> bool:
    """The row read now (`SIGNER_ROWS`' columns) is the one known, still valid, and its use
    needs no touch: else the long way (`find_session`, `find_token`) decides and writes."""
    if tuple(row) != known.row:
        return False
    record = known.record
    if isinstance(record, ApiToken):
        return not token_needs_touch(record)
    return _session_live(known.user, record, settings) and not session_needs_touch(record)


def token_needs_touch(token: ApiToken) -> bool:
    return token.last_used_at is None or dates.now() - token.last_used_at >= TOUCH_EVERY


def touch_token(session: Session, *, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = dates.now()
        session.add(token)


# --- project members (porteurs) ----------------------------------------------------------------


def list_members(session: Session, *, project: Project) -> Sequence[User]:
    return session.exec(
        select(User)
        .join(ProjectMember, col(ProjectMember.user_id) == User.id)
        .where(ProjectMember.project_id == project.id)
        .order_by(col(User.name), col(User.id))
    ).all()


def create_member(session: Session, *, project: Project, user_id: int, actor: Actor) -> User:
    user = session.get(User, user_id)
    if user is None or user.role != "porteur":
        raise Invalid("Choisissez un compte de porteur de projet.", field="user_id")
    exists = session.exec(
        select(ProjectMember.id).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user_id
        )
    ).first()
    if exists is not None:
        raise AlreadyMember("Ce compte est déjà lié au projet.")
    session.add(
        ProjectMember(
            project_id=project.id or 0, user_id=user_id, added_at=dates.now(), added_by=actor.name
        )
    )
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="membre",
        data={"op": "ajout", "user_id": user_id, "name": user.name},
    )
    session.flush()
    return user


def delete_member(session: Session, *, project: Project, user_id: int, actor: Actor) -> None:
    link = session.exec(
        select(ProjectMember).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user_id
        )
    ).first()
    if link is None:
        raise NotFound("Ce compte n'est pas lié au projet.")
    user = session.get(User, user_id)
    session.delete(link)
    record_fact(
        session,
        project=project,
        actor=actor,
        kind="membre",
        data={"op": "retrait", "user_id": user_id, "name": user.name if user else ""},
    )


def list_member_projects(session: Session, *, user_id: int) -> Sequence[Project]:
    return session.exec(
        select(Project)
        .join(ProjectMember, col(ProjectMember.project_id) == Project.id)
        .where(ProjectMember.user_id == user_id)
        .order_by(col(Project.name))
    ).all()


# --- accounts by e-mail: invitation and password-reset links ------------------------------------

INVITATION = "invitation"
RESET = "reinitialisation"
LINK_LIFETIMES = {INVITATION: timedelta(days=7), RESET: timedelta(hours=1)}
LINK_PATHS = {INVITATION: "/invitation/", RESET: "/mot-de-passe/"}
# The e-mail templates (`templates/email/<name>.txt|.html`), named by their notification kind.
LINK_TEMPLATES = {INVITATION: "invitation", RESET: "mot_de_passe"}
ACCOUNT_EMAIL_JOB = "courriel_compte"
LINK_INVALID = (
    "Ce lien n'est plus valable : il a déjà servi, il a expiré ou il est incomplet. "
    "Demandez-en un nouveau avec « Mot de passe oublié ? » sur la page de connexion."
)
RESET_THROTTLED = (
    "Trop de demandes de réinitialisation : attendez {minutes} avant de réessayer, ou "
    "demandez à l'équipe nationale ({contact}) de vous aider."
)


def link_secret(secret_key: str, purpose: str, nonce: str) -> str:
    """The secret of a link (what its URL carries), rebuilt from its nonce and the server key."""
    mac = hmac.new(secret_key.encode(), f"labelflow:{purpose}:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def issue_link(session: Session, *, user: User, purpose: str, settings: Settings) -> AccountToken:
    """A new single-use link for `user`, e-mailed by a job after the commit. It replaces the
    links of the same purpose not used yet (only the latest e-mail works)."""
    now = dates.now()
    session.execute(
        sa.update(AccountToken)
        .where(
            col(AccountToken.user_id) == user.id,
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=now)
    )
    nonce = secrets.token_urlsafe(32)
    token = AccountToken(
        user_id=id_of(user),
        purpose=purpose,
        token_hash=digest(link_secret(settings.secret_key, purpose, nonce)),
        created_at=now,
        expires_at=now + LINK_LIFETIMES[purpose],
    )
    session.add(token)
    session.flush()
    jobs.enqueue(
        session,
        kind=ACCOUNT_EMAIL_JOB,
        payload={"token_id": token.id, "nonce": nonce},
        dedupe_key=f"compte:{token.id}",
    )
    return token


def _live_link(session: Session, *, raw_token: str, purpose: str) -> tuple[AccountToken, User]:
    """The unused, unexpired link of that purpose and its active account, else LinkInvalid."""
    token = session.exec(
        select(AccountToken).where(AccountToken.token_hash == digest(raw_token[:200]))
    ).first()  # a digest: whatever the token holds (NUL...) never reaches the database
    if (
        token is None
        or token.purpose != purpose
        or token.used_at is not None
        or token.expires_at <= dates.now()
    ):
        raise LinkInvalid(LINK_INVALID)
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise LinkInvalid(LINK_INVALID)
    return token, user


def check_link(session: Session, *, raw_token: str, purpose: str) -> User:
    """Whose link this is (the page shows the form only for a live link); LinkInvalid else."""
    return _live_link(session, raw_token=raw_token, purpose=purpose)[1]


def confirm_link(session: Session, *, raw_token: str, purpose: str, new_password: str) -> User:
    """Set the password with a live link, which is used up (once, even for two requests at
    once); the account's other pending links go too, and its failed sign-ins are forgotten."""
    token, user = _live_link(session, raw_token=raw_token, purpose=purpose)
    set_password(session, user=user, new_password=new_password)
    now = dates.now()
    used = session.execute(
        sa.update(AccountToken)
        .where(col(AccountToken.id) == token.id, col(AccountToken.used_at).is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkInvalid(LINK_INVALID)  # the other request used it first: this one undoes all
    session.execute(
        sa.update(AccountToken)
        .where(col(AccountToken.user_id) == user.id, col(AccountToken.used_at).is_(None))
        .values(used_at=now)
    )
    session.execute(
        sa.delete(LoginAttempt).where(
            col(LoginAttempt.email) == user.email, col(LoginAttempt.success).is_(False)
        )
    )
    record_fact(
        session,
        actor=actor_of(user),
        kind="compte",
        at=now,
        data={"op": "mot_de_passe", "user_id": user.id, "via": purpose},
    )
    return user


def _check_reset_throttle(
    session: Session, *, email: str, address: str, settings: Settings, now: datetime
) -> None:
    """The sign-in limits, over the reset requests: the same answer for every address."""
    window = timedelta(minutes=settings.login_window_minutes)
    for column, value, limit in (
        (ResetRequest.email, email, settings.login_max_failures_per_account),
        (ResetRequest.address, address, settings.login_max_failures_per_address),
    ):
        count, oldest = session.exec(
            select(func.count(), func.min(ResetRequest.at)).where(
                column == value, col(ResetRequest.at) >= now - window
            )
        ).one()
        if count >= limit:
            retry = _retry_after(oldest, window, now)
            minutes = plural(max(1, math.ceil((retry - 1) / 60)), "minute")
            raise TooManyAttempts(
                RESET_THROTTLED.format(minutes=minutes, contact=settings.contact_email),
                retry_after=retry,
            )


def request_password_reset(
    session: Session, *, email: str, address: str, settings: Settings
) -> None:
    """« Mot de passe oublié » : a reset link e-mailed when the address has an active account.
    Nothing tells the caller whether it has (the request is counted either way)."""
    # PostgreSQL cannot store NUL: no account's address has one.
    email = normalize_email(email).replace("\x00", "")[:320]
    now = dates.now()
    _check_reset_throttle(session, email=email, address=address[:64], settings=settings, now=now)
    session.add(ResetRequest(email=email, address=address[:64], at=now))
    user = get_user_by_email(session, email)
    if user is not None and user.active:
        issue_link(session, user=user, purpose=RESET, settings=settings)
    session.flush()


def send_account_email(ctx: jobs.JobContext) -> jobs.Finish | None:
    """Job `courriel_compte` {token_id, nonce} (outside): the invitation or reset e-mail
    (essential kinds: sent whatever the preferences). The nonce is dropped once sent; a link
    used or expired meanwhile is not sent at all."""
    session = ctx.session
    token = session.get(AccountToken, ctx.payload.get("token_id"))
    nonce = ctx.payload.get("nonce")
    user = session.get(User, token.user_id) if token is not None else None
    if token is None or user is None or not isinstance(nonce, str):
        return None  # gone with its account, or already sent
    forget_nonce = _forget_nonce(ctx.job.id, token.id)
    if token.used_at is not None or token.expires_at <= dates.now() or not user.active:
        return forget_nonce
    raw = link_secret(ctx.settings.secret_key, token.purpose, nonce)
    if not hmac.compare_digest(digest(raw), token.token_hash):
        raise jobs.PermanentFailure(
            "la clé LABELFLOW_SECRET_KEY a changé depuis la demande : ce lien ne peut plus être "
            "écrit (demandez-en un nouveau)"
        )
    if ctx.runtime is None:
        raise jobs.PermanentFailure("pas de gabarits de courriel (runtime absent)")
    base_url = ctx.settings.base_url.rstrip("/")
    rendered = mail.render(
        ctx.runtime.templates,
        LINK_TEMPLATES[token.purpose],
        {
            "user": user,
            "link": f"{base_url}{LINK_PATHS[token.purpose]}{raw}",
            "expires_at": token.expires_at,
            "base_url": base_url,
            "contact_email": ctx.settings.contact_email,
        },
    )
    message = mail.compose(settings=ctx.settings, to=(user.name, user.email), rendered=rendered)
    mail.send(message, settings=ctx.settings)
    return forget_nonce


def _forget_nonce(job_id: int | None, token_id: int | None) -> jobs.Finish:
    """Recorded with the job's status: its payload no longer holds what rebuilds the link."""

    def finish(session: Session) -> None:
        job = session.get(Job, job_id)
        if job is not None:
            job.payload = {"token_id": token_id}
            session.add(job)

    return finish
