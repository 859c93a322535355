"""A live subscription as a Server-Sent Events response.

Written here rather than taken from sse-starlette (3.7.0): that library patches uvicorn's signal
handler when imported and polls a process-global flag to notice shutdown, while a stream here ends
when its subscription does (the bus closing at shutdown ends them all) and needs nothing global.
What else it would give is short to write: a heartbeat comment, disconnect detection, a send
timeout. Last-Event-ID was the app's to read either way.

What a client receives::

    retry: 3000

    id: 3f2a9c1d.1796280494175-0
    event: task.updated
    data: {"data":{"id":7},"origin":"k2J9x0aQ"}

    id: 3f2a9c1d.1796280494175-0

    : keep-alive

A message's ``id`` is the cursor to resume from (``Last-Event-ID`` on reconnect); an ``id`` alone
moves that cursor up to "now" once the missed events are out, so a quiet stream's client still
resumes from a recent position. ``event: refresh`` means the client must refetch everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from tiered.live.events import LiveEvent
from tiered.live.settings import LiveSettings
from tiered.live.subscription import LiveSubscription

logger = logging.getLogger("tiered.live")

HEARTBEAT = b": keep-alive\n\n"

HEAD_KEY = "tiered.head"
"""Set (to ``True``) in the scope by a middleware that turned a HEAD request into a GET."""

HEADERS = {
    "Cache-Control": "no-store",
    # nginx buffers a proxied response unless told not to; a buffered stream arrives in lumps.
    "X-Accel-Buffering": "no",
}


def encode_event(event: LiveEvent) -> bytes:
    """One SSE message: ``id``, ``event`` (the kind) and ``data`` (JSON on one line)."""
    payload = json.dumps(
        {"data": dict(event.data), "origin": event.origin},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f"id: {event.id}\nevent: {event.kind}\ndata: {payload}\n\n".encode()


class EventStreamResponse(Response):
    """Streams an open :class:`~tiered.live.subscription.LiveSubscription` until the client
    leaves, the subscription ends (the bus closed, or the client fell behind) or
    ``max_stream_seconds`` pass; then closes the subscription and calls ``release``.

    Build it with :meth:`tiered.live.LiveStreams.stream`, which opens the subscription first so
    that a bus that cannot serve it is a 503 rather than a broken stream.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        subscription: LiveSubscription,
        settings: LiveSettings,
        release: Callable[[], None] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.subscription = subscription
        self.settings = settings
        self._release = release
        self._announced = ""
        self.init_headers(HEADERS)  # no body, so no Content-Length: the body is streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method") == "HEAD" or scope.get(HEAD_KEY):
                # The headers alone: a stream that never ends would hold a HEAD's connection.
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await self._stream(receive, send)
        finally:
            await self.subscription.aclose()
            if self._release is not None:
                self._release()

    async def _stream(self, receive: Receive, send: Send) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        ends_at = math.inf
        if settings.max_stream_seconds:
            jitter = random.uniform(0.9, 1.0)  # noqa: S311 (spreading reconnects, not a secret)
            ends_at = loop.time() + settings.max_stream_seconds * jitter
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if not await self._write(send, f"retry: {settings.retry_ms}\n\n".encode()):
            return
        gone = loop.create_task(_disconnected(receive))
        upcoming: asyncio.Task[LiveEvent | None] | None = None
        try:
            while await self._announce_position(send):
                upcoming = upcoming or loop.create_task(_next(self.subscription))
                wait = min(settings.heartbeat_seconds, ends_at - loop.time())
                if wait <= 0:
                    break
                done, _ = await asyncio.wait(
                    {upcoming, gone}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                if gone in done:
                    return
                if upcoming in done:
                    event, upcoming = upcoming.result(), None
                    if event is None:
                        self._log_end()
                        break
                    chunk = encode_event(event)
                    self._announced = event.id
                else:  # quiet for a heartbeat's time
                    chunk = HEARTBEAT
                if not await self._write(send, chunk):
                    return
        finally:
            for task in (gone, upcoming):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        await self._write(send, b"", more_body=False)

    async def _announce_position(self, send: Send) -> bool:
        """Once the missed events are out, move the client's cursor up to where the
        subscription is (an ``id`` line alone); ``False`` when the client is gone."""
        subscription = self.subscription
        if not subscription.caught_up or subscription.cursor == self._announced:
            return True
        self._announced = subscription.cursor
        return await self._write(send, f"id: {self._announced}\n\n".encode())

    async def _write(self, send: Send, chunk: bytes, *, more_body: bool = True) -> bool:
        """Send ``chunk``; ``False`` when the client is gone or does not take it in time."""
        message: Message = {"type": "http.response.body", "body": chunk, "more_body": more_body}
        try:
            async with asyncio.timeout(self.settings.send_timeout_seconds):
                await send(message)
        except TimeoutError:
            logger.info(
                "Dropped a live stream of %r: the client took nothing for %g s.",
                self.subscription.topic,
                self.settings.send_timeout_seconds,
            )
            return False
        except OSError:  # ASGI 2.4 servers raise this for a client that has left
            return False
        return True

    def _log_end(self) -> None:
        if self.subscription.ended == "slow":
            logger.info(
                "Dropped a live stream of %r: the client fell behind; it resumes from its cursor.",
                self.subscription.topic,
            )


async def _next(subscription: LiveSubscription) -> LiveEvent | None:
    try:
        return await anext(subscription)
    except StopAsyncIteration:
        return None


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
