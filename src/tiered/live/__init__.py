"""Live updates: an app announces "this changed" for a topic; the pages showing it refetch.

- :mod:`~tiered.live.events`: :class:`LiveEvent`, cursors, and the :class:`LiveBus` protocol.
- :mod:`~tiered.live.memory` and :mod:`~tiered.live.redis`: a bus for one process, and one for
  every process that shares a Redis (its failure handling is documented there).
- :mod:`~tiered.live.subscription`: missed events then live ones, each once, bounded.
- :mod:`~tiered.live.endpoints`: :class:`LiveStreams`, what the app's routes call: Server-Sent
  Events (:mod:`~tiered.live.sse`) and a poll (:mod:`~tiered.live.poll`), with caps
  (:mod:`~tiered.live.limits`) and :class:`LiveSettings`.
- :mod:`~tiered.live.origins`: which page caused a change, so it skips its own event.

The browser half is ``tiered/live.js`` (with htmx 4's SSE extension, vendored).

Example::

    bus = MemoryLiveBus()                  # or RedisLiveBus(url) with several processes
    live = LiveStreams(bus)

    @app.get("/tasks/live")
    async def task_stream(request: Request, user: CurrentUser) -> Response:
        return await live.stream(request, f"tasks:{user.id}", key=str(user.id))

    # in the route that changes a task:
    await bus.publish(f"tasks:{user.id}", "task.updated", {"id": task.id},
                      origin=origin_of(request))
"""

from tiered.live.endpoints import LiveStreams
from tiered.live.events import MAX_DATA_BYTES, REFRESH, UNKNOWN_CURSOR, LiveBus, LiveEvent
from tiered.live.limits import StreamLimits
from tiered.live.memory import MemoryLiveBus
from tiered.live.origins import ORIGIN_HEADER, new_origin, origin_of
from tiered.live.poll import poll_response
from tiered.live.redis import RedisLiveBus
from tiered.live.settings import LiveSettings
from tiered.live.sse import EventStreamResponse, encode_event
from tiered.live.subscription import EndReason, LiveSubscription

__all__ = [
    "MAX_DATA_BYTES",
    "ORIGIN_HEADER",
    "REFRESH",
    "UNKNOWN_CURSOR",
    "EndReason",
    "EventStreamResponse",
    "LiveBus",
    "LiveEvent",
    "LiveSettings",
    "LiveStreams",
    "LiveSubscription",
    "MemoryLiveBus",
    "RedisLiveBus",
    "StreamLimits",
    "encode_event",
    "new_origin",
    "origin_of",
    "poll_response",
]
