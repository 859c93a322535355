"""Buses for the live tests: the same contract over memory and the real Redis.

``make_bus`` makes buses of the kind the test is parametrised with; every Redis one of a test
shares a fresh key prefix (so two of them stand for two instances), and the prefix's keys are
deleted afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.redis_server import REDIS_URL, needs_redis
from tiered.live import LiveBus, LiveEvent, LiveSubscription, MemoryLiveBus, RedisLiveBus

MakeBus = Callable[..., LiveBus]


def delete_prefix(prefix: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test:live:{uuid.uuid4().hex}"
    yield prefix
    delete_prefix(prefix)


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def make_bus(request: pytest.FixtureRequest) -> Iterator[MakeBus]:
    """``make_bus(**options)``; ``isolated=True`` gives a Redis bus a prefix of its own (another
    epoch, as after Redis lost its data), which a memory bus always has."""
    prefixes = [f"test:live:{uuid.uuid4().hex}"]

    def make(*, isolated: bool = False, **options: Any) -> LiveBus:
        if request.param == "memory":
            return MemoryLiveBus(**options)
        if isolated:
            prefixes.append(f"test:live:{uuid.uuid4().hex}")
        # A short block, so a newly watched topic joins the reader quickly.
        options.setdefault("block_seconds", 0.1)
        return RedisLiveBus(REDIS_URL, prefix=prefixes[-1], **options)

    yield make
    if request.param == "redis":
        for prefix in prefixes:
            delete_prefix(prefix)


async def take(subscription: LiveSubscription, count: int, within: float = 3.0) -> list[LiveEvent]:
    """The next ``count`` events of ``subscription``, failing after ``within`` seconds."""
    events: list[LiveEvent] = []
    async with asyncio.timeout(within):
        while len(events) < count:
            events.append(await anext(subscription))
    return events


async def wait_until(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Poll ``condition`` (something another task or process changes) until it holds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)
