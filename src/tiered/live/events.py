"""What a live update is, and what every bus that carries them promises.

An app publishes "this changed" for a *topic* (``"tasks:42"``: one user's tasks); pages that show
that topic subscribe and refetch what they show. An event says what changed, never the new state,
so it stays small and a page that misses one only needs to refetch.

Each event's ``id`` is a *cursor*: an opaque string naming the position just after the event in
its topic. A page embeds the cursor of the moment it was rendered; later it asks for everything
after it. Cursors are only comparable within one bus; anything a bus cannot vouch for (garbled, from
another epoch, or older than what it still keeps) makes it answer "refresh" rather than guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tiered.core.errors import ImproperlyConfigured, ServiceUnavailable

if TYPE_CHECKING:
    from tiered.live.subscription import LiveSubscription

REFRESH = "refresh"
"""The kind that means "what you show may be out of date in ways no event describes: refetch it".

A subscription yields one when its cursor is past the retention window; a bus publishes one itself
when it had to drop events (see :class:`~tiered.live.redis.RedisLiveBus`). Apps may publish it too.
"""

UNKNOWN_CURSOR = "unknown"
"""A cursor no bus vouches for: what :meth:`LiveBus.cursor` gives when its backend does not
answer, so that the page still renders and its client, resuming from it, refetches once."""

MAX_DATA_BYTES = 4096
"""An event's ``data`` as JSON may be this long at most: an id or two, not a rendered row."""

_TOPIC = re.compile(r"^[\x21-\x7e]{1,200}$")
_KIND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_ORIGIN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

BUS_CLOSED = "Live updates are shutting down on this server; reconnect in a moment."
"""Why a closed bus refuses a subscription (the detail of its 503)."""

RETRY_AFTER_SECONDS = 5
"""What a 503 from a bus tells the client to wait before it reconnects."""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One change to a topic, as every subscriber of the topic sees it.

    Example::

        LiveEvent(id="3f2a9c1d.17", topic="tasks:42", kind="task.updated", data={"id": 7})
    """

    id: str
    """The cursor just after this event: resuming from it yields the events that follow."""
    topic: str
    kind: str
    """What happened, such as ``"task.updated"``; :data:`REFRESH` asks for a full refetch."""
    data: Mapping[str, object] = field(default_factory=dict)
    """Small JSON-able details, such as ``{"id": 7}``."""
    origin: str | None = None
    """An opaque id of the page that caused the change, so that page can skip its own event."""

    def to_json(self) -> dict[str, object]:
        """The event as the poll answer lists it (``id``, ``kind``, ``data``, ``origin``)."""
        return {"id": self.id, "kind": self.kind, "data": dict(self.data), "origin": self.origin}


class LiveBus(Protocol):
    """Carries events from publishers to subscribers, and keeps a window of recent ones.

    :class:`~tiered.live.memory.MemoryLiveBus` serves one process;
    :class:`~tiered.live.redis.RedisLiveBus` serves every process that shares a Redis.
    """

    async def publish(
        self,
        topic: str,
        kind: str,
        data: Mapping[str, object] | None = None,
        *,
        origin: str | None = None,
    ) -> LiveEvent:
        """Announce a change to ``topic``'s subscribers; never waits long (see each bus)."""

    async def cursor(self, topic: str) -> str:
        """The position "now": what a page rendered now embeds, before it reads its data.

        Never fails on the backend's account: :data:`UNKNOWN_CURSOR` when it does not answer.
        """

    async def since(self, topic: str, cursor: str) -> list[LiveEvent] | None:
        """Every event after ``cursor`` in order (``[]`` when it is "now").

        ``None`` when the bus cannot vouch for the cursor: events after it may have left the
        window, or it is garbled or from another epoch. The client must then refetch everything.
        """

    def subscribe(self, topic: str, cursor: str | None = None) -> LiveSubscription:
        """The events after ``cursor`` (or after now), then live ones; use with ``async with``.

        When ``cursor`` cannot be vouched for, the first event is a :data:`REFRESH`.
        """

    async def aclose(self) -> None:
        """End every open subscription (at shutdown) and release connections."""


def check_event(
    topic: str, kind: str, data: Mapping[str, object] | None, origin: str | None
) -> str:
    """Validate what a publisher passed; return ``data`` as compact JSON.

    These are programming mistakes, not client input, so each raises
    :class:`~tiered.core.errors.ImproperlyConfigured` with the fix.
    """
    check_topic(topic)
    if not _KIND.match(kind):
        raise ImproperlyConfigured(
            f"Event kind {kind!r} is not allowed; use 1-64 letters, digits and '_.:-', "
            "starting with a letter or digit, such as 'task.updated'."
        )
    if origin is not None and not _ORIGIN.match(origin):
        raise ImproperlyConfigured(
            f"Event origin {origin!r} is not allowed; use 1-64 letters, digits, '_' and '-' "
            "(tiered.live.new_origin() makes one), or None."
        )
    try:
        text = json.dumps(dict(data or {}), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"Event data {data!r} for {topic!r} is not JSON-able ({exc}); pass ids, strings "
            "and numbers, such as {'id': 7}."
        ) from exc
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise ImproperlyConfigured(
            f"Event data for {topic!r} is {len(text.encode('utf-8')):,} bytes of JSON, over the "
            f"limit of {MAX_DATA_BYTES:,}; send ids and let the page refetch the rest."
        )
    return text


def check_topic(topic: str) -> None:
    if not _TOPIC.match(topic):
        raise ImproperlyConfigured(
            f"Topic {topic!r} is not allowed; use 1-200 printable ASCII characters without "
            "spaces, such as 'tasks:42'."
        )


def valid_origin(value: str | None) -> str | None:
    """``value`` when it is a well-formed origin id, else ``None`` (it comes from a client)."""
    return value if value is not None and _ORIGIN.match(value) else None


def bus_closed() -> ServiceUnavailable:
    return ServiceUnavailable(BUS_CLOSED, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
