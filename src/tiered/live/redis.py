"""Live updates across processes and instances, through Redis streams.

An event published on one instance reaches the subscribers of every instance that shares the
Redis. How topics are stored and cursors judged is in :mod:`tiered.live.redis_streams`; how one
reader per process delivers live entries is in :mod:`tiered.live.redis_reader`. This module holds
the bus itself, and what it does when Redis stalls or is down (the class docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tiered.core.errors import ImproperlyConfigured, ServiceUnavailable
from tiered.live import redis_streams
from tiered.live.events import (
    REFRESH,
    RETRY_AFTER_SECONDS,
    UNKNOWN_CURSOR,
    LiveEvent,
    bus_closed,
    check_event,
    check_topic,
)
from tiered.live.redis_reader import History, StreamReader
from tiered.live.subscription import Inbox, LiveSubscription

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger("tiered.live")

UNAVAILABLE = "Live updates are unavailable for a moment; reconnect shortly."
"""The detail of the 503 a subscription or a history read gets while Redis is away."""

PUBLISH_DROPPED = (
    "Redis at %s did not answer (%s); live updates are dropped for the next %.0f s, and their "
    "topics get a refresh once Redis answers again."
)
READER_LOST = (
    "Redis at %s did not answer the live reader (%s); ending this process's %d live streams, "
    "whose clients reconnect and catch up from their cursors."
)

_MAX_MISSED = 10_000


class RedisLiveBus:
    """Events in Redis streams, shared by every process and instance that uses the same Redis.

    When Redis does not answer within ``timeout_seconds``:

    - :meth:`publish` gives up after that long at most, logs a warning and drops the event (its
      ``id`` is ``""``); for ``cooldown_seconds`` after, it drops at once without asking. The
      request that changed something never waits on Redis, and the page still works. The topics
      whose events were dropped are remembered (up to 10,000; beyond that the epoch is renewed,
      which makes every client refetch) and get a :data:`~tiered.live.events.REFRESH` event
      once Redis answers again, so pages that missed a change refetch instead of showing it stale.
    - the reader ends every subscription of this process ("unavailable"), so each stream ends
      and its client reconnects with its cursor; while Redis is away, opening a subscription and
      :meth:`since` raise :class:`~tiered.core.errors.ServiceUnavailable` (a 503 with
      ``Retry-After``), and the client retries or falls back to polling.
    - :meth:`cursor` gives :data:`~tiered.live.events.UNKNOWN_CURSOR`, so a page still renders;
      its client gets a refresh once it can subscribe.

    Example::

        bus = RedisLiveBus("redis://127.0.0.1:6379/0")
        await bus.publish("tasks:42", "task.updated", {"id": 7})
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tiered:live",
        retention_seconds: float = 300,
        max_events_per_topic: int = 1000,
        queue_size: int = 256,
        timeout_seconds: float = 0.5,
        cooldown_seconds: float = 2.0,
        block_seconds: float = 1.0,
        key_ttl_seconds: float = 86_400,
    ) -> None:
        if min(retention_seconds, timeout_seconds, block_seconds) <= 0 or cooldown_seconds < 0:
            raise ImproperlyConfigured(
                f"RedisLiveBus(retention_seconds={retention_seconds!r}, timeout_seconds="
                f"{timeout_seconds!r}, block_seconds={block_seconds!r}, cooldown_seconds="
                f"{cooldown_seconds!r}): durations must be positive (the cool-down may be 0)."
            )
        if max_events_per_topic < 1 or queue_size < 1 or key_ttl_seconds < retention_seconds:
            raise ImproperlyConfigured(
                f"RedisLiveBus(max_events_per_topic={max_events_per_topic!r}, queue_size="
                f"{queue_size!r}, key_ttl_seconds={key_ttl_seconds!r}): the counts must be "
                "positive, and the key TTL at least retention_seconds."
            )
        self.url = url
        self.prefix = prefix
        self.retention_seconds = retention_seconds
        self.max_events_per_topic = max_events_per_topic
        self.queue_size = queue_size
        self._timeout = timeout_seconds
        self._cooldown = cooldown_seconds
        self._block_ms = max(1, round(block_seconds * 1000))
        self._ttl_ms = max(1, round(key_ttl_seconds * 1000))
        self._retention_ms = max(1, round(retention_seconds * 1000))
        # One more than a stream holds: reading that many means the history is not all there.
        self._read_count = max_events_per_topic + 1
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._reader_client: aioredis.Redis | None = None
        self._reader = StreamReader(self._reader_redis, prefix, self._block_ms, self._reader_lost)
        self._down_until = 0.0
        self._missed: set[str] = set()
        self._renew_epoch = False
        self._catching_up: asyncio.Task[None] | None = None
        self._closed = False
        # Imported with the bus, not at the module's import (redis.asyncio costs ~15 MB in a
        # process that uses no Redis), nor at the first request: importing it took a fresh
        # instance's event loop half a second while the requests behind it waited.
        import redis.asyncio  # noqa: F401

    # Connections, made on first use in the event loop that serves requests.

    def _redis(self) -> aioredis.Redis:
        import redis.asyncio as aioredis

        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                decode_responses=True,
            )
            self._scripts = {
                "publish": self._client.register_script(redis_streams.PUBLISH),
                "read": self._client.register_script(redis_streams.READ),
            }
        return self._client

    def _reader_redis(self) -> aioredis.Redis:
        import redis.asyncio as aioredis

        if self._reader_client is None:
            # Its own connection: an XREAD BLOCK holds it, and waits longer than a command may.
            self._reader_client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self._block_ms / 1000 + self._timeout,
                socket_connect_timeout=self._timeout,
                decode_responses=True,
                max_connections=1,
                client_name=f"{self.prefix}:reader",  # one per process, as CLIENT LIST shows
            )
        return self._reader_client

    def key(self, topic: str) -> str:
        return f"{self.prefix}:t:{topic}"

    async def _run(self, name: str, topic: str, *args: object) -> Any:
        self._redis()
        async with asyncio.timeout(self._timeout):
            return await self._scripts[name](
                keys=[self.key(topic), f"{self.prefix}:epoch"],
                args=[secrets.token_hex(4), *args],
            )

    # LiveBus

    async def publish(
        self,
        topic: str,
        kind: str,
        data: Mapping[str, object] | None = None,
        *,
        origin: str | None = None,
    ) -> LiveEvent:
        text = check_event(topic, kind, data, origin)
        event = LiveEvent("", topic, kind, dict(data or {}), origin)
        if not self._available():
            self._missed_event(topic)
            return event
        try:
            epoch, entry_id = await self._run(
                "publish",
                topic,
                kind,
                text,
                origin or "",
                self.max_events_per_topic,
                self._retention_ms,
                self._ttl_ms,
            )
        except Exception as exc:  # redis.RedisError, OSError, a timeout: Redis is not answering
            self._went_away(exc)
            self._missed_event(topic)
            return event
        self._catch_up()
        return LiveEvent(f"{epoch}.{entry_id}", topic, kind, event.data, origin)

    async def cursor(self, topic: str) -> str:
        check_topic(topic)
        try:
            _, now = await self._read(topic, None)
        except ServiceUnavailable:  # the page renders all the same; its client refetches once
            return UNKNOWN_CURSOR
        return now

    async def since(self, topic: str, cursor: str) -> list[LiveEvent] | None:
        check_topic(topic)
        history, _ = await self._read(topic, cursor)
        return history

    def subscribe(self, topic: str, cursor: str | None = None) -> LiveSubscription:
        check_topic(topic)
        return LiveSubscription(self, topic, cursor, self.queue_size)

    async def aclose(self) -> None:
        self._closed = True
        await self._reader.aclose()
        task, self._catching_up = self._catching_up, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in (self._client, self._reader_client):
            if client is not None:
                await client.aclose()
        self._client = self._reader_client = None

    # The Feed that LiveSubscription reads.

    async def open_feed(self, topic: str, cursor: str | None, inbox: Inbox) -> History:
        if self._closed:
            raise bus_closed()
        return await self._reader.open(topic, inbox, lambda: self._read(topic, cursor))

    def close_feed(self, topic: str, inbox: Inbox) -> None:
        self._reader.close(topic, inbox)

    def order(self, cursor: str) -> tuple[int, ...]:
        return redis_streams.order_of(cursor)

    async def _read(self, topic: str, cursor: str | None) -> History:
        if not self._available():
            raise self._unavailable()
        try:
            reply = await self._run(
                "read", topic, redis_streams.read_start(cursor), self._read_count
            )
        except Exception as exc:
            self._went_away(exc)
            raise self._unavailable() from exc
        self._catch_up()
        return redis_streams.judge(topic, cursor, reply, self._ttl_ms, self._read_count)

    # When Redis is away, and after

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _went_away(self, exc: Exception) -> None:
        if self._available():
            logger.warning(PUBLISH_DROPPED, self.url, exc or type(exc).__name__, self._cooldown)
        self._down_until = time.monotonic() + self._cooldown

    def _unavailable(self) -> ServiceUnavailable:
        return ServiceUnavailable(UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    def _reader_lost(self, exc: Exception, subscribers: int) -> None:
        logger.warning(READER_LOST, self.url, exc or type(exc).__name__, subscribers)
        self._went_away(exc)

    def _missed_event(self, topic: str) -> None:
        if len(self._missed) < _MAX_MISSED:
            self._missed.add(topic)
        else:
            self._renew_epoch = True

    def _catch_up(self) -> None:
        """Redis answered: announce what was dropped meanwhile, in the background."""
        if not (self._missed or self._renew_epoch):
            return
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.get_running_loop().create_task(self._announce_missed())

    async def _announce_missed(self) -> None:
        """Publish a REFRESH to each topic whose events were dropped (or renew the epoch)."""
        if self._renew_epoch:
            self._renew_epoch = False
            self._missed.clear()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._redis().set(f"{self.prefix}:epoch", secrets.token_hex(4))
            except Exception as exc:
                self._renew_epoch = True
                self._went_away(exc)
            return
        while self._missed and self._available():
            topic = self._missed.pop()
            event = await self.publish(topic, REFRESH)
            if not event.id:
                return  # Redis went away again; the topic is remembered once more
