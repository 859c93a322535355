"""Operations: what the app does while its database is away, and how its logs are written.

A request that needs an unreachable database answers 503 (a page, a fragment or a problem
document, with ``Retry-After``) instead of a 500, and quickly: after a failed connection attempt,
or a PostgreSQL connection that stopped answering, the :class:`DatabaseGuard` fails every new
attempt at once for a short cool-down, so requests do not each wait out a timeout. Then one
attempt at a time probes the database; the first that succeeds closes the breaker, so the app
recovers by itself without a restart.
"""

from __future__ import annotations

import asyncio
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
from sqlalchemy.engine import ExceptionContext

import tiered
from taskboard.db import ANSWERED_AT, CONNECT_TIMEOUT_SECONDS, Database

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
    """A circuit breaker on the database.

    It opens when a connection attempt fails, or, on PostgreSQL, when an open connection stops
    answering (:class:`~taskboard.ops.postgres.DatabaseStalled`). While it is open, every
    connection attempt, and on PostgreSQL every checkout from the pool, raises
    :class:`tiered.ServiceUnavailable` at once, and the requests already waiting for a place in
    the pool fail at once too: a request meets at most one bounded wait on a database that is
    away. After the cool-down one request at a time probes; the first connection that opens, or
    that the server has answered on since the failure (a check at checkout, see
    :func:`taskboard.db._check_when_idle`), closes the breaker.

    Hooked into the engine's events (and the pool's admission gate), so it covers every path to
    the database: the request's session, the session store, ``/readyz``. ``clock`` is for tests.
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
        self._failed_at = float("-inf")
        self._open_until = 0.0
        self._prober: asyncio.Task[Any] | None = None
        self._gate = database.gate
        engine = database.engine.sync_engine
        # How long a probe may take: a connection attempt, or on PostgreSQL a pre-ping on a
        # pooled connection and then a connection attempt.
        self._probe_seconds: float = CONNECT_TIMEOUT_SECONDS
        self._stalled: tuple[type[Exception], ...] = ()
        if self._gate is not None:
            from taskboard.ops import postgres  # psycopg is loaded already for PostgreSQL

            self._probe_seconds = postgres.OPERATION_TIMEOUT_SECONDS + float(
                postgres.CONNECT_TIMEOUT_SECONDS
            )
            self._stalled = (postgres.DatabaseStalled,)
            self._gate.check = self._admit
            event.listen(engine, "handle_error", self._error)
            event.listen(engine, "checkout", self._checked_out)
        for each in database.sync_engines:
            event.listen(each, "do_connect", self._connect)

    @property
    def is_open(self) -> bool:
        """Whether connections and checkouts are failing fast right now."""
        return self._clock() < self._open_until

    def _admit(self) -> None:
        """Before every checkout from PostgreSQL's pool."""
        if self._failing:
            self._check()

    def _check(self) -> None:
        """Fail fast while open; once the cool-down is over, let this caller probe."""
        now = self._clock()
        task = _current_task()
        if task is not None and task is self._prober:
            return  # the probe's own connection attempt, after its failed pre-ping
        if now < self._open_until:
            raise database_unavailable(self._open_until - now)
        if self._failing:
            # This attempt probes; the others keep failing fast until it is done.
            self._prober = task
            self._open_until = now + self._probe_seconds + self.cooldown_seconds

    def _connect(
        self, dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        self._check()
        try:
            connection = dialect.connect(*cargs, **cparams)
        except BaseException as exc:
            self._trip(exc)
            raise
        self._recovered()
        return connection

    def _error(self, context: ExceptionContext) -> None:
        if isinstance(context.original_exception, self._stalled):
            self._trip(context.original_exception)

    def _checked_out(self, _dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A connection the server answered on after the failure: the database answers. (One
        # handed out unchecked, used just before, proves nothing; its statement will tell.)
        if self._failing and record.info.get(ANSWERED_AT, float("-inf")) > self._failed_at:
            self._recovered()

    def _trip(self, exc: BaseException) -> None:
        if not self._failing:
            logger.warning(
                "The database does not answer (%s); answering 503 at once for %.1f s, then "
                "trying again.",
                exc,
                self.cooldown_seconds,
            )
        self._failing = True
        self._failed_at = time.monotonic()  # the connections' clock (taskboard.db.ANSWERED_AT)
        self._prober = None
        self._open_until = self._clock() + self.cooldown_seconds
        if self._gate is not None:
            self._gate.reject_waiting(lambda: database_unavailable(self.cooldown_seconds))

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            self._prober = None
            self._open_until = 0.0
            logger.warning("The database is reachable again.")


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop: a synchronous caller
        return None


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
