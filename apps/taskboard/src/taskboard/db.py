"""The database: an async SQLAlchemy engine, sessions per request, and the declarative base.

SQLite runs in WAL mode with foreign keys on, so readers never wait for the writer, and its
statements run on the event loop itself (see :class:`InlineSQLiteDialect`). PostgreSQL
connections are checked before use, so the app recovers by itself when the server comes back;
they are handed out in order of arrival from a pool sized for the server's ``max_connections``
(:mod:`taskboard.ops.pool`), and no wait on the server is unbounded, even when it stops
answering altogether (:mod:`taskboard.ops.postgres`).

Input from outside meets the database here too. A path parameter annotated :data:`Id` is a 404
when no row could have it (past PostgreSQL's ``integer``, where the driver would fail and the
client get a 500), before any query runs; tiered refuses bodies with text no database stores
before a handler runs. What still gets to a driver that cannot take it (a NUL in a query string,
a number past a column's range) is a 400 here (:func:`_client_mistake`), not a 500 with a
traceback in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Path
from pydantic import AfterValidator
from sqlalchemy import (
    Engine,
    Executable,
    MetaData,
    Result,
    Row,
    create_engine,
    event,
    exc,
    make_url,
    pool,
    text,
)
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from starlette.requests import Request

import tiered
from taskboard.ops.pool import (
    CHECKOUT_TIMEOUT_SECONDS,
    POOL_CAP,
    AdmissionGate,
    FairPool,
    pool_size_for,
)

logger = logging.getLogger("taskboard.db")
_T = TypeVar("_T")

CONNECT_TIMEOUT_SECONDS = 3
"""How long a request waits for SQLite's file before the app answers 503."""

PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection idle this long is checked (a ``SELECT 1``) before it is handed
out; one the server answered on more recently is handed out as it is."""

ANSWERED_AT = "taskboard_answered_at"
"""In a pooled connection's ``info``: when (``time.monotonic()``) the server last answered on it:
when it was opened, given back after use, or checked."""


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """SQLite for the async engine (``sqlite+inline://``): the standard library's driver, its
    statements run right where SQLAlchemy's asyncio layer calls them, on the event loop.

    Written here because no library does it: aiosqlite, the async SQLite driver SQLAlchemy
    ships a dialect for, runs every call on a thread of its own per connection. A statement on
    Taskboard's indexed tables takes 10 to 300 µs, but each trip to that thread and back costs tens
    of microseconds, a statement makes four or more, and under load the handoffs of the GIL
    between the loop and the connection threads cost more than the queries: under load they
    were about 70% of the task list's CPU, and the list page went from ~14 ms of CPU a request
    with aiosqlite to ~5 ms with this dialect and the changes made with it (``bench/README.md``).
    SQLAlchemy's asyncio layer runs sync drivers inside its greenlet without trouble; it only
    refuses drivers that are not marked async, which is all this class changes. (One guard
    stays: ``AsyncConnection.execute`` insists the driver awaited something, so use sessions,
    or ``AsyncConnection.run_sync``, with this dialect.)

    What running on the loop means: while a statement runs, nothing else in the process does.
    That is fine for SQLite in WAL mode, where readers never wait; a write waits only while a
    writer in *another* process holds the lock (``busy_timeout``). Code must not await other
    work (a thread, the network) between a write and its commit: a second writer in the same
    process would then block the loop until the timeout. Taskboard's services write and commit
    in one stretch; PostgreSQL, the scaled mode, has no such rule.
    """

    driver = "inline"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("factory", _InlineConnection)
        return super().connect(*args, **kwargs)


class InlineSQLiteSession(AsyncSession):
    """An ``AsyncSession`` that closes in place when it leaves ``async with``.

    ``AsyncSession.__aexit__`` runs ``close()`` in a task of its own behind ``asyncio.shield``,
    so a cancellation cannot cut a close that waits on the network short. That costs a trip
    round the event loop per session, and the request goes to the back of the queue with its
    connection checked out. On :class:`InlineSQLiteDialect` a close never waits (nothing in it
    yields), so it cannot be cut short, and the shield only costs.
    """

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()


class _InlineCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio results call on an async driver's cursor once a statement
        ran; rows of a sync cursor are simply read when asked for, so there is nothing to do."""


class _InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _InlineCursor) -> Any:
        return super().cursor(factory)


