"""What every live bus promises, checked on MemoryLiveBus and on RedisLiveBus alike."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from tests.tiered.live.conftest import MakeBus, take, wait_until
from tiered import ImproperlyConfigured, ServiceUnavailable
from tiered.live import REFRESH, UNKNOWN_CURSOR, LiveEvent


@pytest.mark.anyio
async def test_since_gives_every_later_event_in_order(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as bus:
        start = await bus.cursor("tasks:1")
        published = [await bus.publish("tasks:1", "task.updated", {"id": n}) for n in range(3)]
        await bus.publish("tasks:2", "task.updated", {"id": 99})  # another topic

        events = await bus.since("tasks:1", start)
        after_first = await bus.since("tasks:1", published[0].id)

    assert events == published
    assert [e.data for e in events] == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert {e.topic for e in events} == {"tasks:1"}
    assert after_first == published[1:]


@pytest.mark.anyio
async def test_the_cursor_now_gives_nothing_and_keeps_the_origin(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as bus:
        await bus.publish("tasks:1", "task.created", {"id": 1}, origin="page-a")
        now = await bus.cursor("tasks:1")
        quiet = await bus.since("tasks:1", now)
        event = await bus.publish("tasks:1", "task.deleted", {"id": 1}, origin="page-a")

        assert quiet == []
        assert await bus.since("tasks:1", now) == [event]
    assert (event.kind, event.origin) == ("task.deleted", "page-a")
    assert event.to_json() == {
        "id": event.id,
        "kind": "task.deleted",
        "data": {"id": 1},
        "origin": "page-a",
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    "cursor", ["", "garbage", "0000zzzz.5", "12345678.1-0", "a.b.c", UNKNOWN_CURSOR]
)
async def test_a_garbled_cursor_asks_for_a_refresh(make_bus: MakeBus, cursor: str) -> None:
    async with aclosing(make_bus()) as bus:
        await bus.publish("tasks:1", "task.updated")

        assert await bus.since("tasks:1", cursor) is None


@pytest.mark.anyio
async def test_a_cursor_from_another_epoch_asks_for_a_refresh(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as before, aclosing(make_bus(isolated=True)) as after:
        old = await before.cursor("tasks:1")
        await before.publish("tasks:1", "task.updated")

        assert await after.since("tasks:1", old) is None  # a restarted process, a lost Redis


@pytest.mark.anyio
async def test_a_cursor_past_the_retention_window_asks_for_a_refresh(make_bus: MakeBus) -> None:
    async with aclosing(make_bus(retention_seconds=0.2)) as bus:
        old = await bus.cursor("tasks:1")
        first = await bus.publish("tasks:1", "task.updated", {"id": 1})
        await asyncio.sleep(0.3)
        second = await bus.publish("tasks:1", "task.updated", {"id": 2})  # the first leaves

        assert await bus.since("tasks:1", old) is None
        assert await bus.since("tasks:1", first.id) == [second]


@pytest.mark.anyio
async def test_a_subscription_yields_missed_then_live_events_each_once(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as bus:
        start = await bus.cursor("tasks:1")
        for n in range(5):
            await bus.publish("tasks:1", "task.updated", {"n": n})
        subscription = bus.subscribe("tasks:1", start)

        async def publish_more() -> None:
            for n in range(5, 15):
                await bus.publish("tasks:1", "task.updated", {"n": n})
                await asyncio.sleep(0)

        async with subscription:  # opening races the publisher: no gap, no duplicate
            writer = asyncio.create_task(publish_more())
            events = await take(subscription, 15)
            await writer
            with pytest.raises(TimeoutError):
                await take(subscription, 1, within=0.3)

    assert [e.data["n"] for e in events] == list(range(15))
    assert len({e.id for e in events}) == 15
    assert subscription.cursor == events[-1].id


@pytest.mark.anyio
async def test_a_subscription_from_a_stale_cursor_starts_with_a_refresh(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as bus:
        subscription = bus.subscribe("tasks:1", "not-a-cursor")
        async with subscription:
            refresh = await anext(subscription)
            assert subscription.caught_up
            live = await bus.publish("tasks:1", "task.updated")
            after = await take(subscription, 1)

    assert refresh == LiveEvent(id=refresh.id, topic="tasks:1", kind=REFRESH)
    assert after == [live]


@pytest.mark.anyio
async def test_a_subscription_without_a_cursor_starts_now(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as bus:
        await bus.publish("tasks:1", "task.created")
        subscription = bus.subscribe("tasks:1")
        async with subscription:
            assert subscription.caught_up
            assert await bus.since("tasks:1", subscription.cursor) == []
            live = await bus.publish("tasks:1", "task.updated")
            assert await take(subscription, 1) == [live]


@pytest.mark.anyio
async def test_a_subscriber_that_falls_behind_is_dropped(make_bus: MakeBus) -> None:
    async with aclosing(make_bus(queue_size=3)) as bus:
        subscription = bus.subscribe("tasks:1")
        async with subscription:
            for n in range(5):
                await bus.publish("tasks:1", "task.updated", {"n": n})
            await wait_until(lambda: subscription.ended is not None)
            rest = [event async for event in subscription]

    assert subscription.ended == "slow"
    assert rest == []  # the client reconnects from its cursor and catches up from the history


@pytest.mark.anyio
async def test_closing_the_bus_ends_every_subscription(make_bus: MakeBus) -> None:
    bus = make_bus()
    first, second = bus.subscribe("tasks:1"), bus.subscribe("tasks:2")
    async with first, second:
        readers = [asyncio.create_task(take(s, 1)) for s in (first, second)]
        await asyncio.sleep(0.05)

        async with asyncio.timeout(1):
            await bus.aclose()
            for reader in readers:
                with pytest.raises(StopAsyncIteration):
                    await reader

    assert (first.ended, second.ended) == ("closed", "closed")
    with pytest.raises(ServiceUnavailable) as refused:
        await bus.subscribe("tasks:1").open()
    assert refused.value.headers["Retry-After"] == "5"
    await bus.aclose()


@pytest.mark.anyio
async def test_iterating_without_async_with_opens_and_closes(make_bus: MakeBus) -> None:
    async with aclosing(make_bus()) as bus:
        start = await bus.cursor("tasks:1")
        event = await bus.publish("tasks:1", "task.updated")
        subscription = bus.subscribe("tasks:1", start)

        assert await anext(subscription) == event
        await subscription.aclose()
        assert [e async for e in subscription] == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("topic", "kind", "data", "origin", "message"),
    [
        ("tasks 1", "task.updated", None, None, "Topic 'tasks 1' is not allowed"),
        ("tasks:1", "task\nupdated", None, None, "Event kind 'task\\\\nupdated' is not allowed"),
        ("tasks:1", "task.updated", {"when": object()}, None, "is not JSON-able"),
        ("tasks:1", "task.updated", {"text": "x" * 5000}, None, "over the limit of 4,096"),
        ("tasks:1", "task.updated", None, "a b", "Event origin 'a b' is not allowed"),
    ],
)
async def test_a_bad_publish_names_the_value_and_the_fix(
    make_bus: MakeBus,
    topic: str,
    kind: str,
    data: dict[str, object] | None,
    origin: str | None,
    message: str,
) -> None:
    async with aclosing(make_bus()) as bus:
        with pytest.raises(ImproperlyConfigured, match=message):
            await bus.publish(topic, kind, data, origin=origin)
