"""PostgreSQL's connection pool: handed out in order of arrival, and sized for the server.

SQLAlchemy's ``AsyncAdaptedQueuePool`` serves waiters out of order: a connection that comes back
wakes the longest waiter, but a request that runs before the woken one takes it, and the woken
one goes to the back of ``asyncio.Queue``'s line. Under load a few requests wait again and
again. :class:`FairPool` puts an :class:`AdmissionGate` in front of every checkout, which hands
each returned place straight to the request that has waited longest, so a request waits about
as long as the line in front of it, and at most ``CHECKOUT_TIMEOUT_SECONDS`` before a 503.
Measured (one process pinned to a core, the task list, ``wrk -t2 -c64 -d15s --timeout 10s``, the
same rate of ~130 requests a second both ways, which this machine's CPU sets): p99 2.33 s, the
slowest 3.4 s and a 503 from a pool timeout before; p99 0.75 s, the slowest 0.85 s after.

:func:`pool_size_for` divides the server's ``max_connections`` between the processes that share
it (``TASKBOARD_INSTANCES``), so that adding instances can never exhaust the server.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_

from tiered import ImproperlyConfigured

POOL_CAP = 10
"""The most connections one process keeps. One process served the task list at 64 connections
as fast with 5, 10 or 20 (within noise: it is bound by its own CPU, not by the database), and
every connection held costs the server a backend process."""

RESERVED_CONNECTIONS = 10
"""Connections of PostgreSQL's ``max_connections`` left to everything but the app's processes:
superusers' reserved slots (3 by default), migrations, ``taskboard seed``, psql, backups."""

CHECKOUT_TIMEOUT_SECONDS = 2.0
"""How long a request waits for a place in the pool before it answers 503."""


class AdmissionGate:
    """At most ``size`` holders at a time, admitted strictly in order of arrival.

    A returned place goes straight to the first waiter; a newcomer never overtakes one. ``check``,
    when set, runs before every admission and may raise to refuse it (the circuit breaker does).
    Synchronous except for the wait itself, so a release can run anywhere on the loop's thread.
    """

    def __init__(self, size: int = 1) -> None:
        self._size = size
        self._held = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self.check: Callable[[], None] | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def held(self) -> int:
        return self._held

    @property
    def waiting(self) -> int:
        return sum(1 for future in self._waiting if not future.done())

    def resize(self, size: int) -> None:
        """Admit up to ``size`` at once from now on; places already held stay held."""
        self._size = size
        self._admit_waiting()

    def try_acquire(self) -> bool:
        """Take a place at once if one is free and nobody waits; no awaiting."""
        if self.check is not None:
            self.check()
        if self._held < self._size and not self._waiting:
            self._held += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait in line for a place (bound the wait with ``asyncio.timeout``)."""
        if self.try_acquire():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release()  # admitted just as the wait ended: the place goes to the next
            raise
        if self.check is not None:
            try:
                self.check()  # the breaker may have opened while this request waited
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        self._held -= 1
        self._admit_waiting()

    def reject_waiting(self, error: Callable[[], BaseException]) -> None:
        """Fail everyone in line now with ``error()`` (the breaker opened: nobody will be
        served soon, so nobody should wait out the timeout)."""
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error())

    def _admit_waiting(self) -> None:
        while self._held < self._size and self._waiting:
            future = self._waiting.popleft()
            if not future.done():  # a waiter that timed out is skipped
                self._held += 1
                future.set_result(None)


class FairPool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` behind an :class:`AdmissionGate` of the pool's size.

    The gate decides who gets a connection and when; the queue underneath then always has one
    ready or room to open one, so it never makes anyone wait. Made with ``pool_size`` at least
    the gate's size and ``max_overflow=0``; the gate's size is set once the server's
    ``max_connections`` is known (:func:`pool_size_for`). Connections open only when needed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = AdmissionGate(self.size())

    def _do_get(self) -> ConnectionPoolEntry:
        gate = self.gate
        if not gate.try_acquire():
            # SQLAlchemy calls this inside its greenlet; await_ runs the wait on the loop.
            try:
                await_(_acquire(gate, self._timeout))
            except TimeoutError:
                raise sa_exc.TimeoutError(
                    f"No database connection came free within {self._timeout:.1f} s "
                    f"({gate.size} in the pool, {gate.waiting} requests waiting).",
                    code="3o7r",
                ) from None
        try:
            return super()._do_get()
        except BaseException:
            gate.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self.gate.release()

    def recreate(self) -> FairPool:
        pool = cast(FairPool, super().recreate())  # QueuePool.recreate builds self's class
        pool.gate = self.gate  # connections still out return their places to the same gate
        return pool


async def _acquire(gate: AdmissionGate, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await gate.acquire()


def pool_size_for(max_connections: int, instances: int, explicit: int | None = None) -> int:
    """How many connections each of ``instances`` processes may keep on a server that allows
    ``max_connections``: ``explicit`` if that fits, else its share, at most :data:`POOL_CAP`.

    >>> pool_size_for(100, 1), pool_size_for(100, 6), pool_size_for(100, 6, explicit=15)
    (10, 10, 15)
    """
    available = max_connections - RESERVED_CONNECTIONS
    share = available // instances
    if explicit is not None:
        if explicit * instances > available:
            raise ImproperlyConfigured(
                f"DATABASE_POOL_SIZE={explicit} for each of TASKBOARD_INSTANCES={instances} "
                f"processes needs {explicit * instances} connections, but PostgreSQL allows "
                f"max_connections={max_connections}, of which {RESERVED_CONNECTIONS} are left "
                f"for administration and migrations. Set DATABASE_POOL_SIZE to at most "
                f"{max(share, 1)}, unset it to size the pool by itself, or raise max_connections "
                "in postgresql.conf."
            )
        return explicit
    if share < 1:
        raise ImproperlyConfigured(
            f"TASKBOARD_INSTANCES={instances} processes cannot share PostgreSQL's "
            f"max_connections={max_connections}: with {RESERVED_CONNECTIONS} left for "
            f"administration and migrations, each would get {share}. Raise max_connections to "
            f"at least {instances + RESERVED_CONNECTIONS} in postgresql.conf, or run fewer "
            "processes."
        )
    return min(POOL_CAP, share)
