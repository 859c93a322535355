"""Remembering the result of a submission, so sending it again creates nothing twice.

Every form tiered renders carries a one-time ``idempotency_key``; API clients may send an
``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header). The first request with a
key runs the handler and its response is kept for ``TieredSettings.idempotency_ttl`` seconds (24
hours by default); a repeat (a double click, a refresh of the result, Back then resubmit) gets the
kept response instead of running the handler again. Keys are scoped to the session or API token,
so one visitor cannot replay another's result.

A key also remembers its request's *fingerprint* (method, path and body): the same key with a
different request is refused with :class:`~tiered.core.errors.IdempotencyKeyReused` (422, as the
draft says), whether the first is done or still running. A repeat that arrives while the first is
still running is refused with :class:`~tiered.core.errors.IdempotencyKeyInFlight` (409) when it
came from an API client (``wait=False``); a browser's form (``wait=True``) waits for the first
response instead, up to 10 s, and gets it: a person who clicked twice should see what the first
click did, not an error about the second.

:class:`MemoryIdempotencyStore` holds the keys of one process. An app with several processes or
instances passes a :class:`RedisIdempotencyStore`, so that the same form posted to two instances
still creates one thing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tiered.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, TieredError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger("tiered.idempotency")

_WAIT_SECONDS = 10.0

KEY_REUSED = (
    "The Idempotency-Key {key!r} was first sent with a different request (another method, path "
    "or body). A key stands for one request for {ttl} after its first use; send this request "
    "with a new key."
)
"""The detail of :class:`IdempotencyKeyReused`; tests assert on it."""
KEY_IN_FLIGHT = (
    "The first request with the Idempotency-Key {key!r} is still being processed. Send this "
    "request again once it is done to get its response, which is kept for {ttl}."
)
"""The detail of :class:`IdempotencyKeyInFlight`; tests assert on it."""


def lifetime(ttl: int) -> str:
    """How long a key is kept, in words: ``'24 hours (86,400 seconds)'``."""
    for unit, seconds in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if ttl >= seconds and ttl % seconds == 0:
            count = ttl // seconds
            return f"{count} {unit}{'s' if count != 1 else ''} ({ttl:,} seconds)"
    return f"{ttl:,} second{'s' if ttl != 1 else ''}"


def key_reused(key: str | None, ttl: int) -> IdempotencyKeyReused:
    """The 422 for ``key`` (the client's own key, as it sent it; ``None`` when not known)."""
    detail = KEY_REUSED.format(key=key, ttl=lifetime(ttl)) if key is not None else None
    return IdempotencyKeyReused(detail, extra={"key_ttl_seconds": ttl})


def key_in_flight(key: str | None, ttl: int) -> IdempotencyKeyInFlight:
    """The 409 for ``key`` (as for :func:`key_reused`), with ``Retry-After: 1``."""
    detail = KEY_IN_FLIGHT.format(key=key, ttl=lifetime(ttl)) if key is not None else None
    return IdempotencyKeyInFlight(
        detail, headers={"Retry-After": "1"}, extra={"key_ttl_seconds": ttl}
    )


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class IdempotencyStore(Protocol):
    async def claim(
        self, key: str, ttl: int, *, fingerprint: str = "", wait: bool = True
    ) -> StoredResponse | None:
        """``None``: the caller owns the key and must ``complete`` or ``release`` it.

        Otherwise the response kept for the key. Raises :class:`IdempotencyKeyReused` when the
        key's first request had another ``fingerprint``; when the first is still running, waits
        for it (``wait=True``, up to 10 s, then lets this one run) or raises
        :class:`IdempotencyKeyInFlight` (``wait=False``).
        """

    async def complete(self, key: str, response: StoredResponse, ttl: int) -> None: ...

    async def release(self, key: str) -> None:
        """Forget a claimed key whose handler failed, so the submission can be sent again."""


@dataclass(slots=True)
class _Entry:
    expires: float
    fingerprint: str
    response: StoredResponse | None
    done: asyncio.Event


class MemoryIdempotencyStore:
    """Keys in this process's memory, bounded and expiring."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_keys

    async def claim(
        self, key: str, ttl: int, *, fingerprint: str = "", wait: bool = True
    ) -> StoredResponse | None:
        while True:
            entry = self._entries.get(key)
            now = time.monotonic()
            if entry is None or entry.expires < now:
                self._entries[key] = _Entry(now + ttl, fingerprint, None, asyncio.Event())
                self._trim()
                return None
            if not _same(entry.fingerprint, fingerprint):
                raise key_reused(None, ttl)
            if entry.response is not None:
                return entry.response
            if not wait:
                raise key_in_flight(None, ttl)
            try:
                await asyncio.wait_for(entry.done.wait(), _WAIT_SECONDS)
            except TimeoutError:
                # The first request is stuck; let this one run rather than hang the visitor.
                if self._entries.get(key) is entry:
                    del self._entries[key]

    async def complete(self, key: str, response: StoredResponse, ttl: int) -> None:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(0.0, "", None, asyncio.Event())
        entry.expires = time.monotonic() + ttl
        entry.response = response
        entry.done.set()

    async def release(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.done.set()

    def _trim(self) -> None:
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


_PENDING = b"pending"
"""A claimed key's value in Redis until its response is stored: this, ``:``, the fingerprint."""


def _same(first: str, second: str) -> bool:
    """Whether two fingerprints may be one request's; an unknown one (``""``) matches any."""
    return not first or not second or first == second


def _pending_fingerprint(raw: bytes) -> str | None:
    """The fingerprint of a claimed key's value; ``None`` when the value is a kept response."""
    if raw == _PENDING:  # claimed by an older release, which stored no fingerprint
        return ""
    if raw.startswith(_PENDING + b":"):
        return raw[len(_PENDING) + 1 :].decode("ascii", "replace")
    return None


class RedisIdempotencyStore:
    """Keys in Redis, shared by every process and instance that uses the same Redis.

    A claim is one ``SET NX``: whichever instance sets the key first runs the handler; the others
    poll until its response is stored (or, as in memory, give up waiting after 10 s), or, when
    told not to wait, answer 409 at once. A claimed key that is never completed (its process
    died) is free again after ``pending_seconds``. The fingerprint is stored with the key, so a
    different request with it is refused whichever instance gets it.

    When Redis does not answer within ``timeout_seconds``, the store says so in the log and falls
    back to this process's memory for ``cooldown_seconds`` before it asks Redis again: a
    submission is then guarded within its instance only, and never waits on Redis.

    Example::

        tiered.install(app, idempotency_store=RedisIdempotencyStore("redis://127.0.0.1:6379/0"))
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tiered:idempotency",
        timeout_seconds: float = 0.5,
        pending_seconds: int = 30,
        cooldown_seconds: float = 2.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._timeout = timeout_seconds
        self._pending_seconds = pending_seconds
        self._cooldown = cooldown_seconds
        self._poll = poll_seconds
        self._client: aioredis.Redis | None = None
        self._down_until = 0.0
        self.fallback = MemoryIdempotencyStore()
        """Where keys go while Redis is away."""
        self._claimed_locally: set[str] = set()
        self._fingerprints: dict[str, str] = {}
        """The fingerprints of the keys this instance claimed in Redis and has not completed."""

    def _redis(self) -> aioredis.Redis:
        # Made on first use, in the event loop that serves requests; imported here because
        # redis.asyncio costs ~15 MB in a process that uses no Redis.
        import redis.asyncio as aioredis

        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
        return self._client

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _went_away(self, exc: Exception) -> None:
        if self._available():
            logger.warning(
                "Redis at %s did not answer (%s); duplicate submissions are caught within each "
                "process only for the next %.0f s.",
                self.url,
                exc or type(exc).__name__,
                self._cooldown,
            )
        self._down_until = time.monotonic() + self._cooldown

    async def _claim_locally(
        self, key: str, ttl: int, fingerprint: str, wait: bool
    ) -> StoredResponse | None:
        kept = await self.fallback.claim(key, ttl, fingerprint=fingerprint, wait=wait)
        if kept is None:
            self._claimed_locally.add(key)
        return kept

    async def claim(
        self, key: str, ttl: int, *, fingerprint: str = "", wait: bool = True
    ) -> StoredResponse | None:
        if not self._available():
            return await self._claim_locally(key, ttl, fingerprint, wait)
        name = f"{self.prefix}:{key}"
        pending = _PENDING + b":" + fingerprint.encode("ascii")
        deadline = time.monotonic() + _WAIT_SECONDS
        try:
            redis = self._redis()
            while True:
                if await redis.set(name, pending, nx=True, ex=self._pending_seconds):
                    self._fingerprints[key] = fingerprint
                    return None
                raw = await redis.get(name)
                if not isinstance(raw, bytes):
                    continue  # it expired between the two commands: claim it again
                first = _pending_fingerprint(raw)
                if first is None:
                    stored, first = _decode(raw)
                    if not _same(first, fingerprint):
                        raise key_reused(None, ttl)
                    return stored
                if not _same(first, fingerprint):
                    raise key_reused(None, ttl)
                if not wait:
                    raise key_in_flight(None, ttl)
                if time.monotonic() >= deadline:
                    # The first request is stuck; let this one run rather than hang the visitor.
                    await redis.set(name, pending, ex=self._pending_seconds)
                    self._fingerprints[key] = fingerprint
                    return None
                await asyncio.sleep(self._poll)
        except TieredError:
            raise
        except Exception as exc:  # redis.RedisError, OSError, a timeout: Redis is not answering
            self._went_away(exc)
            return await self._claim_locally(key, ttl, fingerprint, wait)

    async def complete(self, key: str, response: StoredResponse, ttl: int) -> None:
        if key in self._claimed_locally:
            self._claimed_locally.discard(key)
            await self.fallback.complete(key, response, ttl)
            return
        fingerprint = self._fingerprints.pop(key, "")
        try:
            await self._redis().set(f"{self.prefix}:{key}", _encode(response, fingerprint), ex=ttl)
        except Exception as exc:
            self._went_away(exc)

    async def release(self, key: str) -> None:
        self._fingerprints.pop(key, None)
        if key in self._claimed_locally:
            self._claimed_locally.discard(key)
            await self.fallback.release(key)
            return
        try:
            await self._redis().delete(f"{self.prefix}:{key}")
        except Exception as exc:
            self._went_away(exc)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _encode(response: StoredResponse, fingerprint: str) -> bytes:
    return json.dumps(
        {
            "status": response.status,
            "headers": response.headers,
            "body": base64.b64encode(response.body).decode("ascii"),
            "fingerprint": fingerprint,
        }
    ).encode("utf-8")


def _decode(raw: bytes) -> tuple[StoredResponse, str]:
    """The kept response and its request's fingerprint (``""`` when stored without one)."""
    data = json.loads(raw)
    response = StoredResponse(
        data["status"],
        tuple((name, value) for name, value in data["headers"]),
        base64.b64decode(data["body"]),
    )
    return response, str(data.get("fingerprint", ""))
