"""MemoryLiveBus: its window by count and by time (on a fake clock), its epoch, its arguments."""

from __future__ import annotations

from typing import Any

import pytest

from tiered import ImproperlyConfigured
from tiered.live import MemoryLiveBus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_only_the_last_max_events_per_topic_are_kept() -> None:
    bus = MemoryLiveBus(max_events_per_topic=2)
    start = await bus.cursor("tasks:1")
    first, second, third = [await bus.publish("tasks:1", "task.updated") for _ in range(3)]

    assert await bus.since("tasks:1", start) is None  # the first is gone
    assert await bus.since("tasks:1", first.id) == [second, third]


@pytest.mark.anyio
async def test_a_quiet_topic_keeps_its_cursor_good_past_the_window() -> None:
    clock = Clock()
    bus = MemoryLiveBus(retention_seconds=60, clock=clock)
    event = await bus.publish("tasks:1", "task.updated")
    clock.now += 3600

    assert await bus.since("tasks:1", event.id) == []  # nothing after it was dropped


@pytest.mark.anyio
async def test_a_forgotten_topic_refuses_cursors_from_before_its_events() -> None:
    clock = Clock()
    bus = MemoryLiveBus(retention_seconds=60, clock=clock)
    before = await bus.cursor("tasks:1")
    event = await bus.publish("tasks:1", "task.updated")
    clock.now += 120
    await bus.publish("tasks:2", "task.updated")  # sweeps: tasks:1 has no event left, is dropped

    assert await bus.since("tasks:1", before) is None
    assert await bus.since("tasks:1", event.id) == []
    again = await bus.publish("tasks:1", "task.created")  # made anew: still judged as before
    assert await bus.since("tasks:1", before) is None
    assert await bus.since("tasks:1", event.id) == [again]


@pytest.mark.anyio
async def test_cursors_carry_the_epoch_drawn_when_the_bus_was_made() -> None:
    first, restarted = MemoryLiveBus(), MemoryLiveBus()
    cursor = await first.cursor("tasks:1")

    assert cursor.startswith(first.epoch + ".")
    assert first.epoch != restarted.epoch
    assert await restarted.since("tasks:1", cursor) is None
    assert await first.since("tasks:1", f"{first.epoch}.99") is None  # never given out


@pytest.mark.parametrize(
    "options",
    [{"retention_seconds": 0}, {"max_events_per_topic": 0}, {"queue_size": 0}],
)
def test_a_bad_argument_is_refused_with_the_fix(options: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured, match="each must be positive"):
        MemoryLiveBus(**options)
