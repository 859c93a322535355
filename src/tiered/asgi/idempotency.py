"""Remembering the result of a submission, so sending it again creates nothing twice.

Every form tiered renders carries a one-time ``idempotency_key``; API clients may send an
``Idempotency-Key`` header. The first request with a key runs the handler and its response is kept;
a repeat (a double click, a refresh of the result, Back then resubmit) gets the kept response
instead of running the handler again. A repeat that arrives while the first is still running waits
for it. Keys are scoped to the session or API token, so one visitor cannot replay another's result.

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

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger("tiered.idempotency")

_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class IdempotencyStore(Protocol):
    async def claim(self, key: str, ttl: int) -> StoredResponse | None:
        """``None``: the caller owns the key and must ``complete`` or ``release`` it.

        Otherwise the response kept for the key, waiting for a first request still running.
        """

    async def complete(self, key: str, response: StoredResponse, ttl: int) -> None: ...

    async def release(self, key: str) -> None:
        """Forget a claimed key whose handler failed, so the submission can be sent again."""


class MemoryIdempotencyStore:
    """Keys in this process's memory, bounded and expiring."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self._entries: OrderedDict[str, tuple[float, StoredResponse | None, asyncio.Event]] = (
            OrderedDict()
        )
        self._max = max_keys

    async def claim(self, key: str, ttl: int) -> StoredResponse | None:
        while True:
            entry = self._entries.get(key)
            now = time.monotonic()
            if entry is None or entry[0] < now:
                self._entries[key] = (now + ttl, None, asyncio.Event())
                self._trim()
                return None
            _, stored, done = entry
            if stored is not None:
                return stored
            try:
                await asyncio.wait_for(done.wait(), _WAIT_SECONDS)
            except TimeoutError:
                # The first request is stuck; let this one run rather than hang the visitor.
                self._entries.pop(key, None)

    async def complete(self, key: str, response: StoredResponse, ttl: int) -> None:
        entry = self._entries.get(key)
        event = entry[2] if entry else asyncio.Event()
        self._entries[key] = (time.monotonic() + ttl, response, event)
        event.set()

    async def release(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry[2].set()

    def _trim(self) -> None:
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


_PENDING = "pending"


class RedisIdempotencyStore:
    """Keys in Redis, shared by every process and instance that uses the same Redis.

    A claim is one ``SET NX``: whichever instance sets the key first runs the handler; the others
    poll until its response is stored (or, as in memory, give up waiting after 10 s). A claimed
    key that is never completed (its process died) is free again after ``pending_seconds``.

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

    async def _claim_locally(self, key: str, ttl: int) -> StoredResponse | None:
        kept = await self.fallback.claim(key, ttl)
        if kept is None:
            self._claimed_locally.add(key)
        return kept

    async def claim(self, key: str, ttl: int) -> StoredResponse | None:
        if not self._available():
            return await self._claim_locally(key, ttl)
        name = f"{self.prefix}:{key}"
        deadline = time.monotonic() + _WAIT_SECONDS
        try:
            redis = self._redis()
            while True:
                if await redis.set(name, _PENDING, nx=True, ex=self._pending_seconds):
                    return None
                raw = await redis.get(name)
                if isinstance(raw, bytes) and raw != _PENDING.encode():
                    return _decode(raw)
                if time.monotonic() >= deadline:
                    # The first request is stuck; let this one run rather than hang the visitor.
                    await redis.set(name, _PENDING, ex=self._pending_seconds)
                    return None
                await asyncio.sleep(self._poll)
        except Exception as exc:  # redis.RedisError, OSError, a timeout: Redis is not answering
            self._went_away(exc)
            return await self._claim_locally(key, ttl)

    async def complete(self, key: str, response: StoredResponse, ttl: int) -> None:
        if key in self._claimed_locally:
            self._claimed_locally.discard(key)
            await self.fallback.complete(key, response, ttl)
            return
        try:
            await self._redis().set(f"{self.prefix}:{key}", _encode(response), ex=ttl)
        except Exception as exc:
            self._went_away(exc)

    async def release(self, key: str) -> None:
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


def _encode(response: StoredResponse) -> bytes:
    return json.dumps(
        {
            "status": response.status,
            "headers": response.headers,
            "body": base64.b64encode(response.body).decode("ascii"),
        }
    ).encode("utf-8")


def _decode(raw: bytes) -> StoredResponse:
    data = json.loads(raw)
    return StoredResponse(
        data["status"],
        tuple((name, value) for name, value in data["headers"]),
        base64.b64decode(data["body"]),
    )
