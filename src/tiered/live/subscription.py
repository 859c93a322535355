"""One subscriber's view of a topic: the events it missed, then live ones, each once, in order.

Opening a subscription first registers a bounded inbox for live events, and only then reads the
history after the subscriber's cursor, together with the position "now" that history reaches. An
event published meanwhile can so arrive twice (in the history and in the inbox) but never be
missed; the inbox drops whatever is not past the position already delivered.

The inbox holds ``queue_size`` events. A subscriber that falls that far behind (a slow client) is
dropped, not buffered without limit: its iteration ends, and the client reconnects from its last
cursor and catches up from the history.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import Literal, Protocol

from tiered.live.events import REFRESH, LiveEvent

EndReason = Literal["closed", "slow", "unavailable"]
"""Why a subscription ended: the bus closed, the subscriber fell behind, or the bus lost its
backend (Redis); a subscription the caller closed itself has no reason."""


class Inbox:
    """A bounded queue of live events for one subscriber; overflowing it ends the subscription."""

    __slots__ = ("_items", "_size", "_wake", "ended")

    def __init__(self, size: int) -> None:
        self._items: deque[LiveEvent] = deque()
        self._size = size
        self._wake = asyncio.Event()
        self.ended: EndReason | None = None

    def offer(self, event: LiveEvent) -> None:
        if self.ended is not None:
            return
        if len(self._items) >= self._size:
            self.end("slow")
            return
        self._items.append(event)
        self._wake.set()

    def end(self, reason: EndReason) -> None:
        """Stop at once: what is still queued is dropped (the client resumes from its cursor)."""
        if self.ended is None:
            self.ended = reason
            self._items.clear()
            self._wake.set()

    async def get(self) -> LiveEvent | None:
        """The next live event, or ``None`` once the inbox has ended."""
        while not self._items:
            if self.ended is not None:
                return None
            self._wake.clear()
            await self._wake.wait()
        return self._items.popleft()


class Feed(Protocol):
    """What a bus gives :class:`LiveSubscription`; each bus implements it."""

    async def open_feed(
        self, topic: str, cursor: str | None, inbox: Inbox
    ) -> tuple[list[LiveEvent] | None, str]:
        """Register ``inbox`` for ``topic``'s live events, then return the events after
        ``cursor`` (``None``: cannot vouch for it) and the cursor "now" they reach."""

    def close_feed(self, topic: str, inbox: Inbox) -> None: ...

    def order(self, cursor: str) -> tuple[int, ...]:
        """A sort key for one of this bus's own cursors."""


class LiveSubscription:
    """The events of one topic for one subscriber; enter it with ``async with``.

    Example::

        async with bus.subscribe("tasks:42", cursor) as events:
            async for event in events:
                ...  # missed events first, then live ones; a REFRESH if cursor was too old

    Iterating without ``async with`` works too (the subscription opens on the first step and
    closes when it ends), but only ``async with`` closes it when the caller stops early.
    """

    def __init__(
        self,
        feed: Feed,
        topic: str,
        cursor: str | None,
        queue_size: int,
    ) -> None:
        self.topic = topic
        self._feed = feed
        self._start = cursor
        self._inbox = Inbox(queue_size)
        self._backlog: deque[LiveEvent] = deque()
        self._position: tuple[int, ...] = ()
        self._cursor = ""
        self._now = ""
        self._state: Literal["new", "open", "done"] = "new"

    @property
    def cursor(self) -> str:
        """The position everything yielded so far reaches: a client that resumes from it misses
        nothing. Once the missed events are out, it is the "now" the subscription opened at."""
        return self._cursor

    @property
    def caught_up(self) -> bool:
        """Whether the missed events (or the REFRESH) have all been yielded."""
        return self._state != "new" and not self._backlog

    @property
    def ended(self) -> EndReason | None:
        """Why the bus ended this subscription, once it has."""
        return self._inbox.ended

    async def open(self) -> None:
        """Register for live events and read what was missed; raises if the bus cannot."""
        if self._state != "new":
            return
        history, now = await self._feed.open_feed(self.topic, self._start, self._inbox)
        self._state = "open"
        if history is None:
            history = [LiveEvent(id=now, topic=self.topic, kind=REFRESH)]
        self._backlog.extend(history)
        # Before the first missed event is out, the subscriber is where its own cursor says.
        self._cursor = self._start if history and self._start is not None else now
        self._now = now
        self._position = self._feed.order(now)

    async def aclose(self) -> None:
        if self._state == "open":
            self._feed.close_feed(self.topic, self._inbox)
        self._state = "done"

    async def __aenter__(self) -> LiveSubscription:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> LiveSubscription:
        return self

    async def __anext__(self) -> LiveEvent:
        if self._state == "new":
            await self.open()
        if self._backlog:
            event = self._backlog.popleft()
            self._cursor = event.id if self._backlog else self._now
            return event
        while self._state == "open":
            live = await self._inbox.get()
            if live is None:
                break
            position = self._feed.order(live.id)
            if position <= self._position:
                continue  # already in the history this subscription started with
            self._position = position
            self._cursor = live.id
            return live
        await self.aclose()
        raise StopAsyncIteration
