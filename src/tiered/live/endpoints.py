"""What an app's routes call to serve live updates: a stream and a poll for one topic.

Which topic a request may see is the app's decision, made before calling these: the route checks
that the topic belongs to the user and answers 404 otherwise (a 404, not a 403, so that nobody
learns which topics exist).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tiered.core.errors import NotAcceptable
from tiered.core.negotiation import parse_accept
from tiered.live.events import LiveBus
from tiered.live.limits import StreamLimits
from tiered.live.poll import poll_response
from tiered.live.settings import LiveSettings
from tiered.live.sse import EventStreamResponse

_MAX_CURSOR = 128
EVENT_STREAM = "text/event-stream"
NOT_A_STREAM_CLIENT = (
    "This address is a stream of Server-Sent Events: ask for it with Accept: text/event-stream "
    "(a page's script does). Follow the page's Refresh link instead, or poll for changes."
)


def asks_for_events(accept: str | None) -> bool:
    """Whether ``accept`` names ``text/event-stream`` itself (with a weight above 0).

    A stream is opened only for a client that asked for one: ``*/*`` is what a browser, a
    crawler or a link checker sends for a page, and any of them would otherwise hold a
    connection open that never ends.
    """
    return any(
        (r.type, r.subtype) == ("text", "event-stream") and r.q > 0
        for r in parse_accept(accept or "")
    )


class LiveStreams:
    """One app's live-update endpoints over ``bus``; make one at start-up, share it.

    It counts the streams it has open (per key and in all), so there must be one per process.

    Example::

        live = tiered.LiveStreams(bus)

        @app.get("/tasks/live")
        async def task_stream(request: Request, user: CurrentUser) -> Response:
            # Authorization is the app's: this topic is the user's own.
            return await live.stream(request, f"tasks:{user.id}", key=str(user.id))

        @app.get("/tasks/live/poll")
        async def task_poll(request: Request, user: CurrentUser) -> Response:
            return await live.poll(request, f"tasks:{user.id}")

    The page embeds the cursor taken *before* it reads what it shows, so a change made while it
    renders is still delivered::

        cursor = await bus.cursor(f"tasks:{user.id}")
        tasks = await service.list_tasks(user)
    """

    def __init__(self, bus: LiveBus, settings: LiveSettings | None = None) -> None:
        self.bus = bus
        self.settings = settings or LiveSettings()
        self.limits = StreamLimits(
            self.settings.max_streams_per_key,
            self.settings.max_streams,
            self.settings.retry_after_seconds,
        )

    async def stream(self, request: Request, topic: str, *, key: str | None = None) -> Response:
        """An SSE stream of ``topic``, resuming after ``Last-Event-ID`` (a reconnect) or the
        ``cursor`` query parameter (the page's rendered cursor), else starting now.

        Only a client whose ``Accept`` names ``text/event-stream`` gets one (htmx's extension
        and ``EventSource`` do); anyone else gets 406 (:func:`asks_for_events`).

        ``key`` names whose streams count against ``max_streams_per_key`` (the user's id);
        raises :class:`~tiered.core.errors.TooManyRequests` (429) over that cap, and
        :class:`~tiered.core.errors.ServiceUnavailable` (503) over ``max_streams`` or when the
        bus cannot serve, both with ``Retry-After``.
        """
        if not asks_for_events(request.headers.get("accept")):
            raise NotAcceptable(NOT_A_STREAM_CLIENT)
        cursor = request.headers.get("last-event-id") or request.query_params.get("cursor")
        release = self.limits.acquire(key)
        try:
            subscription = self.bus.subscribe(topic, cursor[:_MAX_CURSOR] if cursor else None)
            await subscription.open()
        except BaseException:
            release()
            raise
        return EventStreamResponse(subscription, self.settings, release)

    async def poll(self, request: Request, topic: str) -> Response:
        """The poll answer for ``topic`` after the ``cursor`` query parameter (see
        :mod:`tiered.live.poll`); 304 when nothing happened and ``If-None-Match`` says so."""
        cursor = request.query_params.get("cursor") or None
        return await poll_response(
            self.bus,
            topic,
            cursor[:_MAX_CURSOR] if cursor else None,
            request.headers.get("if-none-match"),
        )
