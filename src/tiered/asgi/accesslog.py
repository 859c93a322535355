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
``client_kind``    ``browser``, ``text-browser``, ``crawler``, ``api`` or ``unknown``
                   (:data:`~tiered.core.capabilities.ClientKind`; ``None`` as for ``tier``)
``representation`` what was sent: one of :data:`SENT_REPRESENTATIONS` (below)
``bytes``          the response body's length as sent
=================  ===============================================================================

The representation is the one tiered recorded on the request context when it rendered the
response (``RequestContext.representation``): ``page`` or ``fragment`` as actually rendered, so an
htmx request answered with the whole page (a history restore, ``HX-Request-Type: full``, a view
with no block) is a ``page``; ``json``; and for an error, ``problem`` or the HTML page or fragment
it was shown as. A response the app built itself has none recorded, and is read from what left:

- a ``3xx`` other than ``304`` is a ``redirect``, whatever its body;
- ``text/html`` is a ``page`` when its body starts as a whole document does (``<!doctype html``
  or ``<html``, after white space) or is empty, else a ``fragment``;
- ``application/problem+json`` is a ``problem``; ``application/json`` and any ``…+json`` type are
  ``json``;
- no ``Content-Type`` and no body (a ``204``, a ``304``) is ``empty``; anything else (a file, the
  metrics' text) is ``other``.

It sits outside tiered's main middleware so it times everything. When the logger is disabled and
no telemetry observes, it costs one ``isEnabledFor`` check a request (about a microsecond); a
failure of the log or of an observer never fails the request.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final, Literal, Protocol, get_args

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.asgi.context import SCOPE_KEY, RequestContext
from tiered.core.capabilities import ClientKind

ACCESS_LOGGER = "tiered.access"

SentRepresentation = Literal["page", "fragment", "json", "problem", "redirect", "empty", "other"]
"""What a response was, as recorded (see the module docstring)."""
SENT_REPRESENTATIONS: Final[tuple[SentRepresentation, ...]] = get_args(SentRepresentation)

ACCESS_FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "tier",
    "reasons",
    "client_kind",
    "representation",
    "bytes",
)
"""The attributes every access record carries (see the module docstring)."""

logger = logging.getLogger(ACCESS_LOGGER)


class RequestRecord:
    """What one request was, measured once at its end (see the module docstring's fields)."""

    __slots__ = (
        "bytes",
        "client_kind",
        "duration_ms",
        "htmx",
        "method",
        "path",
        "reasons",
        "representation",
        "request_id",
        "route",
        "status",
        "tier",
    )

    def __init__(
        self,
        scope: Scope,
        method: str,
        status: int,
        representation: SentRepresentation,
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
        self.client_kind: ClientKind | None = client.kind if client is not None else None
        self.htmx = client is not None and client.htmx is not None
        """Whether htmx made the request (its page's script ran, whatever was sent back)."""
        self.representation = representation
        self.bytes = sent

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
            "client_kind": self.client_kind,
            "representation": self.representation,
            "bytes": self.bytes,
        }


class RequestObserver(Protocol):
    """Told about every request (telemetry is one). Must not block; what it raises is dropped."""

    def response_started(
        self, scope: Scope, route: str | None, representation: SentRepresentation
    ) -> None:
        """The response's first body message is about to leave (a tracing span is still open)."""

    def observe(self, record: RequestRecord) -> None:
        """The request ended: its whole record."""


def representation_sent(
    scope: Scope, status: int, content_type: bytes, body: bytes
) -> SentRepresentation:
    """What a response was: the representation tiered recorded, else what the response's status,
    ``Content-Type`` and first body bytes say (see the module docstring)."""
    ctx: RequestContext | None = scope.get(SCOPE_KEY)
    if ctx is not None and ctx.representation is not None:
        return ctx.representation
    if 300 <= status < 400 and status != 304:
        return "redirect"
    media_type = content_type.split(b";", 1)[0].strip().lower()
    if media_type == b"text/html":
        return "page" if _is_document(body) else "fragment"
    if media_type == b"application/problem+json":
        return "problem"
    if media_type == b"application/json" or media_type.endswith(b"+json"):
        return "json"
    if not media_type and not body:
        return "empty"
    return "other"


_DOCUMENT_STARTS = (b"<!doctype html", b"<html")


def _is_document(body: bytes) -> bool:
    """Whether an HTML body is a whole document (or empty, as a HEAD response is), not a part."""
    start = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return not start or start.startswith(_DOCUMENT_STARTS)


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
        representation: SentRepresentation | None = None
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, content_type, representation, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        content_type = value
                        break
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if representation is None:
                    # Decided on the first body message: an app's own HTML is told apart by its
                    # first bytes, and OpenTelemetry's span stays open until the last one.
                    representation = representation_sent(scope, status, content_type, body)
                    if observer is not None:
                        try:
                            observer.response_started(scope, self._template(scope), representation)
                        except Exception:  # an observer must never fail a request
                            logging.getLogger("tiered").debug("observer failed", exc_info=True)
                sent += len(body)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            try:
                if representation is None:  # the app failed before any body left
                    representation = representation_sent(scope, status, content_type, b"")
                record = RequestRecord(
                    scope,
                    method,
                    status,
                    representation,
                    sent,
                    duration_ms,
                    self._template(scope),
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
