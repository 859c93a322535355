"""Accounts' business rules: sign-up, log-in, passwords, sessions and API tokens.

Views call these functions and never decide a rule themselves. A rule that fails on what a person
typed raises :class:`tiered.ValidationFailed` naming the field, so every caller (a form, the JSON
API, the ``taskboard create-user`` command) shows the same message.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import runpy
import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from taskboard.accounts.models import ApiToken, StoredSession, User
from taskboard.db import Database
from tiered import FieldError, NotFound, ValidationFailed

SESSION_USER_KEY = "user_id"
"""Where a logged-in session keeps its user's id."""


_USER_COLUMNS = (User.id, User.email, User.password_hash, User.is_admin, User.created_at)
_SESSION_AND_USER = (
    select(StoredSession.data, StoredSession.expires_at, *_USER_COLUMNS)
    .outerjoin(User, User.id == StoredSession.user_id)
    .where(StoredSession.id == bindparam("session_id"))
)
"""Every request's first query, built once: building it took longer than SQLite's answer. Its
user comes as columns, read at the Core level (:meth:`taskboard.db.Database.rows`): loading an ORM
entity cost more than the query."""


class SqlSessionStore:
    """tiered's ``SessionStore`` in the app's database, so sessions survive restarts, are shared
    by every process, and can be revoked: deleting a user's rows logs them out everywhere."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """The session's data; its user comes in the same query (see :func:`user_of_session`)."""
        row = await self._database.first_row(_SESSION_AND_USER, {"session_id": session_id})
        if row is None:
            return None
        raw, expires_at, user_id, email, password_hash, is_admin, created_at = tuple(row)
        if aware(expires_at) < datetime.now(UTC):
            await self.delete(session_id)
            return None
        # Outside any session, as a user read by a session that has closed: changes to it go
        # through UPDATE statements (see _set_password).
        user = (
            None
            if user_id is None
            else User(
                id=user_id,
                email=email,
                password_hash=password_hash,
                is_admin=is_admin,
                created_at=created_at,
            )
        )
        _session_user.set(user)
        data: dict[str, Any] = json.loads(raw)
        return data

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        user_id = data.get(SESSION_USER_KEY)
        expires_at = datetime.now(UTC) + timedelta(seconds=max_age)
        async with self._database.sessionmaker() as db:
            row = await db.get(StoredSession, session_id)
            if row is None:
                row = StoredSession(id=session_id)
                db.add(row)
            row.user_id = user_id if isinstance(user_id, int) else None
            row.data = json.dumps(data)
            row.expires_at = expires_at
            await db.commit()

    async def delete(self, session_id: str) -> None:
        async with self._database.sessionmaker() as db:
            await db.execute(delete(StoredSession).where(StoredSession.id == session_id))
            await db.commit()


_session_user: ContextVar[User | None] = ContextVar("taskboard_session_user", default=None)
"""The user :meth:`SqlSessionStore.load` read with this request's session. Each request runs in
a task of its own, with its own copy of the context, so it never sees another request's user."""


async def user_of_session(database: Database, user_id: int) -> User | None:
    """The session's user ``user_id``: the one read with the session when it is that user (a
    page that needs the user costs no second query), otherwise from the database."""
    user = _session_user.get()
    if user is not None and user.id == user_id:
        return user
    return await user_by_id(database, user_id)


