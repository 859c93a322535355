"""EventStreamResponse at the ASGI level: when a stream ends on its own, and what it logs.

Driven with plain ``receive``/``send`` callables, so a client that stops reading or a stream's
time limit can be shown in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from starlette.types import Message

from tiered.live import EventStreamResponse, LiveEvent, LiveSettings, MemoryLiveBus, encode_event

Send = Callable[[Message], Awaitable[None]]


async def never_disconnects() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class Recorder:
    """An ASGI ``send`` that keeps the body chunks, and can stop taking them (a stalled client)."""

    def __init__(self, stall_after: int | None = None) -> None:
        self.chunks: list[bytes] = []
        self.finished = False
        self._stall_after = stall_after

    async def __call__(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            return
        if self._stall_after is not None and len(self.chunks) >= self._stall_after:
            await asyncio.Event().wait()
        self.chunks.append(message["body"])
        self.finished = not message["more_body"]


def test_an_event_is_one_message_with_its_id_kind_and_json_data() -> None:
    event = LiveEvent("ab12cd34.7", "tasks:1", "task.updated", {"title": "Ünïcode\nline"}, "p1")

    assert encode_event(event) == (
        b"id: ab12cd34.7\nevent: task.updated\n"
        b'data: {"data":{"title":"\xc3\x9cn\xc3\xafcode\\nline"},"origin":"p1"}\n\n'
    )


@pytest.mark.anyio
async def test_a_stream_ends_after_max_stream_seconds_and_releases_its_place() -> None:
    bus = MemoryLiveBus()
    subscription = bus.subscribe("tasks:1")
    await subscription.open()
    released: list[bool] = []
    settings = LiveSettings(heartbeat_seconds=0.05, max_stream_seconds=0.2)
    response = EventStreamResponse(subscription, settings, lambda: released.append(True))
    send = Recorder()

    async with asyncio.timeout(1):
        await response({"type": "http"}, never_disconnects, send)

    assert send.chunks[:2] == [b"retry: 3000\n\n", f"id: {subscription.cursor}\n\n".encode()]
    assert set(send.chunks[2:-1]) == {b": keep-alive\n\n"}
    assert send.finished
    assert released == [True]
    assert await bus.publish("tasks:1", "task.updated")  # no inbox left to fill


@pytest.mark.anyio
async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tiered.live")
    bus = MemoryLiveBus()
    subscription = bus.subscribe("tasks:1")
    await subscription.open()
    released: list[bool] = []
    settings = LiveSettings(heartbeat_seconds=0.02, send_timeout_seconds=0.1, max_stream_seconds=0)
    response = EventStreamResponse(subscription, settings, lambda: released.append(True))
    send = Recorder(stall_after=3)

    async with asyncio.timeout(1):
        await response({"type": "http"}, never_disconnects, send)

    assert len(send.chunks) == 3
    assert not send.finished
    assert released == [True]
    assert "the client took nothing for 0.1 s" in caplog.text


@pytest.mark.anyio
async def test_a_client_that_falls_behind_loses_its_stream_and_it_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tiered.live")
    bus = MemoryLiveBus(queue_size=2)
    subscription = bus.subscribe("tasks:1")
    await subscription.open()
    settings = LiveSettings(heartbeat_seconds=5, send_timeout_seconds=5, max_stream_seconds=0)
    response = EventStreamResponse(subscription, settings)
    send = Recorder()
    for n in range(3):  # before the stream takes any: the inbox of 2 overflows
        await bus.publish("tasks:1", "task.updated", {"n": n})

    async with asyncio.timeout(1):
        await response({"type": "http"}, never_disconnects, send)

    assert send.chunks == [b"retry: 3000\n\n", f"id: {subscription.cursor}\n\n".encode(), b""]
    assert subscription.ended == "slow"
    assert "the client fell behind; it resumes from its cursor" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize("scope", [{"method": "HEAD"}, {"method": "GET", "tiered.head": True}])
async def test_a_head_request_gets_the_headers_and_no_stream(scope: dict[str, object]) -> None:
    bus = MemoryLiveBus()
    subscription = bus.subscribe("tasks:1")
    await subscription.open()
    released: list[bool] = []
    response = EventStreamResponse(subscription, LiveSettings(), lambda: released.append(True))
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    async with asyncio.timeout(1):
        await response({"type": "http", **scope}, never_disconnects, send)

    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert (messages[1]["body"], messages[1]["more_body"]) == (b"", False)
    assert (dict(messages[0]["headers"])[b"content-type"]) == b"text/event-stream; charset=utf-8"
    assert released == [True]
