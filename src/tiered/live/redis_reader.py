"""One reader per process: ``XREAD BLOCK`` over every watched topic, fanned out to inboxes.

A thousand open pages on one instance so cost one Redis connection, not a thousand. The reader
runs while any topic is watched and stops when none is. A topic newly watched joins the read within
``block_ms`` (the reader re-reads its list of topics after each ``XREAD``), and its subscribers
miss nothing meanwhile: the first of them registers, reads its history together with the
position "now", and the reader starts the topic at that position. Later subscribers register
before reading their history, so an entry reaches each of them either there or in its inbox,
possibly both (the subscription drops the repeat).

When Redis does not answer (the read fails, or takes ``block_ms`` plus the socket timeout), every
inbox is ended ("unavailable") and the reader stops: each stream ends and its client reconnects
from its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tiered.live.events import LiveEvent
from tiered.live.redis_streams import decode_entry
from tiered.live.subscription import EndReason, Inbox

if TYPE_CHECKING:
    import redis.asyncio as aioredis

History = tuple[list[LiveEvent] | None, str]

_COUNT = 100
"""Entries per topic per ``XREAD``; a busier topic is simply read again at once."""


@dataclass(eq=False, slots=True)
class _Watch:
    """A watched topic, and where the reader has read it up to (an entry id)."""

    last_id: str | None = None
    inboxes: set[Inbox] = field(default_factory=set)
    starting: asyncio.Lock = field(default_factory=asyncio.Lock)


class StreamReader:
    """Fans out new entries of the watched topics' streams to their subscribers' inboxes."""

    def __init__(
        self,
        connect: Callable[[], aioredis.Redis],
        prefix: str,
        block_ms: int,
        on_lost: Callable[[Exception, int], None],
    ) -> None:
        self._connect = connect
        self._prefix = f"{prefix}:t:"
        self._block_ms = block_ms
        self._on_lost = on_lost
        """Told the error and how many subscribers it ends, when Redis stops answering."""
        self._topics: dict[str, _Watch] = {}
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(
        self, topic: str, inbox: Inbox, read: Callable[[], Awaitable[History]]
    ) -> History:
        """Watch ``topic`` for ``inbox``, then ``read`` its history (which says "now")."""
        watch = self._topics.get(topic)
        if watch is None:
            watch = self._topics[topic] = _Watch()
        watch.inboxes.add(inbox)  # before the history is read, so nothing falls between
        try:
            if watch.last_id is None:
                async with watch.starting:  # the first subscriber sets where the reader starts
                    history = await read()
                    if watch.last_id is None:
                        watch.last_id = history[1].partition(".")[2]
                        self._started.set()
            else:
                history = await read()
        except BaseException:
            self.close(topic, inbox)
            raise
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return history

    def close(self, topic: str, inbox: Inbox) -> None:
        watch = self._topics.get(topic)
        if watch is not None:
            watch.inboxes.discard(inbox)
            if not watch.inboxes:
                del self._topics[topic]
                self._started.set()  # a reader waiting for topics to start may now stop

    def end_all(self, reason: EndReason) -> None:
        for watch in self._topics.values():
            for inbox in list(watch.inboxes):
                inbox.end(reason)
        self._topics.clear()
        self._started.set()

    async def aclose(self) -> None:
        self.end_all("closed")
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        client = self._connect()
        while self._topics:
            streams: dict[Any, Any] = {
                self._prefix + topic: watch.last_id
                for topic, watch in self._topics.items()
                if watch.last_id is not None
            }
            if not streams:  # topics still being started: wait for the first of them
                self._started.clear()
                await self._started.wait()
                continue
            try:
                reply: Any = await client.xread(streams, count=_COUNT, block=self._block_ms)
            except Exception as exc:  # redis.RedisError, OSError, a timeout
                self._on_lost(exc, sum(len(watch.inboxes) for watch in self._topics.values()))
                self.end_all("unavailable")
                return
            self._fan_out(reply or [])

    def _fan_out(self, reply: Any) -> None:
        skip = len(self._prefix)
        for key, entries in reply:
            topic = key[skip:]
            watch = self._topics.get(topic)
            if watch is None:
                continue  # nobody watches it any more
            for entry_id, fields in entries:
                event = decode_entry(topic, entry_id, fields)
                watch.last_id = entry_id
                for inbox in list(watch.inboxes):
                    inbox.offer(event)
