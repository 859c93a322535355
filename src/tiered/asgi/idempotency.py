"""Remembering the result of a submission, so sending it again creates nothing twice.

Every form tiered renders carries a one-time ``idempotency_key``; API clients may send an
``Idempotency-Key`` header. The first request with a key runs the handler and its response is kept;
a repeat (a double click, a refresh of the result, Back then resubmit) gets the kept response
instead of running the handler again. A repeat that arrives while the first is still running waits
for it. Keys are scoped to the session or API token, so one visitor cannot replay another's result.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

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
