"""One app's tiered machinery: settings, templates, static files, sessions, CSRF, idempotency.

The layers above this one (the templates, the flags) are reached through what it declares of
them, :class:`Pages` and :class:`FlagSource`; :func:`tiered.install` builds the real ones and
hands them in, so nothing here imports upward.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from starlette.requests import HTTPConnection, Request
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from tiered.asgi.context import Flash, RequestContext
from tiered.asgi.csrf import CsrfTokens
from tiered.asgi.idempotency import IdempotencyStore, MemoryIdempotencyStore
from tiered.asgi.sessions import MemorySessionStore, SessionCookie, SessionStore
from tiered.asgi.static import StaticAssets
from tiered.core.forms import FormState
from tiered.core.negotiation import Representation
from tiered.settings import TieredSettings

FORM_ENDPOINT_ATTRIBUTE = "__tiered_form__"
"""Set on endpoints that re-show their own form when its CSRF token has gone stale."""

CSRF_EXEMPT_ATTRIBUTE = "__tiered_csrf_exempt__"
"""Set (to ``True``) on endpoints that rely on no ambient credential, so they need no CSRF token:
an API token endpoint that reads the email and password from a JSON body and sets no cookie.
The Origin and Fetch Metadata checks still apply to them."""

F = TypeVar("F", bound=Callable[..., Any])


def csrf_exempt(endpoint: F) -> F:
    """Mark an endpoint that relies on no ambient credential, so it needs no CSRF token.

    For an endpoint that reads credentials from the body and sets no cookie (an API token
    endpoint); the Origin and Fetch Metadata checks still apply. Put it above the route
    decorator's function, under ``@app.post``.

    Example::

        @app.post("/api/tokens")
        @tiered.csrf_exempt
        @tiered.form(TokenRequest)
        async def issue_token(data: TokenRequest) -> tiered.Done[Token]: ...
    """
    setattr(endpoint, CSRF_EXEMPT_ATTRIBUTE, True)
    return endpoint


TIERED_STATIC = Path(__file__).resolve().parent.parent / "static"

EMPTY_FORM = FormState()

_DEFAULT_CSP: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


class Pages(Protocol):
    """The app's templates, as the layers below them render with them (error pages, a view's
    page or fragment); :class:`tiered.jinja.renderer.Renderer` is the one tiered builds."""

    def page(self, template: str, context: Mapping[str, Any]) -> str:
        """The whole page ``template`` renders."""
        ...

    def block(self, template: str, block: str, context: Mapping[str, Any]) -> str:
        """One block of ``template``, alone."""
        ...

    def fragment(self, template: str, block: str, context: Mapping[str, Any]) -> str:
        """One block of ``template`` as an enhanced request's answer (with what goes out of
        band beside it)."""
        ...

    def flash_region(self, messages: list[Flash]) -> str:
        """The flash messages, swapped into their region out of band."""
        ...


class FlagSource(Protocol):
    """The app's feature flags, as :func:`tiered.flag` asks them; :class:`tiered.Flags` is the
    one tiered provides."""

    def is_enabled(self, connection: HTTPConnection, key: str) -> bool:
        """Whether flag ``key`` is on for this request."""
        ...


def static_assets(settings: TieredSettings) -> StaticAssets:
    """The app's static files (``settings.static_dirs``), then tiered's own."""
    static_dirs = [Path(d) for d in settings.static_dirs] + [TIERED_STATIC]
    return StaticAssets(static_dirs, settings.static_prefix)


class Runtime:
    """Built once by :func:`tiered.install`; every request reaches it through its context."""

    def __init__(
        self,
        settings: TieredSettings,
        *,
        static: StaticAssets,
        pages: Pages,
        session_store: SessionStore | None = None,
        idempotency_store: IdempotencyStore | None = None,
        flags: FlagSource | None = None,
    ) -> None:
        self.settings = settings
        self.flags = flags
        self.sessions: SessionStore = session_store or MemorySessionStore()
        self.idempotency: IdempotencyStore = idempotency_store or MemoryIdempotencyStore()
        self.session_cookie = SessionCookie(settings.secret_key)
        self.csrf = CsrfTokens(settings.secret_key, settings.csrf_max_age)
        self.static = static
        self.renderer = pages
        self.routes: Callable[[], Sequence[BaseRoute]] = tuple
        csp = {**_DEFAULT_CSP, **settings.content_security_policy}
        # The nonce lets in the page's own scripts and its inline stylesheet (a first visit's,
        # see tiered.asgi.static.StyleBundle), never a style attribute; a placeholder keeps
        # formatting to one str.replace.
        csp["script-src"] = csp["script-src"] + " 'nonce-{nonce}'"
        csp["style-src"] = csp["style-src"] + " 'nonce-{nonce}'"
        self._csp_template = "; ".join(f"{k} {v}" for k, v in csp.items())
        self.csp_for_data = "default-src 'none'; frame-ancestors 'none'"

    def csp_for_html(self, nonce: str) -> str:
        return self._csp_template.replace("{nonce}", nonce)

    def base_context(
        self, request: Request, ctx: RequestContext, representation: Representation
    ) -> dict[str, Any]:
        """What every template sees (see the template contract in the docs)."""
        return {
            "request": request,
            "client": ctx.client,
            "representation": representation,
            "csp_nonce": ctx.nonce,
            "form": EMPTY_FORM,
        }

    def handles_stale_csrf(self, scope: Scope) -> bool:
        """Whether a tiered form view will answer this request (and re-show the form itself)."""
        return self._endpoint_is_marked(scope, FORM_ENDPOINT_ATTRIBUTE)

    def exempts_csrf(self, scope: Scope) -> bool:
        """Whether the endpoint for this request is marked with :data:`CSRF_EXEMPT_ATTRIBUTE`."""
        return self._endpoint_is_marked(scope, CSRF_EXEMPT_ATTRIBUTE)

    def _endpoint_is_marked(self, scope: Scope, attribute: str) -> bool:
        # Only asked when a CSRF token fails, so matching routes costs nothing on the normal path.
        for route in self.routes():
            if not getattr(getattr(route, "endpoint", None), attribute, False):
                continue
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return True
        return False


_SAFE_NEXT = re.compile(r"^/(?!/)[^\s\\]*$")


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (another host, a scheme) becomes ``default``."""
    if value and _SAFE_NEXT.match(value):
        return value
    return default