registry.register("sqlite.inline", __name__, "InlineSQLiteDialect")


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Database:
    """One engine and its session factory; made by ``create_app``, started and closed by its
    lifespan.

    ``instances`` (how many processes share this database) and ``pool_size`` (an explicit size
    for this process's pool) size PostgreSQL's pool when :meth:`start` has read the server's
    ``max_connections``; SQLite ignores both.
    """

    def __init__(self, url: str, *, instances: int = 1, pool_size: int | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.instances = instances
        self.explicit_pool_size = pool_size
        self.gate: AdmissionGate | None = None
        """PostgreSQL's admission to the pool: its size is the pool's (see :meth:`start`)."""
        options: dict[str, Any] = {}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": CONNECT_TIMEOUT_SECONDS}
        else:
            # Imported here: psycopg costs a server on SQLite ~7 MiB (taskboard.ops.postgres).
            from taskboard.ops import postgres

            options.update(
                poolclass=FairPool,
                # Checked only after PING_AFTER_IDLE_SECONDS idle (_check_when_idle).
                pool_pre_ping=False,
                # The gate admits the pool's real size; the queue below only needs the room.
                pool_size=max(POOL_CAP, pool_size or 0),
                max_overflow=0,
                pool_timeout=CHECKOUT_TIMEOUT_SECONDS,
                connect_args=postgres.connect_args(make_url(url)),
            )
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self.reader: Engine | None = _sqlite_reader(url) if self.is_sqlite else None
        """SQLite's engine for :meth:`rows` and :meth:`first_row` (a file's; ``None`` for
        PostgreSQL and an in-memory database, read through :attr:`engine`)."""
        for engine in self.sync_engines:
            event.listen(engine, "handle_error", _client_mistake)
            if self.is_sqlite:
                event.listen(engine, "connect", _sqlite_pragmas)
        if not self.is_sqlite:
            self.gate = cast(FairPool, self.engine.sync_engine.pool).gate
            _check_when_idle(self.engine.sync_engine)
        self.sessionmaker = async_sessionmaker(
            self.engine,
            class_=InlineSQLiteSession if self.is_sqlite else AsyncSession,
            expire_on_commit=False,
        )

    @property
    def sync_engines(self) -> tuple[Engine, ...]:
        """Every engine that opens connections, for what watches them (the database guard)."""
        engines = (self.engine.sync_engine,)
        return engines if self.reader is None else (*engines, self.reader)

    @property
    def pool_size(self) -> int | None:
        """How many connections this process may hold at once (PostgreSQL; set by
        :meth:`start`)."""
        return None if self.gate is None else self.gate.size

    async def start(self) -> None:
        """Size PostgreSQL's pool from the server's ``max_connections`` and ``instances``
        (raises :class:`tiered.ImproperlyConfigured` when they cannot fit), then open all of
        its connections. Nothing for SQLite.

        Opened here, before the server takes a request, rather than as load asks for them: a
        fresh instance that took load at once (behind nginx, in a rolling restart) spent its
        first seconds waiting on new PostgreSQL backends, and every request past 250 ms in the
        topology bench fell in those seconds (bench/README.md, part 6). Ten connections open
        side by side in a few milliseconds.
        """
        if self.gate is None:
            return
        async with self.engine.connect() as connection:
            max_connections = int(await connection.scalar(text("SHOW max_connections")) or 0)
        size = pool_size_for(max_connections, self.instances, self.explicit_pool_size)
        self.gate.resize(size)
        async with contextlib.AsyncExitStack() as held:
            # All held at once, so each is a connection of its own; back in the pool on exit.
            # Every attempt ends before the stack does, so none is left checked out.
            opened = await asyncio.gather(
                *(held.enter_async_context(self.engine.connect()) for _ in range(size)),
                return_exceptions=True,
            )
        failures = [found for found in opened if isinstance(found, BaseException)]
        if failures:
            # The pool opens the rest when load asks for them; the instance still serves.
            logger.warning(
                "Opened %d of the pool's %d PostgreSQL connections at start; the rest open "
                "on demand. The first failure: %s",
                size - len(failures),
                size,
                failures[0],
            )

    async def rows(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
        """The rows of a read of committed data that loads no ORM entity (columns, not
        ``select(Task)``), on a Core connection of its own, outside any transaction.

        For the hot reads whose rows are only shown (the task list, every request's session):

        - the ORM's execution (its compile state, result set-up, identity map) and loading each
          row as an entity cost more than SQLite takes to answer: the list's page query took
          289 µs of CPU through the ORM and 184 at the Core level (the bench's seeded SQLite,
          one query at a time);
        - on SQLite the read runs on :attr:`reader`, a plain synchronous engine on the same
          file: the statement runs on the event loop either way (:class:`InlineSQLiteDialect`),
          and without SQLAlchemy's asyncio layer (a greenlet for the connect, the statement and
          the close) a read costs 28 µs of CPU instead of 62 (a one-row read, one at a time). It
          never waits for its pool: nothing awaits while it holds a connection, so one loop
          holds at most one;
        - on PostgreSQL the read runs in autocommit: one round trip, where a session's
          transaction adds a ``BEGIN`` before it and a ``ROLLBACK`` when the connection goes
          back to the pool.

        It does not see what a session of the same request has written and not committed; what
        is changed afterwards is read with the ORM, which tracks it.
        """
        return await self._read(statement, params, Result.all)

    async def first_row(self, statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None:
        """The first row of a read as :meth:`rows` makes it, or None."""
        return await self._read(statement, params, Result.first)

    async def _read(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        take: Callable[[Result[Any]], _T],
    ) -> _T:
        """``take`` of the statement's result, read as :meth:`rows` describes."""
        if self.reader is not None:
            with self.reader.connect() as sync:
                return take(sync.execute(statement, params))
        async with self._connect() as connection:
            return await connection.run_sync(lambda sync: take(sync.execute(statement, params)))

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for a read (PostgreSQL's in autocommit), closed on leaving the block:
        on SQLite in place, for the reason :class:`InlineSQLiteSession` gives (``AsyncConnection``'s
        own exit closes in a task of its own, and under load every caller held its connection for
        a trip round the loop: the pool opened a new one every sixth request); elsewhere
        shielded, as SQLAlchemy does."""
        if not self.is_sqlite:
            async with self.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                yield connection
            return
        connection = await self.engine.connect()
        try:
            yield connection
        finally:
            await connection.close()

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection (they are opened again when next needed)."""
        await self.engine.dispose()
        if self.reader is not None:
            self.reader.dispose()


UNSTORABLE_VALUE = (
    "A value in the request contains a NUL character (U+0000), which cannot be stored or "
    "searched for; remove it and try again."
)
OUT_OF_RANGE_VALUE = (
    "A number in the request is outside the range stored here (-2,147,483,648 to "
    "2,147,483,647); send one within it."
)


def _client_mistake(context: ExceptionContext) -> None:
    """Turn a driver's refusal of a value from outside into a 400 problem.

    psycopg refuses text with NUL before sending it, PostgreSQL numbers past an ``integer``
    (``NumericValueOutOfRange``), and sqlite3 integers past 64 bits (``OverflowError``). Matched
    by name: importing psycopg costs a SQLite server ~7 MiB.
    """
    error = context.original_exception
    kind = type(error)
    if isinstance(error, OverflowError) or kind.__name__ == "NumericValueOutOfRange":
        raise tiered.BadRequest(OUT_OF_RANGE_VALUE) from error
    if kind.__module__.startswith("psycopg") and "cannot contain NUL" in str(error):
        raise tiered.BadRequest(UNSTORABLE_VALUE) from error


def _check_when_idle(engine: Engine) -> None:
    """Check a pooled connection before handing it out only when it has been idle for
    :data:`PING_AFTER_IDLE_SECONDS`: what SQLAlchemy's ``pool_pre_ping`` does, without its round
    trip on every checkout.

    The check is there for connections that died in the pool (the server restarted, a firewall
    dropped them while idle). On a busy instance every connection is back in the pool within
    milliseconds of its last answer, and the ping was half of the list page's round trips on
    PostgreSQL and 80 µs of CPU a checkout. A connection that fails its check is handled as
    SQLAlchemy handles a failed pre-ping (the same call, so the engine's ``handle_error``
    listeners, the database guard among them, see a stall at the check): the pool's
    connections are all replaced and the checkout tries a new one. A connection that dies
    between two uses less than a second apart fails its next statement, as one that dies during
    a statement does, and that too replaces the pool's connections.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def opened(_dbapi_connection: Any, record: Any) -> None:
        record.info[ANSWERED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:  # None: invalidated on the way back
            record.info[ANSWERED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def check_when_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(ANSWERED_AT, float("-inf")) < PING_AFTER_IDLE_SECONDS:
            return
        # SQLAlchemy's own pre-ping, events and all (Pool's checkout calls the same).
        if not dialect._do_ping_w_event(dbapi_connection):
            raise exc.InvalidatePoolError()
        record.info[ANSWERED_AT] = time.monotonic()


def _sqlite_reader(url: str) -> Engine | None:
    """A synchronous engine on the SQLite file at ``url``, for the reads :meth:`Database.rows`
    makes; ``None`` for an in-memory database, which only its own connection sees."""
    parsed = make_url(url)
    if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
        return None
    return create_engine(
        parsed.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
        # One loop holds one connection at a time (see Database.rows); the rest is for threads.
        poolclass=pool.QueuePool,
        pool_size=1,
        max_overflow=7,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        yield session


# Closed when the path operation returns, before the response is sent: a connection is not
# held while the response goes out, nor while tiered saves the session at its start, which
# would take a second connection from the same pool.
DbSession = Annotated[AsyncSession, Depends(_db_session, scope="function")]
"""A path-operation parameter that receives a database session for this request."""


# --- ids from outside ----------------------------------------------------------------------------

MAX_ID = 2**31 - 1
"""The largest id a row can have: ids are ``Integer`` columns, PostgreSQL's 4-byte ``integer``.
SQLite's hold 8 bytes, but its ids count up from 1 the same way, so none ever gets past this."""

NO_SUCH_ID = "There is nothing with the id {value} here: ids run from 1 to {max:,}."
"""The 404's detail for an id no row can have; tests assert on it."""


def _possible_id(value: int) -> int:
    # Not a 422: the address is well formed, there is just nothing at it (and an id that cannot
    # exist is as missing as one that does not). Raised from validation, before the handler.
    if not 1 <= value <= MAX_ID:
        raise tiered.NotFound(NO_SUCH_ID.format(value=value, max=MAX_ID))
    return value


Id = Annotated[
    int,
    AfterValidator(_possible_id),
    Path(json_schema_extra={"minimum": 1, "maximum": MAX_ID}),
]
"""A path parameter that names a row (``task_id: Id``): outside 1 to :data:`MAX_ID` it is a 404,
so every route answers an impossible id as it answers a missing one; OpenAPI states the range."""
