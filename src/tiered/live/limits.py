"""How many live streams may be open: per key (a user) and per process.

A stream holds a connection for minutes, so it is counted while it is open rather than rate
limited per request. Over a key's cap the answer is 429 (that one user has too many tabs or a
runaway script); over the process's cap it is 503 (this instance is full; the client tries again
later, perhaps reaching another instance). Both carry ``Retry-After`` and are raised as tiered's
problems, so every client gets them in the representation it negotiated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from tiered.core.errors import ServiceUnavailable, TooManyRequests

TOO_MANY_FOR_KEY = (
    "You already have {count} live connections open here, the most allowed; close a tab, or try "
    "again in {seconds} seconds."
)
SERVER_FULL = (
    "This server already holds its maximum of {count} live connections; try again in "
    "{seconds} seconds."
)


class StreamLimits:
    """Counts open streams; :meth:`acquire` refuses one over a cap, or hands back its release."""

    def __init__(self, per_key: int, total: int, retry_after_seconds: int) -> None:
        self.per_key = per_key
        self.total = total
        self.retry_after_seconds = retry_after_seconds
        self._open = 0
        self._by_key: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return self._open

    def open_for(self, key: str) -> int:
        return self._by_key[key]

    def acquire(self, key: str | None) -> Callable[[], None]:
        """Count one more stream for ``key`` (``None``: counted for the process only).

        Returns the function that releases it; calling that again does nothing.
        """
        seconds = self.retry_after_seconds
        if key is not None and self._by_key[key] >= self.per_key:
            raise TooManyRequests(
                seconds, TOO_MANY_FOR_KEY.format(count=self.per_key, seconds=seconds)
            )
        if self._open >= self.total:
            raise ServiceUnavailable(
                SERVER_FULL.format(count=self.total, seconds=seconds),
                headers={"Retry-After": str(seconds)},
                extra={"retry_after": seconds},
            )
        self._open += 1
        if key is not None:
            self._by_key[key] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._open -= 1
            if key is not None:
                self._by_key[key] -= 1
                if self._by_key[key] <= 0:
                    del self._by_key[key]

        return release
