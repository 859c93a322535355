"""The per-request state tiered keeps in the ASGI scope, and the accessors apps use to reach it."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import HTTPConnection

from tiered.asgi.cookies import cookie_name
from tiered.asgi.sessions import Session
from tiered.core.capabilities import Client
from tiered.core.errors import ImproperlyConfigured
from tiered.core.negotiation import Representation, effective_accept
from tiered.core.versions import ApiVersion

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from tiered.asgi.runtime import Runtime

SCOPE_KEY = "tiered"
"""Where the :class:`RequestContext` lives in the ASGI scope."""

FlashLevel = Literal["info", "success", "warning", "error"]
_FLASH_KEY = "_flash"


class RequestContext:
    """Everything tiered worked out about one request, computed once by the middleware."""

    __slots__ = (
        "_csrf_token",
        "_form_key_prefix",
        "_form_keys",
        "_nonce",
        "client",
        "cookies",
        "csrf_failure",
        "csrf_secret",
        "csrf_secret_is_new",
        "flag_context",
        "flag_values",
        "form",
        "headers",
        "json_version",
        "representation",
        "request_id",
        "runtime",
        "secure",
        "session",
        "set_cookies",
    )

    def __init__(
        self,
        runtime: Runtime,
        client: Client,
        headers: dict[str, str],
        cookies: dict[str, str],
        request_id: str,
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.headers = headers
        self.cookies = cookies
        self.request_id = request_id
        self.secure = False
        """Whether this request's cookies are ``Secure`` and named with ``__Host-``."""
        self.set_cookies: list[tuple[str, str, int]] | None = None
        """Cookies the app set with :func:`set_cookie`: (name, value, max age)."""
        self.session: Session | None = None
        self.json_version: ApiVersion | None = None
        """The JSON version chosen for this response (when the app versions its JSON)."""
        self.representation: Representation | None = None
        """What tiered sent: set where a page, fragment, JSON or problem is rendered, so
        telemetry counts what the client got; ``None`` for a response the app built itself."""
        self.csrf_failure: str | None = None
        self.form: FormData | None = None
        """The form body, parsed once (by the CSRF check when it needed the token from the body,
        else by the form view) and closed, its uploads deleted, after the response."""
        self.csrf_secret: str | None = None
        self.csrf_secret_is_new = False
        self.flag_values: dict[str, bool] | None = None
        self.flag_context: tuple[str | None, Any] | None = None
        self._csrf_token: str | None = None
        self._form_key_prefix: str | None = None
        self._form_keys = 0
        self._nonce: str | None = None

    @property
    def accept(self) -> str | None:
        """The ``Accept`` that negotiation reads: a JSON body with no preference is answered in
        JSON (:func:`tiered.core.negotiation.effective_accept`)."""
        return effective_accept(self.headers.get("accept"), self.headers.get("content-type"))

    @property
    def nonce(self) -> str:
        """This response's CSP nonce, made on first use."""
        if self._nonce is None:
            self._nonce = secrets.token_urlsafe(16)
        return self._nonce

    @property
    def has_nonce(self) -> bool:
        return self._nonce is not None

    def get_session(self) -> Session:
        """The visitor's session, started (and given a cookie) when first written."""
        if self.session is None:
            self.session = Session()
        return self.session

    def csrf_token(self) -> str:
        """This response's CSRF token; the visitor gets a CSRF secret (and its cookie) on first use.

        One token serves every form of a response (a list page has one per row): each response
        still gets a new random one, which is what keeps compression from leaking the secret.
        """
        if self._csrf_token is None:
            if self.csrf_secret is None:
                self.csrf_secret = self.runtime.csrf.new_secret()
                self.csrf_secret_is_new = True
            self._csrf_token = self.runtime.csrf.issue(self.csrf_secret)
        return self._csrf_token

    def form_key(self) -> str:
        """A new idempotency key for one form of this response.

        A random prefix made once per response, then the form's number: every form gets a key
        of its own (a list page has a form per row, and toggling one row must never look like a
        replay of another) without asking the system for randomness once per form. Keys are
        scoped by the visitor's secret when stored, so they need to be unique, not secret.
        """
        if self._form_key_prefix is None:
            self._form_key_prefix = secrets.token_hex(12)
        self._form_keys += 1
        return f"{self._form_key_prefix}{self._form_keys:08x}"

    def visitor_key(self) -> str:
        """A stable, anonymous key for this browser (from its CSRF secret, made if missing)."""
        if self.csrf_secret is None:
            self.csrf_secret = self.runtime.csrf.new_secret()
            self.csrf_secret_is_new = True
        return "visitor:" + hashlib.sha256(self.csrf_secret.encode()).hexdigest()[:32]

    def flash(self, message: str, level: FlashLevel = "success") -> None:
        session = self.get_session()
        messages = list(session.get(_FLASH_KEY, []))
        messages.append([level, message])
        session[_FLASH_KEY] = messages

    def pop_flashes(self) -> list[Flash]:
        session = self.session
        if session is None or _FLASH_KEY not in session:
            return []
        raw = session.pop(_FLASH_KEY)
        return [Flash(str(level), str(message)) for level, message in raw]

    def has_flashes(self) -> bool:
        return self.session is not None and bool(self.session.get(_FLASH_KEY))

    def idempotency_scope(self) -> str:
        """Who a submission belongs to, so one visitor's key cannot replay another's result."""
        auth = self.headers.get("authorization")
        if auth:
            return "token:" + hashlib.sha256(auth.encode("latin-1")).hexdigest()[:32]
        if self.csrf_secret is not None:
            # Stable for the browser even when its first submission starts its session.
            return self.visitor_key()
        session = self.session
        if session is not None and session.id is not None:
            return "session:" + session.id
        return "anonymous"


