"""Server-side sessions: a random id in a signed, HttpOnly cookie; the data in a store.

The cookie carries only the session id, signed so that a forged or mangled cookie never reaches
the store. The data lives in a :class:`SessionStore`; :class:`MemorySessionStore` is the default
for one process, and an app with several processes passes its own (SQL or Redis) store. Because the
data is on the server, a session can be revoked, and :meth:`Session.rotate` gives it a new id on
login and password change so a fixed id is worth nothing.

Example::

    session = session_of(request)
    session["user_id"] = user.id
    session.rotate()
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol

from tiered.asgi.cookies import SignedCookie


class SessionStore(Protocol):
    """Where session data lives. Implementations must be safe to call concurrently."""

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """The data of a live session, or ``None`` when it does not exist or has expired."""

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Store ``data`` under ``session_id`` for ``max_age`` more seconds."""

    async def delete(self, session_id: str) -> None:
        """Forget the session; a missing id is not an error."""


class MemorySessionStore:
    """Sessions in this process's memory: for development, tests and single-process apps.

    Bounded: past ``max_sessions`` the least recently used session is dropped.
    """

    def __init__(self, max_sessions: int = 100_000) -> None:
        self._data: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._max = max_sessions

    async def load(self, session_id: str) -> dict[str, Any] | None:
        entry = self._data.get(session_id)
        if entry is None:
            return None
        expires, data = entry
        if expires < time.monotonic():
            del self._data[session_id]
            return None
        self._data.move_to_end(session_id)
        return dict(data)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        self._data[session_id] = (time.monotonic() + max_age, dict(data))
        self._data.move_to_end(session_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def delete(self, session_id: str) -> None:
        self._data.pop(session_id, None)


class Session(MutableMapping[str, Any]):
    """One visitor's session data. Changes are saved when the response starts."""

    __slots__ = ("_data", "cleared", "id", "modified", "previous_ids")

    def __init__(self, session_id: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.id = session_id
        self._data = data or {}
        self.modified = False
        self.previous_ids: list[str] = []
        self.cleared = False

    @property
    def is_new(self) -> bool:
        return self.id is None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def data(self) -> dict[str, Any]:
        return dict(self._data)

    def rotate(self) -> None:
        """Keep the data under a new id; the old id stops working (call on login)."""
        if self.id is not None:
            self.previous_ids.append(self.id)
        self.id = None
        self.modified = True

    def clear(self) -> None:
        """Forget everything and end the session (call on logout)."""
        self._data.clear()
        self.rotate()
        self.cleared = True


class SessionCookie(SignedCookie):
    """The session cookie: a signed random session id."""

    def __init__(self, secret_key: str) -> None:
        super().__init__(secret_key, salt="tiered.session")

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)
