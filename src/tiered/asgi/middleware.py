"""The one pure-ASGI middleware tiered puts in front of an app.

For each HTTP request, once: read the headers and cookies into a
:class:`~tiered.core.capabilities.Client` (tier and reasons), load the session, enforce the body
size limit and CSRF, then let the app run; on the way out add the security headers, the request
id and the session cookie. An unexpected exception becomes a negotiated 500 with the request id,
logged here, so no stack trace reaches a client.

Its parts are units of their own, called from this one pass: the body's reading, limits and
draining (:mod:`tiered.asgi.bodies`), the response's security headers
(:mod:`tiered.asgi.headers`), the session's store and cookie (:mod:`tiered.asgi.sessions`),
CSRF's token and origin checks (:mod:`tiered.asgi.csrf`), and the direct dispatch of views
(:mod:`tiered.asgi.dispatch`); idempotency is a unit the form view calls
(:mod:`tiered.asgi.idempotency`).

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

import functools
import logging
import random
import re
import traceback

from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.asgi.bodies import (
    FORM_TYPES,
    BodyRead,
    expects_continue,
    form_field,
    limited,
    read_body,
    replay,
    timed,
    too_large,
)
from tiered.asgi.context import SCOPE_KEY, RequestContext
from tiered.asgi.cookies import cookie_name, set_cookie_header
from tiered.asgi.csrf import (
    CSRF_FIELD,
    CSRF_TOKEN_MISSING,
    MESSAGES,
    UNSAFE_METHODS,
    check_origin,
    is_bearer,
)
from tiered.asgi.dispatch import DirectDispatch
from tiered.asgi.headers import SecurityHeaders, closes, say_close
from tiered.asgi.problems import problem_response
from tiered.asgi.runtime import Runtime
from tiered.asgi.sessions import Session, SessionCookie
from tiered.core.capabilities import read_client
from tiered.core.errors import (
    BadRequest,
    CsrfFailed,
    HTTPProblem,
    InternalError,
)
from tiered.core.forwarding import TrustedProxies, forwarded

logger = logging.getLogger("tiered")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A request id is no secret (a client may send its own), so it need not cost a system call for
# randomness (~1 µs) on every request; this generator is seeded from the OS once.
_request_ids = random.Random()  # noqa: S311


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
        # The HTML policy with a NUL where the response's nonce goes.
        self._security = SecurityHeaders(runtime.csp_for_html("\x00"), runtime.csp_for_data)

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
        body: BodyRead | None = None
        # The connection cannot be kept after a body that is refused unread for its size.
        close = False
        max_body = self._body_limits.get(scope["path"], self._max_body)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                problem = BadRequest(f"Content-Length {length!r} is not a number of bytes.")
                close = True
            elif int(length) > max_body:
                problem = too_large(max_body)
                close = True
            elif length != "0":
                body = BodyRead(receive, waits_for_continue=expects_continue(headers))
                receive = timed(body.receive, self._body_timeout)
        elif "transfer-encoding" in headers:
            body = BodyRead(receive, waits_for_continue=expects_continue(headers))
            receive = timed(limited(body.receive, max_body), self._body_timeout)
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
                    drain = body.can_drain(max_body) and not closes(message)
                if close or (body is not None and not body.complete and not drain):
                    say_close(message)
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
            if content_type in FORM_TYPES:
                body = await read_body(receive, max_body, functools.partial(too_large, max_body))
                receive = replay(body, receive)
                token = await form_field(scope, body, ctx, CSRF_FIELD)
        reason = self.runtime.csrf.verify(ctx.csrf_secret, token)
        if reason is None or self.runtime.exempts_csrf(scope):
            return None, receive
        if reason != CSRF_TOKEN_MISSING and self.runtime.handles_stale_csrf(scope):
            # The form view re-shows the form with the input kept and a fresh token.
            ctx.csrf_failure = reason
            return None, receive
        return CsrfFailed(reason, MESSAGES[reason]), receive

    def _finish_headers(
        self,
        scope: Scope,
        ctx: RequestContext,
        message: Message,
        session_cookie: tuple[bytes, bytes] | None,
    ) -> None:
        """The security headers and request id, then this response's cookies."""
        secure = ctx.secure
        raw_headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        self._security.add(raw_headers, ctx, https=scope["scheme"] == "https")
        if session_cookie is not None:
            raw_headers.append(session_cookie)
        runtime = self.runtime
        if ctx.csrf_secret_is_new and ctx.csrf_secret is not None:
            raw_headers.append(
                runtime.csrf.cookie_header(
                    runtime.settings.csrf_cookie,
                    ctx.csrf_secret,
                    runtime.settings.session_max_age,
                    secure,
                )
            )
        if ctx.set_cookies:
            for cookie, cookie_value, cookie_max_age in ctx.set_cookies:
                raw_headers.append(set_cookie_header(cookie, cookie_value, cookie_max_age, secure))
        message["headers"] = raw_headers

    def _secure(self, scope: Scope) -> bool:
        """Whether this request's cookies are ``Secure`` (and so ``__Host-`` prefixed)."""
        secure = self.runtime.settings.secure_cookies
        return scope["scheme"] == "https" if secure is None else secure

    async def _save_session(self, secure: bool, session: Session) -> tuple[bytes, bytes]:
        """Store the session (or forget it) and return its ``Set-Cookie``."""
        runtime = self.runtime
        settings = runtime.settings
        for old_id in session.previous_ids:
            await runtime.sessions.delete(old_id)
        if session.cleared and not len(session):
            return set_cookie_header(settings.session_cookie, "", 0, secure)
        if session.id is None:
            session.id = SessionCookie.new_id()
        await runtime.sessions.save(session.id, session.data(), settings.session_max_age)
        return runtime.session_cookie.header(
            settings.session_cookie, session.id, settings.session_max_age, secure
        )


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
