"""Direct dispatch: tiered's middleware answers a request itself when a tiered endpoint would.

Inside a FastAPI app every request passes, after tiered's middleware, through FastAPI's exception
middleware, its exit-stack middleware and its router, which tries the docs routes and then the
app's routes in order. For an endpoint tiered serves without FastAPI's help (see
``tiered.fastapi.lean``) none of that is needed, so the middleware finds the route itself and
calls the endpoint. What a client sees does not change:

- precedence: the route the router would choose is found the router's way (the first full match
  in the app's order wins), so an earlier route with the same path still answers; a method
  mismatch, a miss, a mount or an included router is left to the router (405, 404, redirects);
- errors: an exception from the endpoint goes through the app's own ``ExceptionMiddleware``
  (the same handlers, sync ones in the thread pool), entered only when there is an error, so
  the common path pays nothing for it; one the app does not handle reaches tiered's 500 as
  before. (After the response has started, the exception is re-raised as is: the client's
  response is cut short either way.)
- included routers: the fastapi layer hands over the app's routes as FastAPI's router tries
  them (``expand``), an included router's routes in its place and with its prefix, so a view of
  an ``APIRouter`` is found the same way, after the same routes;
- nothing the app added is skipped: direct dispatch is on only when the stack below tiered's
  middleware is exactly the exception middleware (and FastAPI's exit stack, which only closes
  files FastAPI's own request parsing opened) over the router, without middleware of the
  router's own, and not while FastAPI's native telemetry follows the request (its router names
  the route on the span).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeGuard

from starlette._utils import get_route_path
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

DirectEndpoint = Callable[[Any], ASGIApp | None]
"""What tiered answers for a route itself (an ASGI app), or ``None`` to leave it to the router."""

Expand = Callable[[Sequence[BaseRoute]], Iterable[Any]]
"""The routes as the router tries them, one entry each (see :class:`MatchedRoute`)."""


class MatchedRoute(Protocol):
    """What dispatch needs of a route entry: the ``Route``-like way to match it.

    ``plain`` says its regex and methods decide a match, as for a plain ``Route``.
    """

    path: str
    path_regex: re.Pattern[str]
    param_convertors: dict[str, Any]
    plain: bool

    def matches(self, scope: Scope) -> tuple[Match, Scope]: ...


# Below tiered's middleware, only this may stand between the exception middleware and the router:
# it runs no code of the app's, and closes only files FastAPI's own request parsing opened.
_PASS_THROUGH = frozenset({"fastapi.middleware.asyncexitstack.AsyncExitStackMiddleware"})


class _Candidate:
    """A route tiered answers, and what the routes before it need to be asked."""

    __slots__ = ("earlier", "endpoint", "index", "others", "route", "source", "static_paths")

    def __init__(
        self,
        index: int,
        source: BaseRoute,
        route: Any,
        endpoint: ASGIApp,
        earlier: Sequence[Any],
    ) -> None:
        self.index = index
        self.source = source
        """The app's route this entry comes from (itself, or the router that includes it)."""
        self.route = route
        self.endpoint = endpoint
        self.earlier = tuple(earlier)
        # A plain route without parameters matches one path exactly; a set of those paths rules
        # them all out at once. Other plain routes are ruled out by their regex; the rest (mounts,
        # included routers, hosts) are asked.
        static_paths: set[str] = set()
        others: list[tuple[Any, re.Pattern[str] | None]] = []
        for other in self.earlier:
            if not _matches_by_regex(other):
                others.append((other, None))
            elif other.param_convertors:
                others.append((other, other.path_regex))
            else:
                static_paths.add(other.path)
        self.static_paths = frozenset(static_paths)
        self.others = tuple(others)


