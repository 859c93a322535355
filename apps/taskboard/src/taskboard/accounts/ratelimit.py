"""The log-in and sign-up rate limits: they stop guessing without locking the owner out.

For log-in, only **failed** attempts count, in moving windows (the limits library's syntax),
under two keys:

- the **client's address** (``Settings.login_failures_per_address``, default ``10/minute``): one
  address cannot try many accounts quickly. Behind a proxy, the address is the one the trusted
  proxy reports (``FORWARDED_ALLOW_IPS``), so the site does not share one address.
- the **account**, for a browser that holds no device cookie for it
  (``Settings.login_failures_per_account``, default ``5/minute;100/hour``, the most OWASP ASVS
  allows per account an hour), or else **that device cookie** alone
  (``Settings.login_failures_per_device``, the same by default).

The device cookie follows OWASP's "device cookies" approach: a successful log-in gives the browser
a signed cookie naming the account. Someone guessing from elsewhere spends only the account's
allowance for unknown browsers; the owner's browser, which logged in before, is counted on its
own, so the owner's correct password still works while the guessing goes on. A device cookie
that fails too often is refused like any other client.

**Sign-ups** count per client address (:data:`SIGNUPS_PER_ADDRESS`, default
``10/minute;30/hour``): every sign-up whose answer says whether the email has an account (an
account made, or "this email has an account", which a sign-up cannot hide), so that nobody can
test many emails quickly. A form refused for its shape (a short password) tells nothing and is not
counted. The answer past the limit is the same whatever the email.

**Password-reset requests** count per client address
(``Settings.reset_requests_per_address``, default ``10/minute;50/hour``) and per email, from
anywhere (``Settings.reset_requests_per_email``, default ``3/hour;10/day``): every request
counts, whether or not the email has an account, so the answer past the limit tells nothing
either, and nobody can flood a person's inbox with links.

The counts live in memory (per process) by default, and in Redis when ``REDIS_URL`` is set so that
every process and instance shares them; sign-ups share the log-in's store. When Redis does not
answer within half a second, the limiter logs it and counts in this process's memory for a few
seconds before it asks Redis again: limits then hold per instance, and no log-in waits on Redis.

Example::

    limiter = login_limiter(request.app)
    device = limiter.device(email, tiered.get_cookie(request, DEVICE_COOKIE))
    await limiter.check(email, address, device)      # raises tiered.TooManyRequests when spent
    if not await authenticate(...):
        await limiter.failed(email, address, device)
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, Signer
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.applications import Starlette

from taskboard.settings import Settings
from tiered import ImproperlyConfigured, TooManyRequests

logger = logging.getLogger("taskboard.accounts")

NAMESPACE = "taskboard-login"
REDIS_PREFIX = "taskboard"
"""Before every key this app's limiter keeps in Redis."""
DEVICE_COOKIE = "taskboard_device"
DEVICE_MAX_AGE = 365 * 24 * 3600
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_COOLDOWN_SECONDS = 5.0
"""After Redis failed to answer, how long the limiter counts in memory before asking it again."""

TOO_MANY_ATTEMPTS = (
    "Too many failed log-in attempts. Try again in {seconds} seconds ({when} UTC); until then, "
    "log-ins {whose} are refused."
)
WHOSE = {
    "address": "from this address",
    "account": "to this account from browsers it has not logged in from before",
    "device": "from this browser to this account",
    "reset-address": "from this address",
    "reset-email": "for this email",
}
TOO_MANY_SIGNUPS = (
    "Too many sign-ups from this address. Try again in {seconds} seconds ({when} UTC)."
)
TOO_MANY_RESETS = (
    "Too many requests for a password-reset link {whose}. Try again in {seconds} seconds "
    "({when} UTC)."
)
SIGNUPS_PER_ADDRESS = "10/minute;30/hour"
"""Sign-ups one client address may make (see the module docstring): enough for a household or an
office behind one address, too few to test many emails for an account."""


