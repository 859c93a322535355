"""The one pure-ASGI middleware tiered puts in front of an app.

For each HTTP request, once: read the headers and cookies into a
:class:`~tiered.core.capabilities.Client` (tier and reasons), load the session, enforce the body
size limit and CSRF, then let the app run; on the way out add the security headers, the request
id and the session cookie. An unexpected exception becomes a negotiated 500 with the request id,
logged here, so no stack trace reaches a client.

A response sent before the app read all of the request's body (a CSRF refusal, a 401 from a
dependency, a form past the parser's limits) leaves the rest of the body unread on the
connection, and servers then drop the connection without a word, so the client's next request on
it fails. The middleware reads and discards what is left (within the body size limit and time)
before the response's end, and where it cannot (a body declared too large, a client waiting for
``100 Continue``) says ``Connection: close``, so the client knows to open another.

It is plain ASGI rather than ``BaseHTTPMiddleware`` because that costs ~150 µs a request here and
buffers streaming responses; this costs a few microseconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import traceback
from collections.abc import Awaitable, Callable

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.asgi.context import SCOPE_KEY, RequestContext, cookie_name
from tiered.asgi.csrf import (
    CSRF_FIELD,
    CSRF_TOKEN_MISSING,
    MESSAGES,
    UNSAFE_METHODS,
    check_origin,
    is_bearer,
)
from tiered.asgi.dispatch import DirectDispatch
from tiered.asgi.problems import problem_response
from tiered.asgi.runtime import Runtime
from tiered.asgi.sessions import Session, SessionCookie
from tiered.core.capabilities import read_client
from tiered.core.errors import (
    BadRequest,
    CsrfFailed,
    FormTooLarge,
    HTTPProblem,
    InternalError,
    MalformedBody,
    PayloadTooLarge,
    RequestTimeout,
)
from tiered.core.forwarding import TrustedProxies, forwarded

logger = logging.getLogger("tiered")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A request id is no secret (a client may send its own), so it need not cost a system call for
# randomness (~1 µs) on every request; this generator is seeded from the OS once.
_request_ids = random.Random()  # noqa: S311
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# How Starlette's form parsers say a limit was passed (max_fields, max_files, max_part_size).
_FORM_LIMITS = ("Too many fields", "Too many files", "exceeded maximum size")
_CONNECTION_CLOSE = (b"connection", b"close")


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name in headers:
            # Repeated fields are one list (RFC 9110 §5.3); cookies join with '; '.
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    return headers


class TieredMiddleware:
    def __init__(
        self, app: ASGIApp, runtime: Runtime, dispatch: DirectDispatch | None = None
    ) -> None:
        self.app = app
        self.runtime = runtime
        # Requests for tiered's own endpoints skip the router (see tiered.asgi.dispatch).
        self._dispatch = dispatch if dispatch is not None and dispatch.bind(app) else None
        settings = runtime.settings
        # Indexed by whether the request's cookies are Secure (see cookie_name).
        self._session_cookie_names = (
            cookie_name(settings.session_cookie, secure=False),
            cookie_name(settings.session_cookie, secure=True),
        )
        self._csrf_cookie_names = (
            cookie_name(settings.csrf_cookie, secure=False),
            cookie_name(settings.csrf_cookie, secure=True),
        )
        self._proxies = TrustedProxies.parse(settings.trusted_proxies)
        self._csrf_header = settings.csrf_header.lower()
        self._max_body = settings.max_body_bytes
        self._body_limits = dict(settings.body_limits)
        self._body_timeout = settings.body_timeout_seconds
        self._static_headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        self._static_names = frozenset(name for name, _ in self._static_headers)
        # Encoded once: the HTML policy around its per-response nonce (in script-src and
        # style-src), and the data policy.
        parts = runtime.csp_for_html("\x00").split("\x00")
        self._csp_html = [part.encode("latin-1") for part in parts]
        self._csp_data = runtime.csp_for_data.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        headers = _headers(scope)
        if self._proxies:
            _apply_forwarding(scope, headers, self._proxies)
        cookie_header = headers.get("cookie")
        cookies = cookie_parser(cookie_header) if cookie_header else {}
        client = read_client(headers, cookies, runtime.settings.tier_policy)
        given_id = headers.get("x-request-id")
        if given_id and _REQUEST_ID.match(given_id):
            request_id = given_id
        else:
            request_id = _request_ids.getrandbits(64).to_bytes(8, "big").hex()
        ctx = RequestContext(runtime, client, headers, cookies, request_id)
        ctx.secure = secure = self._secure(scope)
        scope[SCOPE_KEY] = ctx

        raw_csrf = cookies.get(self._csrf_cookie_names[secure])
        if raw_csrf:
            ctx.csrf_secret = runtime.csrf.read_cookie(raw_csrf)

        started = False
        # HEAD is GET without the body (RFC 9110 §9.3.2); FastAPI's @app.get routes do not
        # answer it, and link checkers, `curl -I` and `lynx -head` rely on it.
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"
            scope["tiered.head"] = True  # what was asked, for a response that streams (SSE)
        problem: HTTPProblem | None = None
        body: _BodyRead | None = None
        # The connection cannot be kept after a body that is refused unread for its size.
        close = False
        max_body = self._body_limits.get(scope["path"], self._max_body)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                problem = BadRequest(f"Content-Length {length!r} is not a number of bytes.")
                close = True
            elif int(length) > max_body:
                problem = _too_large(max_body)
                close = True
            elif length != "0":
                body = _BodyRead(receive, waits_for_continue=_expects_continue(headers))
                receive = self._timed(body.receive)
        elif "transfer-encoding" in headers:
            body = _BodyRead(receive, waits_for_continue=_expects_continue(headers))
            receive = self._timed(_limited(body.receive, max_body))
        # What reads the rest of a body the app left unread: with the same limit and deadline.
        rest = receive
        drain = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started, drain
            if message["type"] == "http.response.start":
                session = ctx.session
                cookie = None
                if session is not None and session.modified:
                    # Saved once: if the store fails, the error response that follows must not
                    # retry.
                    session.modified = False
                    cookie = await self._save_session(secure, session)
                self._finish_headers(scope, ctx, message, cookie)
                started = True
                if body is not None and not body.complete:
                    drain = body.can_drain(max_body) and not _closes(message)
                if close or (body is not None and not body.complete and not drain):
                    _say_close(message)
            elif message["type"] == "http.response.body":
                if drain and not message.get("more_body", False):
                    drain = False
                    assert body is not None
                    await body.drain(rest)
                if head:
                    message = {**message, "body": b""}
            await send(message)

        try:
            # Inside the try: a session store that is down answers a negotiated error (a store
            # raises ServiceUnavailable for that), never a bare 500.
            raw_session = cookies.get(self._session_cookie_names[secure])
            if raw_session:
                session_id = runtime.session_cookie.read(raw_session)
                if session_id is not None:
                    data = await runtime.sessions.load(session_id)
                    if data is not None:
                        ctx.session = Session(session_id, data)
            if problem is None and scope["method"] in UNSAFE_METHODS and not is_bearer(headers):
                problem, receive = await self._check_csrf(scope, receive, ctx, max_body)
            if problem is not None:
                response = problem_response(Request(scope, receive), ctx, problem)
                await response(scope, receive, send_wrapper)
                return
            dispatch = self._dispatch
            direct = dispatch.match(scope) if dispatch is not None else None
            if dispatch is None or direct is None:
                await self.app(scope, receive, send_wrapper)
            else:
                try:
                    await direct(scope, receive, send_wrapper)
                except Exception as exc:
                    if started:
                        raise
                    await dispatch.handle_error(exc, scope, receive, send_wrapper)
        except HTTPProblem as exc:  # raised outside a framework's handlers, e.g. by receive()
            if started:
                raise
            await problem_response(Request(scope, receive), ctx, exc)(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away while its body was read: nobody is left to answer.
            logger.info("Client disconnected during %s %s", scope["method"], scope["path"])
        except Exception as exc:
            logger.exception(
                "Unhandled error in %s %s (request id %s)",
                scope["method"],
                scope["path"],
                request_id,
                extra={"request_id": request_id},
            )
            if started:
                return
            debug_text = "".join(traceback.format_exception(exc))
            response = problem_response(
                Request(scope, receive), ctx, InternalError(), debug_text=debug_text
            )
            await response(scope, receive, send_wrapper)
        finally:
            if ctx.form is not None:
                await ctx.form.close()  # an upload's temporary file goes with the request

    def _timed(self, receive: Receive) -> Receive:
        """``receive``, until the body is complete within ``body_timeout_seconds`` of now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._body_timeout
        complete = False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:  # waiting for a disconnect after the body is no body read
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"The request body did not arrive within {self._body_timeout:g} seconds.",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        return timed_receive

    async def _check_csrf(
        self, scope: Scope, receive: Receive, ctx: RequestContext, max_body: int
    ) -> tuple[HTTPProblem | None, Receive]:
        headers = ctx.headers
        own_origin = f"{scope['scheme']}://{headers.get('host', '')}"
        reason = check_origin(headers, own_origin, self.runtime.settings.trusted_origins)
        if reason is not None:
            return CsrfFailed(reason, MESSAGES[reason]), receive
        token = headers.get(self._csrf_header)
        if token is None:
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type in _FORM_TYPES:
                body = await _read_body(receive, max_body, functools.partial(_too_large, max_body))
                receive = _replay(body, receive)
                token = await _form_field(scope, body, ctx, CSRF_FIELD)
        reason = self.runtime.csrf.verify(ctx.csrf_secret, token)
        if reason is None or self.runtime.exempts_csrf(scope):
            return None, receive
        if reason != CSRF_TOKEN_MISSING and self.runtime.handles_stale_csrf(scope):
            # The form view re-shows the form with the input kept and a fresh token.
            ctx.csrf_failure = reason
            return None, receive
        return CsrfFailed(reason, MESSAGES[reason]), receive

    def _finish_headers(
        self, scope: Scope, ctx: RequestContext, message: Message, session_cookie: str | None
    ) -> None:
        secure = ctx.secure
        raw_headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        present: set[bytes] = set()
        content_type = b""
        for name, value in raw_headers:
            lowered = name.lower()
            if lowered == b"content-type" and b"content-type" not in present:
                content_type = value
            present.add(lowered)
        if present.isdisjoint(self._static_names):
            raw_headers.extend(self._static_headers)
        else:
            raw_headers.extend(item for item in self._static_headers if item[0] not in present)
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
        if scope["scheme"] == "https" and b"strict-transport-security" not in present:
            raw_headers.append(
                (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
            )
        raw_headers.append((b"x-request-id", ctx.request_id.encode("latin-1")))
        if session_cookie is not None:
            raw_headers.append((b"set-cookie", session_cookie.encode("latin-1")))
        if ctx.csrf_secret_is_new and ctx.csrf_secret is not None:
            signed = self.runtime.csrf.write_cookie(ctx.csrf_secret)
            max_age = self.runtime.settings.session_max_age
            csrf_cookie = f"{self._csrf_cookie_names[secure]}={signed}; Max-Age={max_age}"
            csrf_cookie += _cookie_attributes(secure)
            raw_headers.append((b"set-cookie", csrf_cookie.encode("latin-1")))
        if ctx.set_cookies:
            attributes = _cookie_attributes(secure)
            for cookie, cookie_value, cookie_max_age in ctx.set_cookies:
                set_cookie = (
                    f"{cookie_name(cookie, secure)}={cookie_value}; Max-Age={cookie_max_age}"
                )
                raw_headers.append((b"set-cookie", (set_cookie + attributes).encode("latin-1")))
        message["headers"] = raw_headers

    def _secure(self, scope: Scope) -> bool:
        """Whether this request's cookies are ``Secure`` (and so ``__Host-`` prefixed)."""
        secure = self.runtime.settings.secure_cookies
        return scope["scheme"] == "https" if secure is None else secure

    async def _save_session(self, secure: bool, session: Session) -> str:
        runtime = self.runtime
        settings = runtime.settings
        for old_id in session.previous_ids:
            await runtime.sessions.delete(old_id)
        attributes = _cookie_attributes(secure)
        name = self._session_cookie_names[secure]
        if session.cleared and not len(session):
            return f"{name}=; Max-Age=0{attributes}"
        if session.id is None:
            session.id = SessionCookie.new_id()
        await runtime.sessions.save(session.id, session.data(), settings.session_max_age)
        value = runtime.session_cookie.write(session.id)
        return f"{name}={value}; Max-Age={settings.session_max_age}{attributes}"


def _cookie_attributes(secure: bool) -> str:
    return "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


def _apply_forwarding(scope: Scope, headers: dict[str, str], proxies: TrustedProxies) -> None:
    """Make the scope say what the trusted proxy in front saw: the client's address, the
    scheme and the host it asked for. From any other peer the headers change nothing."""
    peer = scope.get("client")
    seen = forwarded(peer[0] if peer else None, headers, proxies)
    if seen is None:
        return
    if seen.client is not None:
        scope["client"] = (seen.client, 0)
    if seen.scheme is not None:
        scope["scheme"] = seen.scheme
    if seen.host is not None and seen.host != headers.get("host"):
        headers["host"] = seen.host
        raw_host = seen.host.encode("latin-1")
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"].append((b"host", raw_host))


async def _read_body(receive: Receive, limit: int, too_large: Callable[[], HTTPProblem]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive | None = None) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that gives the already-read body once, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            if then is not None:
                return await then()
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit:,} bytes.")


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive``, raising :class:`PayloadTooLarge` once more than ``limit`` bytes arrived."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return limited_receive


