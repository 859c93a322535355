"""The log-in rate limit: so many attempts per account and per client address, then a wait.

Every attempt counts (right or wrong), in a moving window of ``Settings.login_attempts`` (the
limits library's syntax, default ``5/minute``), under two keys: the account's email and the
client's address. A successful log-in clears the account's key, so a person who mistypes twice
and then gets in starts afresh; the address key is left alone, so one address cannot try many
accounts quickly by logging into its own in between.

The counts live in memory (per process) by default, and in Redis when ``REDIS_URL`` is set so that
every process shares them. The limiter is built on first use, inside the app's event loop, and kept
on ``app.state``.

Example::

    limiter = login_limiter(request.app)
    await limiter.attempt(email, address)      # raises tiered.TooManyRequests past the limit
    ...
    await limiter.succeeded(email)
"""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.applications import Starlette

from taskboard.settings import Settings
from tiered import ImproperlyConfigured, TooManyRequests

NAMESPACE = "taskboard-login"
REDIS_PREFIX = "taskboard"
"""Before every key this app's limiter keeps in Redis."""
TOO_MANY_ATTEMPTS = (
    "Too many log-in attempts. Try again in {seconds} seconds ({when} UTC); until then, "
    "log-ins for this account or from this address are refused."
)


class LoginLimiter:
    """Counts log-in attempts per account and per address (see the module docstring)."""

    def __init__(self, limit: str, storage: Storage) -> None:
        try:
            self.item: RateLimitItem = parse(limit)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"The login rate limit {limit!r} cannot be read ({exc}); write it like "
                "'5/minute' or '20 per hour'."
            ) from None
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def attempt(self, email: str, address: str) -> None:
        """Count one attempt; raise :class:`tiered.TooManyRequests` when either key is past its
        limit (the attempt is then not tried at all)."""
        keys = (("account", email), ("address", address))
        refused = [key for key in keys if not await self._limiter.hit(self.item, NAMESPACE, *key)]
        if refused:
            wait = max([await self._retry_after(key) for key in refused])
            when = time.strftime("%H:%M:%S", time.gmtime(time.time() + wait))
            raise TooManyRequests(wait, TOO_MANY_ATTEMPTS.format(seconds=wait, when=when))

    async def succeeded(self, email: str) -> None:
        """Forget the account's failed attempts after a successful log-in."""
        await self._limiter.clear(self.item, NAMESPACE, "account", email)

    async def aclose(self) -> None:
        """Close the Redis connections, if any (memory needs nothing)."""
        client: Any = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    async def _retry_after(self, key: tuple[str, str]) -> int:
        stats = await self._limiter.get_window_stats(self.item, NAMESPACE, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))


def build_limiter(settings: Settings) -> LoginLimiter:
    """A limiter over Redis when ``settings.redis_url`` is set, else over this process's memory."""
    if settings.redis_url:
        scheme, sep, rest = settings.redis_url.partition("://")
        if not sep or scheme not in ("redis", "rediss"):
            raise ImproperlyConfigured(
                f"REDIS_URL {settings.redis_url!r} is not a Redis URL; expected "
                "redis://host:port/db or rediss://host:port/db."
            )
        storage: Storage = RedisStorage(
            f"async+{scheme}://{rest}", implementation="redispy", key_prefix=REDIS_PREFIX
        )
    else:
        storage = MemoryStorage()
    return LoginLimiter(settings.login_attempts, storage)


def login_limiter(app: Starlette) -> LoginLimiter:
    """This app's limiter, built on first use (so inside the event loop that serves requests)."""
    limiter: LoginLimiter | None = getattr(app.state, "login_limiter", None)
    if limiter is None:
        limiter = build_limiter(app.state.settings)
        app.state.login_limiter = limiter
    return limiter
