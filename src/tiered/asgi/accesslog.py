"""One structured log record per HTTP request, on the ``tiered.access`` logger.

Each record's message reads well on its own (``GET /tasks 200 3.2ms``) and carries the fields as
attributes, for a JSON formatter or a log pipeline:

=================  ===============================================================================
``request_id``     the ``X-Request-ID`` tiered gave the response (the client's own, if well-formed)
``method``         as the client sent it (``HEAD`` stays ``HEAD``)
``path``           the URL path, without the query string (it may hold search terms)
``route``          the matched route's template (``/tasks/{task_id}``), or ``None``
``status``         the response status; ``500`` when the app failed before answering
``duration_ms``    from the request's arrival to the end of the response body
``tier``           ``core``, ``lite`` or ``full`` (``None`` if tiered's middleware did not run)
``reasons``        the tier's reasons, a list of codes
``representation`` ``page``, ``fragment``, ``json`` or ``problem``, read from the response's
                   ``Content-Type`` (``None`` for a redirect or an empty body, say)
``bytes``          the response body's length as sent
=================  ===============================================================================

It sits outside tiered's main middleware so it times everything. When the logger is disabled it
costs one ``isEnabledFor`` check a request (about a microsecond), and a logging failure never
fails the request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.asgi.context import SCOPE_KEY, RequestContext

ACCESS_LOGGER = "tiered.access"

ACCESS_FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "tier",
    "reasons",
    "representation",
    "bytes",
)
"""The attributes every access record carries (see the module docstring)."""

logger = logging.getLogger(ACCESS_LOGGER)


def representation_of(content_type: bytes, htmx: bool) -> str | None:
    """Which of tiered's representations a response is, from its ``Content-Type``."""
    media_type = content_type.split(b";", 1)[0].strip().lower()
    if media_type == b"text/html":
        return "fragment" if htmx else "page"
    if media_type == b"application/problem+json":
        return "problem"
    if media_type == b"application/json" or media_type.endswith(b"+json"):
        return "json"
    return None


class AccessLogMiddleware:
    """Log one ``tiered.access`` record at INFO level per HTTP request (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]  # read now: tiered answers HEAD as GET further in
        status = 500
        content_type = b""
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, content_type, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        content_type = value
                        break
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            try:
                _log(scope, method, status, content_type, sent, duration_ms)
            except Exception:  # a broken handler or formatter must never fail the request
                logging.getLogger("tiered").debug("access log failed", exc_info=True)


def _log(
    scope: Scope, method: str, status: int, content_type: bytes, sent: int, duration_ms: float
) -> None:
    ctx: RequestContext | None = scope.get(SCOPE_KEY)
    route = getattr(scope.get("route"), "path", None)
    client = ctx.client if ctx is not None else None
    fields: dict[str, Any] = {
        "request_id": ctx.request_id if ctx is not None else None,
        "method": method,
        "path": scope["path"],
        "route": route,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "tier": client.tier if client is not None else None,
        "reasons": list(client.reasons) if client is not None else [],
        "representation": representation_of(
            content_type, client is not None and client.htmx is not None
        ),
        "bytes": sent,
    }
    logger.info("%s %s %d %.1fms", method, scope["path"], status, duration_ms, extra=fields)