class DirectDispatch:
    """Which requests tiered's middleware answers itself (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        direct_endpoint: DirectEndpoint,
        *,
        expand: Expand | None = None,
        bypass: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.router = router
        self._direct_endpoint = direct_endpoint
        self._expand = expand
        self._bypass = bypass
        self._handling: ExceptionMiddleware | None = None
        self._seen: Sequence[BaseRoute] | None = None
        self._seen_count = -1
        self._candidates: tuple[_Candidate, ...] = ()

    def bind(self, below: ASGIApp) -> bool:
        """Dispatch directly under a middleware whose inner app is ``below``, if that is safe."""
        if not isinstance(below, ExceptionMiddleware):
            return False
        inner: object = below.app
        while _qualified_name(inner) in _PASS_THROUGH:
            inner = getattr(inner, "app", None)
        router = self.router
        if inner is not router or router.middleware_stack != router.app:
            return False
        self._handling = below
        return True

    def match(self, scope: Scope) -> ASGIApp | None:
        """The endpoint that answers this HTTP request directly, or ``None`` for the router.

        On a match, the scope is updated as the router would have updated it.
        """
        if self._handling is None or scope.get("fastapi.telemetry") is not None:
            return None
        routes = self.router.routes
        if routes is not self._seen or len(routes) != self._seen_count:
            self._prepare(routes)
        if not self._candidates or (self._bypass is not None and self._bypass(scope)):
            return None
        route_path = get_route_path(scope)
        for candidate in self._candidates:
            route = candidate.route
            # The route's path regex decides a miss; matches() is asked only when it may match.
            if route.path_regex.match(route_path) is None:
                continue
            match, child_scope = route.matches(scope)
            if match is not Match.FULL:
                continue
            if routes[candidate.index] is not candidate.source:  # replaced since it was prepared
                self._prepare(routes)
                return self.match(scope)
            # Would the router choose an earlier route? Then it answers, as before.
            if route_path in candidate.static_paths:
                if any(r.matches(scope)[0] is Match.FULL for r in candidate.earlier):
                    return None
            else:
                for other, regex in candidate.others:
                    if regex is not None and regex.match(route_path) is None:
                        continue
                    if other.matches(scope)[0] is Match.FULL:
                        return None
            if "router" not in scope:
                scope["router"] = self.router
            scope.update(child_scope)
            return candidate.endpoint
        return None

    async def handle_error(
        self, exc: Exception, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer ``exc`` from a directly dispatched endpoint as the app's exception middleware
        would have (re-raising what it does not handle)."""
        assert self._handling is not None

        async def fail(scope: Scope, receive: Receive, send: Send) -> None:
            raise exc

        # A shallow copy shares the app's handler tables; only what it wraps differs.
        handling = copy.copy(self._handling)
        handling.app = fail
        await handling(scope, receive, send)

    def _prepare(self, routes: Sequence[BaseRoute]) -> None:
        """Find the routes tiered answers itself; done again whenever the route list changes."""
        candidates: list[_Candidate] = []
        earlier: list[Any] = []
        for index, source in enumerate(routes):
            entries = [source] if self._expand is None else list(self._expand([source]))
            for route in entries:
                endpoint = self._direct_endpoint(route) if _matches_by_regex(route) else None
                if endpoint is None:
                    earlier.append(route)
                    continue
                # Earlier candidates need no second look: they were tried first and did not match.
                candidates.append(_Candidate(index, source, route, endpoint, earlier))
        self._candidates = tuple(candidates)
        self._seen = routes
        self._seen_count = len(routes)


def _is_plain(route: object) -> TypeGuard[Route]:
    """A ``Route`` that matches the path by its regex alone (no ``matches`` of its own)."""
    return isinstance(route, Route) and type(route).matches is Route.matches


def _matches_by_regex(route: object) -> TypeGuard[MatchedRoute]:
    """A plain ``Route``, or an entry that says it matches as one does."""
    return _is_plain(route) or getattr(route, "plain", False) is True


def _qualified_name(app: object) -> str:
    cls = type(app)
    return f"{cls.__module__}.{cls.__qualname__}"