async def user_by_id(database: Database, user_id: int) -> User | None:
    async with database.sessionmaker() as db:
        result = await db.execute(select(User).where(User.id == user_id))
        return result.scalar_one_or_none()


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every datetime this app stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_hasher = PasswordHasher()
"""argon2id with argon2-cffi's current defaults (RFC 9106's second recommended option)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


async def create_user(
    database: Database, email: str, password: str, *, is_admin: bool = False
) -> User:
    """Store a new user (the email already normalised and the password already checked)."""
    async with database.sessionmaker() as db:
        user = User(email=email, password_hash=hash_password(password), is_admin=is_admin)
        db.add(user)
        await db.commit()
        return user


# --- the rules for what people type -------------------------------------------------------------

MIN_PASSWORD_LENGTH = 8
"""NIST SP 800-63B §5.1.1.2: at least 8 characters, no composition rules."""
MAX_PASSWORD_LENGTH = 1000
"""Long enough for any passphrase (NIST asks for at least 64); short enough to hash cheaply."""

EMAIL_INVALID = "Enter an email address like name@example.org ({reason})"
EMAIL_TAKEN = "An account with this email already exists. Log in instead, or use another email."
EMAIL_TAKEN_CODE = "email-taken"
PASSWORD_TOO_SHORT = (
    f"Your password must be at least {MIN_PASSWORD_LENGTH} characters long. Try a longer one, "
    "such as a few unrelated words."
)
PASSWORD_TOO_LONG = (
    f"Your password must be at most {MAX_PASSWORD_LENGTH:,} characters long. Choose a shorter one."
)
PASSWORD_TOO_COMMON = (
    "This password is on a list of commonly used passwords, so it is easy to guess. Choose "  # noqa: S105
    "another, such as a few unrelated words."
)
BAD_CREDENTIALS = "Email or password is incorrect."
"""The one log-in failure message: it never says whether the email has an account."""
CURRENT_PASSWORD_WRONG = "Your current password is not correct. Type it again."  # noqa: S105


def normalise_email(raw: str) -> str:
    """The form every email is stored and looked up in: trimmed and lower-case."""
    return raw.strip().lower()


@functools.cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from real breaches (lower-case), in the
    # generated module of its word lists. That module is run on its own, on first use: importing
    # it as zxcvbn.frequency_lists would first run zxcvbn's __init__, which ranks all six lists
    # for its strength estimator, and a server process would keep ~14 MiB instead of ~6.
    spec = importlib.util.find_spec("zxcvbn")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("zxcvbn, which has the list of common passwords, is missing")
    lists = Path(spec.submodule_search_locations[0]) / "frequency_lists.py"
    return frozenset(runpy.run_path(str(lists))["FREQUENCY_LISTS"]["passwords"])


def password_problem(password: str) -> tuple[str, str] | None:
    """What is wrong with a new password, as ``(message, code)``, or ``None`` when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return PASSWORD_TOO_SHORT, "password-too-short"
    if len(password) > MAX_PASSWORD_LENGTH:
        return PASSWORD_TOO_LONG, "password-too-long"
    if password.lower() in _common_passwords():
        return PASSWORD_TOO_COMMON, "password-too-common"
    return None


def _field_error(field: str, message: str, code: str) -> FieldError:
    return FieldError(field, "/" + field, message, code)


def _checked_email(raw: str, errors: list[FieldError]) -> str:
    email = normalise_email(raw)
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        errors.append(_field_error("email", EMAIL_INVALID.format(reason=reason) + ".", "email"))
    return email


def valid_email(raw: str) -> str:
    """``raw`` as emails are stored, or :class:`ValidationFailed` on ``email`` saying what is
    wrong with it (the sign-up form's check, which asks no DNS server)."""
    errors: list[FieldError] = []
    email = _checked_email(raw, errors)
    if errors:
        raise ValidationFailed(errors[0].message, errors=errors)
    return email


async def user_by_email(database: Database, email: str) -> User | None:
    """The user with this email (normalised as stored), or ``None``."""
    return await _user_by_email(database, normalise_email(email))


# --- sign-up and log-in -------------------------------------------------------------------------


async def register(
    database: Database, email: str, password: str, *, is_admin: bool = False
) -> User:
    """Create an account after checking the email and the password like the sign-up form does.

    Raises :class:`tiered.ValidationFailed` with one error per bad field (``email``,
    ``password``); an email that already has an account is an ``email`` error (at sign-up that
    cannot be hidden). The ``taskboard create-user`` command calls this too.

    Example::

        user = await register(database, "Ada@Example.org ", "a long passphrase", is_admin=True)
    """
    errors: list[FieldError] = []
    email = _checked_email(email, errors)
    problem = password_problem(password)
    if problem is not None:
        errors.append(_field_error("password", *problem))
    if not errors and await _user_by_email(database, email) is not None:
        errors.append(_field_error("email", EMAIL_TAKEN, EMAIL_TAKEN_CODE))
    if errors:
        raise ValidationFailed(" ".join(e.message for e in errors), errors=errors)
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    async with database.sessionmaker() as db:
        user = User(
            email=email,
            password_hash=password_hash,
            is_admin=is_admin,
            created_at=datetime.now(UTC),
        )
        db.add(user)
        try:
            await db.commit()
        except IntegrityError:  # another sign-up with this email won the race
            raise ValidationFailed.for_field("email", EMAIL_TAKEN, EMAIL_TAKEN_CODE) from None
        return user


