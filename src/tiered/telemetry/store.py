"""Where the fleet's telemetry is summed: per-minute buckets of counts, in memory or in Redis.

Each minute (``int(unix_time // 60)``) has one bucket: a flat mapping of field name to count.
The field names are built by :class:`~tiered.telemetry.runtime.Telemetry` from closed sets only
(tiers, reasons, representations, client kinds, declared flags, known failure kinds, bucket
indexes), never from what a client sent, so a bucket cannot grow without bound:

====================================  ===========================================================
``req|{tier}|{representation}``       requests
``client|{kind}``                     requests by client kind (``browser``, ``api``, …)
``status|{class}``                    requests by status class (``2xx`` … ``5xx``)
``why|{tier}|{reason}``               requests whose tier had that reason
``pv|{tier}``                         HTML page views served to browsers
``js|{tier}``                         the bootstrap script's confirmations (beacons)
``flag|{key}|{variant}``              flag evaluations
``fail|{kind}``                       enhancement failures the bootstrap script reported
``lat|{tier}|{representation}|{i}``   requests whose duration fell in latency bucket ``i``
====================================  ===========================================================

Processes add their counts (:meth:`TelemetryStore.add`) off the request path, about once a
second; the dashboard reads a range of minutes (:meth:`TelemetryStore.read`) and sums them. With
:class:`RedisTelemetryStore`, every process and instance that shares the Redis adds to the same
buckets (``HINCRBY`` on one hash per minute, with a TTL), so the dashboard shows the whole fleet.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis.asyncio as aioredis


Buckets = Mapping[int, Mapping[str, int]]
"""Counts by minute, then by field name."""

DEFAULT_RETENTION_MINUTES = 48 * 60


class TelemetryStore(Protocol):
    """Per-minute counts shared by every process that writes to the same store."""

    async def add(self, buckets: Buckets) -> None:
        """Add ``buckets`` to the stored counts (may raise; the caller logs and drops them)."""

    async def read(self, first_minute: int, last_minute: int) -> dict[int, dict[str, int]]:
        """The counts of each minute from ``first_minute`` to ``last_minute`` inclusive that has
        any."""

    async def aclose(self) -> None:
        """Release connections; the store is not used afterwards."""


class MemoryTelemetryStore:
    """This process's counts only: the default, and for tests."""

    def __init__(self, *, retention_minutes: int = DEFAULT_RETENTION_MINUTES) -> None:
        self.retention_minutes = retention_minutes
        self._minutes: dict[int, Counter[str]] = {}

    async def add(self, buckets: Buckets) -> None:
        for minute, fields in buckets.items():
            self._minutes.setdefault(minute, Counter()).update(fields)
        oldest = int(time.time() // 60) - self.retention_minutes
        for minute in [m for m in self._minutes if m < oldest]:
            del self._minutes[minute]

    async def read(self, first_minute: int, last_minute: int) -> dict[int, dict[str, int]]:
        return {
            minute: dict(fields)
            for minute, fields in self._minutes.items()
            if first_minute <= minute <= last_minute
        }

    async def aclose(self) -> None:
        return None


class RedisTelemetryStore:
    """Counts in Redis: one hash per minute (``{prefix}:{minute}``), kept ``retention_minutes``.

    Every call is one pipelined round trip with short timeouts; a Redis that is down makes
    :meth:`add` raise after at most ``timeout_seconds``, on the background flush, never on a
    request.

    Example::

        store = RedisTelemetryStore("redis://127.0.0.1:6379/0")
        telemetry = Telemetry(store=store)
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tiered:telemetry",
        retention_minutes: int = DEFAULT_RETENTION_MINUTES,
        timeout_seconds: float = 0.5,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl_seconds = retention_minutes * 60
        self._timeout = timeout_seconds
        self._client: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis:
        # Made on first use, inside the event loop that serves requests (connections belong to it).
        # Imported here: redis.asyncio costs ~15 MB per worker that uses no Redis.
        import redis.asyncio as aioredis

        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                decode_responses=True,
            )
        return self._client

    def key(self, minute: int) -> str:
        return f"{self.prefix}:{minute}"

    async def add(self, buckets: Buckets) -> None:
        pipe = self._redis().pipeline(transaction=False)
        for minute, fields in buckets.items():
            key = self.key(minute)
            for field, count in fields.items():
                pipe.hincrby(key, field, count)
            pipe.expire(key, self.ttl_seconds)
        await pipe.execute()

    async def read(self, first_minute: int, last_minute: int) -> dict[int, dict[str, int]]:
        minutes = range(first_minute, last_minute + 1)
        pipe = self._redis().pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(self.key(minute))
        results = await pipe.execute()
        return {
            minute: {field: int(count) for field, count in fields.items()}
            for minute, fields in zip(minutes, results, strict=True)
            if fields
        }

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
