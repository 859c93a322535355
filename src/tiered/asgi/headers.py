"""The headers tiered puts on every response that did not set them itself: what the browser may
do with it (``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options``,
``Cross-Origin-Opener-Policy``), the Content Security Policy (the HTML one with this response's
nonce, or the data one), whether it may be kept (``Cache-Control``), HSTS behind https, and the
request id; and ``Connection: close`` when the connection cannot be kept.

Encoded once when the middleware is made; a response then costs a scan of its own headers and
the appends.
"""

from __future__ import annotations

from starlette.types import Message

from tiered.asgi.context import RequestContext

_STATIC: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_STATIC_NAMES = frozenset(name for name, _ in _STATIC)
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
_CONNECTION_CLOSE = (b"connection", b"close")


class SecurityHeaders:
    """What :meth:`add` puts on a response, from the app's two policies."""

    def __init__(self, csp_for_html: str, csp_for_data: str) -> None:
        """``csp_for_html`` holds a NUL where each nonce goes (in ``script-src`` and
        ``style-src``)."""
        self._csp_html = [part.encode("latin-1") for part in csp_for_html.split("\x00")]
        self._csp_data = csp_for_data.encode("latin-1")

    def add(self, raw_headers: list[tuple[bytes, bytes]], ctx: RequestContext, https: bool) -> None:
        """Append to ``raw_headers`` (a response's, lower- or mixed-case names) each header it
        lacks; the request id always."""
        present: set[bytes] = set()
        content_type = b""
        for name, value in raw_headers:
            lowered = name.lower()
            if lowered == b"content-type" and b"content-type" not in present:
                content_type = value
            present.add(lowered)
        if present.isdisjoint(_STATIC_NAMES):
            raw_headers.extend(_STATIC)
        else:
            raw_headers.extend(item for item in _STATIC if item[0] not in present)
        if b"content-security-policy" not in present:
            if content_type.startswith(b"text/html"):
                csp = ctx.nonce.encode("latin-1").join(self._csp_html)
            else:
                csp = self._csp_data
            raw_headers.append((b"content-security-policy", csp))
        if b"cache-control" not in present:
            # A response that says nothing about caching is not to be kept: pages show one
            # person's data (a new API token, once), carry CSRF tokens, and change in place, so
            # a shared cache, the back button or a text browser's cache must not show them
            # again. One with an ETag may be kept by the client alone, and checked each time.
            raw_headers.append(
                (b"cache-control", b"private, no-cache" if b"etag" in present else b"no-store")
            )
        if https and b"strict-transport-security" not in present:
            raw_headers.append(_HSTS)
        raw_headers.append((b"x-request-id", ctx.request_id.encode("latin-1")))


def closes(message: Message) -> bool:
    """Whether a response start already says ``Connection: close`` (a 408 does)."""
    return any(
        name.lower() == b"connection" and value.lower() == b"close"
        for name, value in message["headers"]
    )


def say_close(message: Message) -> None:
    """Make a response start say ``Connection: close``, unless it says something of its own."""
    raw_headers: list[tuple[bytes, bytes]] = message["headers"]
    if not any(name.lower() == b"connection" for name, _ in raw_headers):
        raw_headers.append(_CONNECTION_CLOSE)