class Flash:
    """A one-time message shown on the next page, in the ``role="status"`` region."""

    __slots__ = ("level", "message")

    def __init__(self, level: str, message: str) -> None:
        self.level = level
        self.message = message

    def __repr__(self) -> str:
        return f"Flash({self.level!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Flash) and (self.level, self.message) == (
            other.level,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.level, self.message))


def context_of(connection: HTTPConnection | dict[str, Any]) -> RequestContext:
    scope = connection if isinstance(connection, dict) else connection.scope
    try:
        ctx: RequestContext = scope[SCOPE_KEY]
    except KeyError:
        raise ImproperlyConfigured(
            "tiered is not installed on this app: call tiered.install(app, ...) before serving."
        ) from None
    return ctx


def client_of(connection: HTTPConnection) -> Client:
    """The :class:`~tiered.core.capabilities.Client` of a request.

    Example::

        if client_of(request).tier == "core": ...
    """
    return context_of(connection).client


def session_of(connection: HTTPConnection) -> Session:
    """The visitor's session (see :mod:`tiered.asgi.sessions`)."""
    return context_of(connection).get_session()


def flash(connection: HTTPConnection, message: str, level: FlashLevel = "success") -> None:
    """Queue a one-time message for the next page the visitor sees.

    Example::

        flash(request, "Task created.")
    """
    context_of(connection).flash(message, level)


def get_cookie(connection: HTTPConnection, name: str) -> str | None:
    """A cookie the app set with :func:`set_cookie` (``__Host-`` prefixed over https)."""
    ctx = context_of(connection)
    return ctx.cookies.get(cookie_name(name, ctx.secure))


def set_cookie(connection: HTTPConnection, name: str, value: str, max_age: int) -> None:
    """Set a cookie on this request's response the way tiered sets its own: HttpOnly,
    SameSite=Lax, ``Path=/``, and over https ``Secure`` with the ``__Host-`` prefix. A
    ``max_age`` of 0 removes it.

    Example::

        set_cookie(request, "device", signed_value, max_age=365 * 24 * 3600)
    """
    ctx = context_of(connection)
    if ctx.set_cookies is None:
        ctx.set_cookies = []
    ctx.set_cookies.append((name, value, max_age))