async def _form_field(scope: Scope, body: bytes, ctx: RequestContext, name: str) -> str | None:
    """Field ``name`` of the form ``body``, parsed once: the parsed form is kept on ``ctx`` for
    the form view (which would otherwise parse the same body again) and closed after the
    response."""
    form = await read_form(Request(scope, _replay(body)))
    ctx.form = form
    field = form.get(name)
    return field if isinstance(field, str) else None


async def read_form(request: Request) -> FormData:
    """``request.form()``, its failures as problems that say what to change: past one of the
    parser's limits (fields, files, a part's size) :class:`FormTooLarge` (413), else
    :class:`MalformedBody` (400)."""
    try:
        return await request.form()
    except HTTPException as exc:  # Starlette's MultiPartException, as a 400, in an app
        raise _form_problem(str(exc.detail)) from None
    except MultiPartException as exc:  # ... and as itself outside one
        raise _form_problem(exc.message) from None


def _form_problem(message: str) -> HTTPProblem:
    message = message.rstrip(".") + "."
    if any(limit in message for limit in _FORM_LIMITS):
        return FormTooLarge(f"{message} Send fewer fields or files, or smaller ones.")
    return MalformedBody(f"The form body could not be read: {message}")


class _BodyRead:
    """How much of the request's body the app read: all of it, or where it stopped."""

    __slots__ = ("_receive", "complete", "reading", "seen", "started", "waits_for_continue")

    def __init__(self, receive: Receive, *, waits_for_continue: bool) -> None:
        self._receive = receive
        self.complete = False
        """The body's last part arrived, or the client went away: nothing more to read."""
        self.reading = False
        self.started = False
        self.seen = 0
        self.waits_for_continue = waits_for_continue

    async def receive(self) -> Message:
        self.reading = True
        try:
            message = await self._receive()
        finally:
            self.reading = False
        if message["type"] == "http.request":
            self.started = True
            self.seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        else:
            self.complete = True
        return message

    def can_drain(self, limit: int) -> bool:
        """Whether the rest may be read and dropped: not when the client waits for ``100
        Continue`` before it sends any (reading would ask for a body nobody wants), nor past the
        size limit."""
        return not (self.waits_for_continue and not self.started) and self.seen <= limit

    async def drain(self, receive: Receive) -> None:
        """Read and drop the rest, through ``receive`` (the limit and deadline apply)."""
        if self.reading:  # a streaming response listens for the disconnect: it reads the rest
            return
        try:
            while not self.complete:
                await receive()
        except Exception as exc:  # too slow, too large, or gone: the server closes the connection
            logger.info("The rest of a request body was not read (%s)", exc or type(exc).__name__)


def _expects_continue(headers: dict[str, str]) -> bool:
    return headers.get("expect", "").strip().lower() == "100-continue"


def _closes(message: Message) -> bool:
    """Whether a response start already says ``Connection: close`` (a 408 does)."""
    return any(
        name.lower() == b"connection" and value.lower() == b"close"
        for name, value in message["headers"]
    )


def _say_close(message: Message) -> None:
    raw_headers: list[tuple[bytes, bytes]] = message["headers"]
    if not any(name.lower() == b"connection" for name, _ in raw_headers):
        raw_headers.append(_CONNECTION_CLOSE)
