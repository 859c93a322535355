"""LiveSettings refuses values that cannot work, naming them and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from tiered import ImproperlyConfigured
from tiered.live import LiveSettings


def test_the_defaults_suit_a_browser_behind_a_proxy() -> None:
    settings = LiveSettings()

    assert (settings.heartbeat_seconds, settings.retry_ms) == (15, 3000)
    assert (settings.max_streams_per_key, settings.max_streams) == (8, 1000)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"heartbeat_seconds": 0}, r"heartbeat_seconds=0, .*must be positive"),
        ({"send_timeout_seconds": -1}, r"send_timeout_seconds=-1\): both must be positive"),
        ({"max_stream_seconds": -5}, r"max_stream_seconds=-5, .*max_stream_seconds=0: no limit"),
        ({"max_streams_per_key": 0}, r"max_streams_per_key=0, .*must be at least 1"),
        ({"retry_after_seconds": 0}, r"retry_after_seconds=0\): each must be at least 1"),
    ],
)
def test_an_impossible_setting_is_refused_with_the_fix(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        LiveSettings(**options)
