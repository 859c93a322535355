"""Accounts' business rules. (Sign-up, log-in, passwords and tokens are added here.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from taskboard.accounts.models import StoredSession, User
from taskboard.db import Database

SESSION_USER_KEY = "user_id"
"""Where a logged-in session keeps its user's id."""


class SqlSessionStore:
    """tiered's ``SessionStore`` in the app's database, so sessions survive restarts, are shared
    by every process, and can be revoked: deleting a user's rows logs them out everywhere."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self, session_id: str) -> dict[str, Any] | None:
        async with self._database.sessionmaker() as db:
            row = await db.get(StoredSession, session_id)
            if row is None:
                return None
            if _aware(row.expires_at) < datetime.now(UTC):
                await db.delete(row)
                await db.commit()
                return None
            data: dict[str, Any] = json.loads(row.data)
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


async def user_by_id(database: Database, user_id: int) -> User | None:
    async with database.sessionmaker() as db:
        result = await db.execute(select(User).where(User.id == user_id))
        return result.scalar_one_or_none()


def _aware(moment: datetime) -> datetime:
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
