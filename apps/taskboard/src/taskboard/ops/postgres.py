"""PostgreSQL connections that cannot hang a request: every wait on the server is bounded.

A server that stops answering without refusing (a stalled network path, a frozen server or
proxy) is the case that matters: the kernel still acknowledges what is sent, so the server-side
timeouts never fire, and a request that holds a pooled connection would wait for as long as
the stall lasts. Bounds, from the outside in:

- libpq's ``connect_timeout``: opening a connection (2 s, libpq's minimum);
- :class:`BoundedConnection`: every wait on an open connection (a statement, a commit, the
  pool's pre-ping, the rollback when a connection is returned) ends after
  ``OPERATION_TIMEOUT_SECONDS``, and the connection is then closed, not cancelled, so
  SQLAlchemy invalidates it instead of handing it out again;
- server side, through the connection's options: ``statement_timeout`` and ``lock_timeout``
  below that bound, so a slow query (not a stall) ends with the server's own error on a
  connection that stays usable; ``idle_in_transaction_session_timeout``, so a client that
  vanished mid-transaction does not keep its locks;
- TCP keepalives and ``tcp_user_timeout``: on a real network, a path that drops packets is
  declared dead within seconds even with no request waiting on it.

Why the bound is psycopg's own ``wait(timeout=…)`` and not a cancellation from outside
(measured with a paused proxy, psycopg 3.3.9, libpq 18): when an ``asyncio.timeout`` cancels a
query on a stalled socket, psycopg sends the server a cancel request (which stalls too, 5 s),
waits 5 s more for the query to end, and only then closes the connection: the request answered
after 11 s. Under an ``anyio.fail_after`` (level-triggered) the cancel request is itself
cancelled and the connection closed at once, but only code under anyio's scopes gets that.

Imported only for a PostgreSQL database (psycopg costs a SQLite server ~7 MiB).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors
from psycopg.abc import RV, PQGen
from sqlalchemy.engine import URL

CONNECT_TIMEOUT_SECONDS = 2
"""How long opening a connection may take (libpq counts whole seconds, at least 2)."""

OPERATION_TIMEOUT_SECONDS = 2.0
"""How long any one wait on an open connection may take before the connection is dropped."""

SERVER_OPTIONS = {
    "statement_timeout": "1500ms",
    "lock_timeout": "1s",
    "idle_in_transaction_session_timeout": "10s",
}
"""Set on every connection; a ``DATABASE_URL`` with ``?options=-c…`` may override any of them."""

CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,  # ms: unacknowledged data for this long closes the connection
}
"""libpq's own parameters; any given in ``DATABASE_URL``'s query string wins."""


class DatabaseStalled(psycopg.OperationalError):
    """The server did not answer within ``OPERATION_TIMEOUT_SECONDS``; the connection is closed."""


class BoundedConnection(psycopg.AsyncConnection[Any]):
    """A psycopg connection whose every wait on the server ends in
    ``OPERATION_TIMEOUT_SECONDS`` with :class:`DatabaseStalled`, the connection closed."""

    operation_timeout = OPERATION_TIMEOUT_SECONDS

    async def wait(
        self,
        gen: PQGen[RV],
        interval: float = 0.1,
        timeout: float | None = None,  # noqa: ASYNC109 (psycopg's signature)
    ) -> RV:
        try:
            return await super().wait(
                gen, interval, self.operation_timeout if timeout is None else timeout
            )
        except errors._WaitTimeout:  # psycopg's own timeout, raised by wait()
            # Closed, not cancelled: a cancel request would stall on the same path, and the
            # connection's state is unknown. A closed connection is what SQLAlchemy invalidates.
            self.pgconn.finish()
            raise DatabaseStalled(
                f"PostgreSQL did not answer within {self.operation_timeout:g} s; "
                "the connection was closed."
            ) from None


def connect_args(url: URL) -> dict[str, Any]:
    """What ``create_async_engine`` passes to psycopg for ``url``: the bounded connection
    class, the server-side timeouts, and libpq's timeouts and keepalives."""
    ours = " ".join(f"-c {name}={value}" for name, value in SERVER_OPTIONS.items())
    theirs = url.query.get("options")
    args = {key: value for key, value in CLIENT_OPTIONS.items() if key not in url.query}
    # The URL's own options come last, so they win over ours.
    args["options"] = f"{ours} {theirs}" if isinstance(theirs, str) else ours
    args["async_creator_fn"] = BoundedConnection.connect
    return args
