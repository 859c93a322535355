"""Live updates within one process: the embedded default, and for tests.

Cursors are ``{epoch}.{sequence}``: one counter for the whole bus, so positions are ordered in
every topic, and an epoch drawn when the bus is made, so that after a restart the cursors of the
old process are refused (``None``, the client refetches) instead of silently matching nothing.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tiered.core.errors import ImproperlyConfigured
from tiered.live.events import LiveEvent, bus_closed, check_event, check_topic
from tiered.live.subscription import Inbox, LiveSubscription

_CURSOR = re.compile(r"^([0-9a-f]{8})\.(\d{1,18})$")
_SWEEP_SECONDS = 1.0


@dataclass(eq=False, slots=True)
class _Topic:
    events: deque[tuple[int, float, LiveEvent]] = field(default_factory=deque)
    trimmed: int = 0
    """The highest sequence number dropped from ``events``: cursors before it are stale."""
    inboxes: set[Inbox] = field(default_factory=set)


class MemoryLiveBus:
    """Events kept in this process for ``retention_seconds`` (at most ``max_events_per_topic``
    per topic), delivered to this process's subscribers only.

    A cursor stays good as long as no event after it has been dropped; one older than the window
    may so still be good when its topic was quiet, and the cursor of a topic that was never
    published to is judged against the events of topics forgotten since (an unneeded refresh,
    never a missed event).

    Example::

        bus = MemoryLiveBus()
        cursor = await bus.cursor("tasks:42")          # embedded in the page
        await bus.publish("tasks:42", "task.updated", {"id": 7}, origin=page_origin)
        assert [e.kind for e in await bus.since("tasks:42", cursor)] == ["task.updated"]
    """

    def __init__(
        self,
        retention_seconds: float = 300,
        max_events_per_topic: int = 1000,
        *,
        queue_size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if retention_seconds <= 0 or max_events_per_topic < 1 or queue_size < 1:
            raise ImproperlyConfigured(
                f"MemoryLiveBus(retention_seconds={retention_seconds!r}, max_events_per_topic="
                f"{max_events_per_topic!r}, queue_size={queue_size!r}): each must be positive."
            )
        self.retention_seconds = retention_seconds
        self.max_events_per_topic = max_events_per_topic
        self.queue_size = queue_size
        self.epoch = secrets.token_hex(4)
        """Drawn when the bus is made; part of every cursor it gives out."""
        self._clock = clock
        self._sequence = 0
        self._topics: dict[str, _Topic] = {}
        self._forgotten = 0
        """The highest sequence number of a topic forgotten entirely (see the class docstring)."""
        self._swept = clock()
        self._closed = False

    async def publish(
        self,
        topic: str,
        kind: str,
        data: Mapping[str, object] | None = None,
        *,
        origin: str | None = None,
    ) -> LiveEvent:
        check_event(topic, kind, data, origin)
        self._sequence += 1
        event = LiveEvent(self._cursor(self._sequence), topic, kind, dict(data or {}), origin)
        now = self._clock()
        state = self._topic(topic)
        state.events.append((self._sequence, now, event))
        self._trim(state, now)
        for inbox in list(state.inboxes):
            inbox.offer(event)
        if now - self._swept >= _SWEEP_SECONDS:
            self._sweep(now)
        return event

    async def cursor(self, topic: str) -> str:
        check_topic(topic)
        return self._cursor(self._sequence)

    async def since(self, topic: str, cursor: str) -> list[LiveEvent] | None:
        check_topic(topic)
        return self._since(topic, cursor)

    def subscribe(self, topic: str, cursor: str | None = None) -> LiveSubscription:
        check_topic(topic)
        return LiveSubscription(self, topic, cursor, self.queue_size)

    async def aclose(self) -> None:
        self._closed = True
        for state in self._topics.values():
            for inbox in list(state.inboxes):
                inbox.end("closed")
            state.inboxes.clear()

    # The Feed that LiveSubscription reads.

    async def open_feed(
        self, topic: str, cursor: str | None, inbox: Inbox
    ) -> tuple[list[LiveEvent] | None, str]:
        if self._closed:
            raise bus_closed()
        # Nothing here awaits, so no event can fall between the history and the inbox.
        self._topic(topic).inboxes.add(inbox)
        history = [] if cursor is None else self._since(topic, cursor)
        return history, self._cursor(self._sequence)

    def close_feed(self, topic: str, inbox: Inbox) -> None:
        state = self._topics.get(topic)
        if state is not None:
            state.inboxes.discard(inbox)

    def order(self, cursor: str) -> tuple[int, ...]:
        found = _CURSOR.match(cursor)
        return (int(found.group(2)),) if found else (-1,)

    def _topic(self, topic: str) -> _Topic:
        state = self._topics.get(topic)
        if state is None:
            # A topic forgotten earlier may have had events; judge old cursors as for one unknown.
            state = self._topics[topic] = _Topic(trimmed=self._forgotten)
        return state

    def _cursor(self, sequence: int) -> str:
        return f"{self.epoch}.{sequence}"

    def _since(self, topic: str, cursor: str) -> list[LiveEvent] | None:
        found = _CURSOR.match(cursor)
        if found is None or found.group(1) != self.epoch:
            return None
        position = int(found.group(2))
        if position > self._sequence:
            return None  # not a cursor this bus gave out
        state = self._topics.get(topic)
        if state is None:
            return None if position < self._forgotten else []
        self._trim(state, self._clock())
        if position < state.trimmed:
            return None
        return [event for sequence, _, event in state.events if sequence > position]

    def _trim(self, state: _Topic, now: float) -> None:
        events = state.events
        oldest = now - self.retention_seconds
        while events and (len(events) > self.max_events_per_topic or events[0][1] < oldest):
            state.trimmed = events.popleft()[0]

    def _sweep(self, now: float) -> None:
        """Trim every topic, and forget those left with no event and no subscriber."""
        self._swept = now
        for topic, state in list(self._topics.items()):
            self._trim(state, now)
            if not state.events and not state.inboxes:
                self._forgotten = max(self._forgotten, state.trimmed)
                del self._topics[topic]