async def _user_by_email(database: Database, email: str) -> User | None:
    async with database.sessionmaker() as db:
        result = await db.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def authenticate(database: Database, email: str, password: str) -> User | None:
    """The user with this email and password, or ``None``; as slow for an unknown email.

    An unknown email still costs one argon2 verification (against a throw-away hash), so timing
    does not tell whether an account exists. A hash made with older parameters is replaced.
    """
    user = await _user_by_email(database, normalise_email(email))
    stored = user.password_hash if user is not None else _dummy_hash()
    valid = await anyio.to_thread.run_sync(verify_password, stored, password)
    if user is None or not valid:
        return None
    if needs_rehash(user.password_hash):
        await _set_password(database, user, password)
    return user


async def _set_password(database: Database, user: User, password: str) -> None:
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    async with database.sessionmaker() as db:
        await db.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
        await db.commit()
    user.password_hash = password_hash


async def change_password(database: Database, user: User, current: str, new: str) -> None:
    """Check ``current``, store ``new`` (checked like a sign-up), end every session of the user
    and revoke every API token: whoever learnt the old password (and made a token with it) is
    locked out. The caller rotates its own session so that it alone stays logged in."""
    if not await anyio.to_thread.run_sync(verify_password, user.password_hash, current):
        raise ValidationFailed.for_field(
            "current_password", CURRENT_PASSWORD_WRONG, "password-incorrect"
        )
    problem = password_problem(new)
    if problem is not None:
        raise ValidationFailed.for_field("new_password", *problem)
    await _set_password(database, user, new)
    await end_sessions(database, user.id)
    await revoke_tokens(database, user.id)


async def end_sessions(database: Database, user_id: int) -> int:
    """Delete every stored session of the user ("log out everywhere"); how many there were."""
    async with database.sessionmaker() as db:
        result = await db.execute(delete(StoredSession).where(StoredSession.user_id == user_id))
        await db.commit()
        return int(getattr(result, "rowcount", 0) or 0)


# --- API tokens ---------------------------------------------------------------------------------

TOKEN_PREFIX = "tb_"  # noqa: S105 (a prefix, not a token)
"""Marks Taskboard's tokens, so secret scanners and people can tell what a leaked one is."""
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
"""``last_used_at`` is written at most this often, so using a token is not a write per request."""


def token_digest(token: str) -> str:
    """What is stored for a token: its SHA-256, hex (a token is random, so no slow hash is
    needed, and the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(database: Database, user_id: int, name: str) -> tuple[ApiToken, str]:
    """A new API token for the user: the stored row, and the token (shown once, never stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with database.sessionmaker() as db:
        row = ApiToken(
            user_id=user_id,
            name=name.strip() or "API token",
            token_hash=token_digest(token),
            created_at=datetime.now(UTC),
        )
        db.add(row)
        await db.commit()
        return row, token


async def tokens_of(database: Database, user_id: int) -> Sequence[ApiToken]:
    """The user's tokens, newest first."""
    async with database.sessionmaker() as db:
        result = await db.execute(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
        return result.scalars().all()


async def revoke_tokens(database: Database, user_id: int) -> int:
    """Delete every API token of the user; how many there were."""
    async with database.sessionmaker() as db:
        result = await db.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
        await db.commit()
        return int(getattr(result, "rowcount", 0) or 0)


class TokenNotFound(NotFound):
    code = "token-not-found"
    title = "No such API token"
    next_step = "The settings page lists your tokens."


async def revoke_token(database: Database, user_id: int, token_id: int) -> ApiToken:
    """Delete one of the user's tokens; another user's token is as missing as no token."""
    async with database.sessionmaker() as db:
        row = await db.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise TokenNotFound(f"You have no API token {token_id}; it may be revoked already.")
        await db.delete(row)
        await db.commit()
        return row


async def user_for_token(database: Database, token: str) -> User | None:
    """The user a bearer token belongs to, or ``None``; notes when the token was last used."""
    now = datetime.now(UTC)
    async with database.sessionmaker() as db:
        result = await db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == token_digest(token))
        )
        found = result.one_or_none()
        if found is None:
            return None
        row, user = found
        if row.last_used_at is None or now - aware(row.last_used_at) >= TOKEN_TOUCH_INTERVAL:
            row.last_used_at = now
            await db.commit()
        return user
