"""How tiered's live-update endpoints behave: one frozen dataclass, checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass

from tiered.core.errors import ImproperlyConfigured


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """The stream and poll endpoints' limits and timings.

    Example::

        live = LiveStreams(bus, LiveSettings(heartbeat_seconds=20, max_streams_per_key=4))
    """

    heartbeat_seconds: float = 15
    """A ``: keep-alive`` comment goes out after this long without a message, so that proxies
    and load balancers (nginx's ``proxy_read_timeout`` is 60 s) keep an idle stream open."""
    retry_ms: int = 3000
    """The ``retry:`` line: how long a native ``EventSource`` waits before it reconnects."""
    max_streams_per_key: int = 8
    """Open streams one key (a user, say) may hold in this process; one more is answered 429.
    Eight covers a person with several tabs and devices, not a script opening hundreds."""
    max_streams: int = 1000
    """Open streams this process holds at most; one more is answered 503, so the client tries
    again later (or another instance) while this one keeps serving requests."""
    retry_after_seconds: int = 10
    """The ``Retry-After`` of those 429 and 503 answers."""
    max_stream_seconds: float = 300
    """A stream ends after about this long (less up to a tenth, at random) and its client
    reconnects from its cursor, missing nothing: it bounds how long a graceful shutdown waits on
    a stream nobody ended, and spreads clients over the instances after a rolling restart.
    ``0`` lets a stream last until something else ends it."""
    send_timeout_seconds: float = 30
    """A client that does not take a message within this long is dropped (its stream ends)."""

    def __post_init__(self) -> None:
        if self.heartbeat_seconds <= 0 or self.send_timeout_seconds <= 0:
            raise ImproperlyConfigured(
                f"LiveSettings(heartbeat_seconds={self.heartbeat_seconds!r}, send_timeout_seconds="
                f"{self.send_timeout_seconds!r}): both must be positive numbers of seconds."
            )
        if self.max_stream_seconds < 0 or self.retry_ms < 0:
            raise ImproperlyConfigured(
                f"LiveSettings(max_stream_seconds={self.max_stream_seconds!r}, retry_ms="
                f"{self.retry_ms!r}): neither may be negative (max_stream_seconds=0: no limit)."
            )
        if min(self.max_streams_per_key, self.max_streams, self.retry_after_seconds) < 1:
            raise ImproperlyConfigured(
                f"LiveSettings(max_streams_per_key={self.max_streams_per_key!r}, max_streams="
                f"{self.max_streams!r}, retry_after_seconds={self.retry_after_seconds!r}): each "
                "must be at least 1."
            )
