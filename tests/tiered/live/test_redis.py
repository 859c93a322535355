"""RedisLiveBus across instances, and when its Redis stalls, goes away or loses its data.

Two buses on the same Redis and prefix stand for two instances of an app.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from contextlib import aclosing
from urllib.parse import urlsplit

import pytest
import redis

from tests.redis_server import REDIS_URL, needs_redis, silent_redis
from tests.tcp_proxy import PausableProxy
from tests.tiered.live.conftest import delete_prefix, take
from tiered import ImproperlyConfigured, ServiceUnavailable
from tiered.live import REFRESH, UNKNOWN_CURSOR, RedisLiveBus
from tiered.live.redis import PUBLISH_DROPPED, READER_LOST, UNAVAILABLE


def instance(prefix: str, url: str = REDIS_URL, **options: float) -> RedisLiveBus:
    options.setdefault("block_seconds", 0.1)
    return RedisLiveBus(url, prefix=prefix, **options)  # type: ignore[arg-type]


def proxied_url(proxy: PausableProxy) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(REDIS_URL).path}"


@needs_redis
@pytest.mark.anyio
async def test_an_event_published_on_one_instance_reaches_subscribers_on_another(
    redis_prefix: str,
) -> None:
    async with aclosing(instance(redis_prefix)) as one, aclosing(instance(redis_prefix)) as two:
        subscription = two.subscribe("tasks:1")
        async with subscription:
            event = await one.publish("tasks:1", "task.updated", {"id": 7}, origin="page-a")
            received = await take(subscription, 1)
        start = await two.cursor("tasks:2")
        other = await one.publish("tasks:2", "task.created")

        assert received == [event]
        assert await two.since("tasks:2", start) == [other]


@needs_redis
@pytest.mark.anyio
async def test_one_reader_connection_serves_every_subscriber_of_a_process(
    redis_prefix: str,
) -> None:
    topics = [f"tasks:{n}" for n in range(5)]
    async with aclosing(instance(redis_prefix)) as bus:
        subscriptions = [bus.subscribe(topic) for topic in topics for _ in range(4)]
        for subscription in subscriptions:
            await subscription.open()
        try:
            for topic in topics:
                await bus.publish(topic, "task.updated")
            got = [await take(subscription, 1) for subscription in subscriptions]
            with redis.Redis.from_url(REDIS_URL, decode_responses=True) as admin:
                names = [client["name"] for client in admin.client_list()]
        finally:
            for subscription in subscriptions:
                await subscription.aclose()

    assert [events[0].topic for events in got] == [topic for topic in topics for _ in range(4)]
    assert names.count(f"{redis_prefix}:reader") == 1


@needs_redis
@pytest.mark.anyio
async def test_a_redis_that_lost_its_data_refuses_old_cursors(redis_prefix: str) -> None:
    async with aclosing(instance(redis_prefix)) as bus:
        old = await bus.cursor("tasks:1")
        await bus.publish("tasks:1", "task.updated")
        delete_prefix(redis_prefix)  # as a restart without persistence, or FLUSHALL
        fresh = await bus.cursor("tasks:1")

        assert await bus.since("tasks:1", old) is None
        assert await bus.since("tasks:1", fresh) == []
        assert fresh.split(".")[0] != old.split(".")[0]


@needs_redis
@pytest.mark.anyio
async def test_a_stream_that_expired_refuses_cursors_older_than_its_ttl(
    redis_prefix: str,
) -> None:
    bus = instance(redis_prefix, retention_seconds=0.2, key_ttl_seconds=0.3)
    async with aclosing(bus):
        old = await bus.cursor("tasks:1")
        await bus.publish("tasks:1", "task.updated")
        await asyncio.sleep(0.45)  # the key expires 0.3 s after its last event
        recent = await bus.cursor("tasks:1")

        assert await bus.since("tasks:1", old) is None  # its events may have expired
        assert await bus.since("tasks:1", recent) == []
        again = await bus.publish("tasks:1", "task.created")  # a new stream for the topic
        assert await bus.since("tasks:1", recent) == [again]
        assert await bus.since("tasks:1", old) is None


@pytest.mark.anyio
async def test_publishing_to_a_redis_that_does_not_answer_returns_quickly_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with silent_redis() as url:
        bus = RedisLiveBus(url, timeout_seconds=0.2, cooldown_seconds=5)
        async with aclosing(bus):
            started = time.monotonic()
            dropped = await bus.publish("tasks:1", "task.updated", {"id": 7})
            first_took = time.monotonic() - started
            started = time.monotonic()
            during_cooldown = await bus.publish("tasks:1", "task.updated", {"id": 8})
            second_took = time.monotonic() - started
            with pytest.raises(ServiceUnavailable, match=UNAVAILABLE) as refused:
                await bus.subscribe("tasks:1").open()
            with pytest.raises(ServiceUnavailable):
                await bus.since("tasks:1", "whatever")
            rendered = await bus.cursor("tasks:1")  # a page still renders

    assert (dropped.id, dropped.data, during_cooldown.id) == ("", {"id": 7}, "")
    assert rendered == UNKNOWN_CURSOR  # resuming from it gives a refresh, once Redis answers
    assert first_took < 0.6
    assert second_took < 0.05  # within the cool-down nothing waits on Redis
    assert refused.value.headers == {"Retry-After": "5"}
    warnings = [r for r in caplog.records if r.name == "tiered.live"]
    assert [r.msg for r in warnings] == [PUBLISH_DROPPED]
    assert url in warnings[0].getMessage()


@needs_redis
@pytest.mark.anyio
async def test_a_stalled_reader_ends_this_processs_subscriptions(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    address = urlsplit(REDIS_URL)
    with PausableProxy(address.hostname or "127.0.0.1", address.port or 6379) as proxy:
        bus = instance(redis_prefix, url=proxied_url(proxy), timeout_seconds=0.2)
        async with aclosing(bus):
            subscription = bus.subscribe("tasks:1")
            async with subscription:
                proxy.pause()
                with pytest.raises(StopAsyncIteration):
                    await take(subscription, 1)
            proxy.resume()

    assert subscription.ended == "unavailable"
    assert READER_LOST in [r.msg for r in caplog.records]


@needs_redis
@pytest.mark.anyio
async def test_topics_whose_events_were_dropped_get_a_refresh_once_redis_answers(
    redis_prefix: str,
) -> None:
    address = urlsplit(REDIS_URL)
    with PausableProxy(address.hostname or "127.0.0.1", address.port or 6379) as proxy:
        flaky = instance(
            redis_prefix, url=proxied_url(proxy), timeout_seconds=0.2, cooldown_seconds=0.2
        )
        async with aclosing(flaky), aclosing(instance(redis_prefix)) as steady:
            start = await steady.cursor("tasks:1")
            subscription = steady.subscribe("tasks:1", start)
            async with subscription:
                proxy.pause()
                assert (await flaky.publish("tasks:1", "task.updated")).id == ""
                proxy.resume()
                await asyncio.sleep(0.25)  # past the cool-down
                later = await flaky.publish("tasks:2", "task.created")
                received = await take(subscription, 1)

            assert later.id
            assert [e.kind for e in received] == [REFRESH]
            history = await steady.since("tasks:1", start)
            assert history is not None
            assert [e.kind for e in history] == [REFRESH]


def test_bad_arguments_are_refused_with_the_fix() -> None:
    with pytest.raises(ImproperlyConfigured, match="durations must be positive"):
        RedisLiveBus(REDIS_URL, timeout_seconds=0)
    with pytest.raises(ImproperlyConfigured, match="the key TTL at least retention_seconds"):
        RedisLiveBus(REDIS_URL, retention_seconds=600, key_ttl_seconds=60)


def test_the_bus_loads_the_redis_client_when_it_is_made_not_at_the_first_request() -> None:
    """Importing redis.asyncio took a fresh instance's event loop half a second, while the
    requests behind its first one waited; a process without Redis still never loads it."""
    script = (
        "import sys\n"
        "import tiered.live.redis as bus\n"
        "assert 'redis.asyncio' not in sys.modules, 'loaded at import'\n"
        "bus.RedisLiveBus('redis://127.0.0.1:1/0')\n"
        "assert 'redis.asyncio' in sys.modules, 'not loaded with the bus'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
