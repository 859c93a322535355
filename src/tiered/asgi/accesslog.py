"""The single per-request record point: one :class:`RequestRecord` per HTTP request, given to the
``tiered.access`` logger and to telemetry.

The access log record's message reads well on its own (``GET /tasks 200 3.2ms``) and carries the
fields as attributes, for a JSON formatter or a log pipeline:

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

It sits outside tiered's main middleware so it times everything. When the logger is disabled and
no telemetry observes, it costs one ``isEnabledFor`` check a request (about a microsecond); a
failure of the log or of an observer never fails the request.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

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


class RequestRecord:
    """What one request was, measured once at its end (see the module docstring's fields)."""

    __slots__ = (
        "bytes",
        "duration_ms",
        "method",
        "path",
        "reasons",
        "representation",
        "request_id",
        "route",
        "status",
        "tier",
        "user_agent_kind",
    )

    def __init__(
        self,
        scope: Scope,
        method: str,
        status: int,
        content_type: bytes,
        sent: int,
        duration_ms: float,
        route: str | None = None,
    ) -> None:
        ctx: RequestContext | None = scope.get(SCOPE_KEY)
        client = ctx.client if ctx is not None else None
        self.request_id = ctx.request_id if ctx is not None else None
        self.method = method
        self.path: str = scope["path"]
        self.route = route or getattr(scope.get("route"), "path", None)
        self.status = status
        self.duration_ms = duration_ms
        self.tier = client.tier if client is not None else None
        self.reasons: tuple[str, ...] = client.reasons if client is not None else ()
        self.representation = representation_of(
            content_type, client is not None and client.htmx is not None
        )
        self.bytes = sent
        self.user_agent_kind = client.user_agent.kind if client is not None else None
        """The User-Agent's kind (``browser``, ``text-browser``, ``crawler``, …)."""

    def log_fields(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "tier": self.tier,
            "reasons": list(self.reasons),
            "representation": self.representation,
            "bytes": self.bytes,
        }


class RequestObserver(Protocol):
    """Told about every request (telemetry is one). Must not block; what it raises is dropped."""

    def response_started(self, scope: Scope, route: str | None, content_type: bytes) -> None:
        """The response's headers are about to leave (a tracing span is still open here)."""

    def observe(self, record: RequestRecord) -> None:
        """The request ended: its whole record."""


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
    """Make one :class:`RequestRecord` per HTTP request; log it at INFO on ``tiered.access`` and
    give it to ``observer`` (telemetry), when either wants it (see the module docstring)."""

    def __init__(self, app: ASGIApp, observer: RequestObserver | None = None) -> None:
        self.app = app
        self.observer = observer
        self._templates: dict[Any, str | None] = {}

    def _template(self, scope: Scope) -> str | None:
        """The route template of a request FastAPI's router left no ``scope["route"]`` for (a
        plain Starlette route, such as ``tiered.route``'s, inside a FastAPI app)."""
        if "route" in scope:
            return None
        endpoint = scope.get("endpoint")
        ctx: RequestContext | None = scope.get(SCOPE_KEY)
        if endpoint is None or ctx is None:
            return None
        templates = self._templates
        if endpoint not in templates:
            # Bounded: only endpoints of the app's own routes ever reach here.
            for route in ctx.runtime.routes():
                route_endpoint = getattr(route, "endpoint", None)
                path = getattr(route, "path", None)
                if route_endpoint is not None and isinstance(path, str):
                    templates.setdefault(route_endpoint, path)
            templates.setdefault(endpoint, None)
        return templates[endpoint]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        observer = self.observer
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = logger.isEnabledFor(logging.INFO)
        if not log and observer is None:
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
                if observer is not None:
                    try:
                        observer.response_started(scope, self._template(scope), content_type)
                    except Exception:  # an observer must never fail a request
                        logging.getLogger("tiered").debug("observer failed", exc_info=True)
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            try:
                record = RequestRecord(
                    scope, method, status, content_type, sent, duration_ms, self._template(scope)
                )
                if log:
                    logger.info(
                        "%s %s %d %.1fms",
                        method,
                        record.path,
                        status,
                        duration_ms,
                        extra=record.log_fields(),
                    )
                if observer is not None:
                    observer.observe(record)
            except Exception:  # a broken handler, formatter or observer must never fail a request
                logging.getLogger("tiered").debug("access log failed", exc_info=True)
