"""Operations: what the app does while its database is away, and how its logs are written.

A request that needs an unreachable database answers 503 (a page, a fragment or a problem
document, with ``Retry-After``) instead of a 500, and quickly: after a failed connection attempt
the :class:`DatabaseGuard` fails every new attempt at once for a short cool-down, so requests do
not each wait out the connect timeout. Then one attempt at a time probes the database; the first
that succeeds closes the breaker, so the app recovers by itself without a restart.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc

import tiered
from taskboard.db import CONNECT_TIMEOUT_SECONDS, Database

logger = logging.getLogger("taskboard.ops")

COOLDOWN_SECONDS = 1.5
"""How long every new connection attempt fails at once after one failed."""

UNAVAILABLE_DETAIL = (
    "Taskboard cannot reach its database at the moment. Nothing you sent was lost or half-saved; "
    "try again in a few seconds."
)


def database_unavailable(retry_after: float = COOLDOWN_SECONDS) -> tiered.ServiceUnavailable:
    """The 503 every representation gets while the database is away."""
    seconds = max(1, math.ceil(retry_after))
    return tiered.ServiceUnavailable(
        UNAVAILABLE_DETAIL,
        headers={"Retry-After": str(seconds)},
        extra={"retry_after": seconds},
    )


def driver_errors() -> tuple[type[Exception], ...]:
    """The drivers' own exceptions that mean the database cannot be reached: sqlite3's, and
    psycopg's once psycopg is loaded.

    psycopg is looked up, not imported: SQLAlchemy loads it for a PostgreSQL database, and none
    of its exceptions can exist before that, while importing it would cost a server on SQLite
    about 7 MiB for nothing.
    """
    errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += (psycopg.OperationalError, psycopg.InterfaceError)
    return errors


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (not a bad query or a constraint)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    return isinstance(exc, (*driver_errors(), ConnectionError))


class DatabaseGuard:
    """A circuit breaker on the database's new connections.

    Hooked into the engine's ``do_connect`` event, so it covers every path to the database: the
    request's session, the session store, ``/readyz``. While it is open, a connection attempt
    raises :class:`tiered.ServiceUnavailable` at once. ``clock`` is for tests.
    """

    def __init__(
        self,
        database: Database,
        *,
        cooldown_seconds: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failing = False
        self._open_until = 0.0
        event.listen(database.engine.sync_engine, "do_connect", self._connect)

    @property
    def is_open(self) -> bool:
        """Whether new connection attempts are failing fast right now."""
        return self._clock() < self._open_until

    def _connect(
        self, dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        now = self._clock()
        if now < self._open_until:
            raise database_unavailable(self._open_until - now)
        if self._failing:
            # This attempt probes; the others keep failing fast until it is done.
            self._open_until = now + CONNECT_TIMEOUT_SECONDS + self.cooldown_seconds
        try:
            connection = dialect.connect(*cargs, **cparams)
        except BaseException as exc:
            self._trip(exc)
            raise
        if self._failing:
            self._failing = False
            self._open_until = 0.0
            logger.warning("The database is reachable again.")
        return connection

    def _trip(self, exc: BaseException) -> None:
        if not self._failing:
            logger.warning(
                "Cannot connect to the database (%s); answering 503 at once for %.1f s, then "
                "trying again.",
                exc,
                self.cooldown_seconds,
            )
        self._failing = True
        self._open_until = self._clock() + self.cooldown_seconds


class ResilientSessionStore:
    """Any :class:`tiered.SessionStore`, with database outages turned into a negotiated 503."""

    def __init__(self, store: tiered.SessionStore) -> None:
        self._store = store

    async def load(self, session_id: str) -> dict[str, Any] | None:
        try:
            return await self._store.load(session_id)
        except Exception as exc:
            if is_database_unavailable(exc):
                raise database_unavailable() from exc
            raise

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        try:
            await self._store.save(session_id, data, max_age)
        except Exception as exc:
            if is_database_unavailable(exc):
                raise database_unavailable() from exc
            raise

    async def delete(self, session_id: str) -> None:
        try:
            await self._store.delete(session_id)
        except Exception as exc:
            if is_database_unavailable(exc):
                raise database_unavailable() from exc
            raise


_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and every field passed as ``extra``
    (the access log's ``request_id``, ``route``, ``status``…)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` settings for ``taskboard serve``: JSON lines on stdout, one
    per request from ``tiered.access``, and the servers' own messages in the same form."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLineFormatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            # The servers' own loggers write through ours; their access lines are off.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "propagate": False},
            "_granian": {"level": level, "handlers": [], "propagate": True},
            "granian.access": {"level": "WARNING", "propagate": False},
            "alembic": {"level": "WARNING"},  # "Context impl SQLiteImpl." on every start
        },
        "root": {"level": level, "handlers": ["stdout"]},
    }