class LoginLimiter:
    """Counts failed log-ins per address and per account or device, sign-ups per address, and
    password-reset requests per address and per email (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        *,
        secret_key: str,
        per_address: str = "10/minute",
        per_account: str = "5/minute;100/hour",
        per_device: str = "5/minute;100/hour",
        signups_per_address: str = SIGNUPS_PER_ADDRESS,
        resets_per_address: str = "10/minute;50/hour",
        resets_per_email: str = "3/hour;10/day",
    ) -> None:
        self.limits = {
            "address": _parse(per_address, "login_failures_per_address"),
            "account": _parse(per_account, "login_failures_per_account"),
            "device": _parse(per_device, "login_failures_per_device"),
            "signup": _parse(signups_per_address, "signups_per_address"),
            "reset-address": _parse(resets_per_address, "reset_requests_per_address"),
            "reset-email": _parse(resets_per_email, "reset_requests_per_email"),
        }
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        self._down_until = 0.0
        self._signer = Signer(secret_key, salt="taskboard.device-cookie")

    # --- device cookies ------------------------------------------------------------------------

    def issue_device(self, email: str) -> str:
        """A new device cookie's value for a browser that just logged in to ``email``."""
        return self._signer.sign(f"{secrets.token_urlsafe(16)}:{email}").decode("ascii")

    def device(self, email: str, cookie: str | None) -> str | None:
        """The device key of a cookie issued for this account, or ``None`` for any other."""
        if not cookie:
            return None
        try:
            value = self._signer.unsign(cookie).decode("utf-8")
        except (BadSignature, UnicodeDecodeError):
            return None
        nonce, _, owner = value.partition(":")
        return nonce if owner == email else None

    # --- counting ------------------------------------------------------------------------------

    async def check(self, email: str, address: str, device: str | None) -> None:
        """Raise :class:`tiered.TooManyRequests` when this client may not try now."""
        await self._refuse_when_spent(self._keys(email, address, device), TOO_MANY_ATTEMPTS)

    async def failed(self, email: str, address: str, device: str | None) -> None:
        """Count one failed attempt."""
        await self._hit(self._keys(email, address, device))

    async def check_signup(self, address: str) -> None:
        """Raise :class:`tiered.TooManyRequests` when ``address`` may not sign up now."""
        await self._refuse_when_spent([("signup", address)], TOO_MANY_SIGNUPS)

    async def signed_up(self, address: str) -> None:
        """Count one sign-up from ``address`` whose answer said whether the email was free."""
        await self._hit([("signup", address)])

    async def check_reset(self, email: str, address: str) -> None:
        """Raise :class:`tiered.TooManyRequests` when ``address`` may not ask for a
        password-reset link now, or nobody may for ``email``."""
        await self._refuse_when_spent(self._reset_keys(email, address), TOO_MANY_RESETS)

    async def reset_requested(self, email: str, address: str) -> None:
        """Count one password-reset request for ``email`` from ``address``."""
        await self._hit(self._reset_keys(email, address))

    async def _refuse_when_spent(self, keys: list[tuple[str, str]], message: str) -> None:
        waits: list[tuple[float, str]] = []
        for kind, key in keys:
            for item in self.limits[kind]:
                try:
                    wait = await _wait(self._current(), item, kind, key)
                except Exception as exc:  # Redis did not answer: count here for a while
                    self._went_away(exc)
                    wait = await _wait(self._fallback, item, kind, key)
                if wait is not None:
                    waits.append((wait, kind))
        if waits:
            wait, kind = max(waits)
            seconds = max(1, math.ceil(wait))
            when = time.strftime("%H:%M:%S", time.gmtime(time.time() + seconds))
            raise TooManyRequests(
                seconds, message.format(seconds=seconds, when=when, whose=WHOSE.get(kind, ""))
            )

    async def _hit(self, keys: list[tuple[str, str]]) -> None:
        for kind, key in keys:
            for item in self.limits[kind]:
                try:
                    await self._current().hit(item, NAMESPACE, kind, key)
                except Exception as exc:
                    self._went_away(exc)
                    await self._fallback.hit(item, NAMESPACE, kind, key)

    async def aclose(self) -> None:
        """Close the Redis connections, if any (memory needs nothing)."""
        client: Any = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    def _keys(self, email: str, address: str, device: str | None) -> list[tuple[str, str]]:
        second = ("device", device) if device is not None else ("account", _hashed(email))
        return [("address", address), second]

    def _reset_keys(self, email: str, address: str) -> list[tuple[str, str]]:
        return [("reset-address", address), ("reset-email", _hashed(email))]

    def _current(self) -> MovingWindowRateLimiter:
        return self._limiter if time.monotonic() >= self._down_until else self._fallback

    def _went_away(self, exc: Exception) -> None:
        if time.monotonic() >= self._down_until:
            logger.warning(
                "The log-in limiter's Redis did not answer (%s); counting failed log-ins and "
                "sign-ups in this process for the next %.0f s.",
                exc or type(exc).__name__,
                REDIS_COOLDOWN_SECONDS,
            )
        self._down_until = time.monotonic() + REDIS_COOLDOWN_SECONDS


def _hashed(email: str) -> str:
    """An email as the limiter keys it: hashed, so Redis holds no email addresses."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


async def _wait(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, kind: str, key: str
) -> float | None:
    """Seconds until ``key`` may try again under ``item``; ``None``: it may try now."""
    if await limiter.test(item, NAMESPACE, kind, key):
        return None
    stats = await limiter.get_window_stats(item, NAMESPACE, kind, key)
    return stats.reset_time - time.time()


def _parse(limit: str, name: str) -> Sequence[RateLimitItem]:
    try:
        return parse_many(limit)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"The rate limit {name} = {limit!r} cannot be read ({exc}); write it like "
            "'5/minute' or '5/minute;100/hour'."
        ) from None


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
            f"async+{scheme}://{rest}",
            implementation="redispy",
            key_prefix=REDIS_PREFIX,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    else:
        storage = MemoryStorage()
    return LoginLimiter(
        storage,
        secret_key=settings.secret_key,
        per_address=settings.login_failures_per_address,
        per_account=settings.login_failures_per_account,
        per_device=settings.login_failures_per_device,
        signups_per_address=settings.signups_per_address,
        resets_per_address=settings.reset_requests_per_address,
        resets_per_email=settings.reset_requests_per_email,
    )


def login_limiter(app: Starlette) -> LoginLimiter:
    """This app's limiter, built on first use (so inside the event loop that serves requests)."""
    limiter: LoginLimiter | None = getattr(app.state, "login_limiter", None)
    if limiter is None:
        limiter = build_limiter(app.state.settings)
        app.state.login_limiter = limiter
    return limiter
