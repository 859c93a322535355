"""StreamLimits: a cap per key and one per process, each refused with Retry-After."""

from __future__ import annotations

import pytest

from tiered import ServiceUnavailable, TooManyRequests
from tiered.live import StreamLimits
from tiered.live.limits import SERVER_FULL, TOO_MANY_FOR_KEY


def test_a_key_over_its_cap_is_told_to_retry_later() -> None:
    limits = StreamLimits(per_key=2, total=10, retry_after_seconds=7)
    limits.acquire("ada")
    limits.acquire("ada")

    with pytest.raises(TooManyRequests) as refused:
        limits.acquire("ada")

    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "7"}
    assert refused.value.detail == TOO_MANY_FOR_KEY.format(count=2, seconds=7)
    limits.acquire("bob")  # another key still may
    assert (limits.open, limits.open_for("ada")) == (3, 2)


def test_the_process_over_its_cap_answers_unavailable() -> None:
    limits = StreamLimits(per_key=5, total=2, retry_after_seconds=3)
    limits.acquire(None)
    limits.acquire("ada")

    with pytest.raises(ServiceUnavailable) as refused:
        limits.acquire("bob")

    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "3"}
    assert refused.value.detail == SERVER_FULL.format(count=2, seconds=3)


def test_releasing_twice_frees_one_place() -> None:
    limits = StreamLimits(per_key=1, total=2, retry_after_seconds=1)
    release = limits.acquire("ada")
    other = limits.acquire("bob")

    release()
    release()

    assert (limits.open, limits.open_for("ada"), limits.open_for("bob")) == (1, 0, 1)
    limits.acquire("ada")
    other()
    assert limits.open == 1
