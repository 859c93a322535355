"""The Redis the tests share: TEST_REDIS_URL (.ci/run sets it), else the usual local one.

``needs_redis`` skips a test when that Redis does not answer, except in CI (``CI`` set), where a
missing Redis is a failure to see, not a skip to miss. ``silent_redis()`` is the other case: a
Redis URL whose server takes connections and never answers, as over a stalled network.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_up() -> bool:
    address = urlsplit(REDIS_URL)
    try:
        socket.create_connection((address.hostname, address.port or 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


needs_redis = pytest.mark.skipif(
    not os.environ.get("CI") and not redis_up(), reason=f"no Redis at {REDIS_URL}"
)


@contextmanager
def silent_redis() -> Iterator[str]:
    """A Redis URL on 127.0.0.1 that takes connections and never answers, while the block lasts."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
