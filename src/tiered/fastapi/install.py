"""``install(app, ...)``: put tiered on a FastAPI (or Starlette) app in one call."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tiered.asgi.accesslog import AccessLogMiddleware
from tiered.asgi.context import context_of
from tiered.asgi.dispatch import DirectDispatch
from tiered.asgi.idempotency import IdempotencyStore
from tiered.asgi.middleware import TieredMiddleware
from tiered.asgi.problems import problem_from_http_exception, problem_response, request_problem
from tiered.asgi.runtime import Runtime, safe_next, static_assets
from tiered.asgi.sessions import SessionStore
from tiered.core.capabilities import CHOICE_COOKIE
from tiered.core.errors import BadRequest, HTTPProblem, NotFound
from tiered.core.useragent import prepare_user_agent_parser
from tiered.fastapi.docs import install_docs
from tiered.fastapi.lean import bypass, direct_endpoint, expand
from tiered.fastapi.openapi import install_openapi
from tiered.flags.runtime import Flags
from tiered.jinja.renderer import Renderer
from tiered.settings import TieredSettings
from tiered.telemetry.endpoints import TelemetryEndpoints
from tiered.telemetry.runtime import Telemetry

_CHOICE_MAX_AGE = 365 * 24 * 3600


def install(
    app: Starlette,
    settings: TieredSettings | None = None,
    *,
    session_store: SessionStore | None = None,
    idempotency_store: IdempotencyStore | None = None,
    flags: Flags | None = None,
    telemetry: Telemetry | None = None,
    fastapi_telemetry: bool = False,
    **setting_overrides: Any,
) -> Runtime:
    """Install tiered on ``app``: middleware, error handlers, static files, tiered's endpoints.

    Settings come from ``settings``, else from ``TIERED_*`` environment variables; keyword
    arguments override single fields (``template_dirs=("templates",)``).

    tiered records each request itself (its access log; ``telemetry``, with OpenTelemetry
    spans when that has a tracer provider), so FastAPI's own OpenTelemetry instrumentation is
    turned off: it asks OpenTelemetry's global providers on every request whether to trace
    (about a fifth of a JSON view's time), and with a global provider set it would record a
    second span beside tiered's. ``fastapi_telemetry=True`` keeps it as the app configured it.

    Example::

        app = FastAPI()
        tiered.install(app, template_dirs=("templates",), secret_key=os.environ["SECRET_KEY"])
    """
    if settings is None:
        settings = TieredSettings.from_environ(**setting_overrides)
    elif setting_overrides:
        settings = settings.replace(**setting_overrides)
    static = static_assets(settings)
    renderer = Renderer(
        settings.template_dirs,
        static,
        debug=settings.debug,
        fragment_cache_entries=settings.fragment_cache_entries,
    )
    runtime = Runtime(
        settings,
        static=static,
        pages=renderer,
        session_store=session_store,
        idempotency_store=idempotency_store,
        flags=flags,
    )
    app.state.tiered = runtime

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPProblem)
        return problem_response(request, context_of(request), exc)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            exc.headers = {**(exc.headers or {}), "Allow": _allowed(app, request)}
        problem = problem_from_http_exception(exc)
        if isinstance(problem, NotFound) and problem.detail is None:
            problem = NotFound(f"There is no page at {request.url.path}.")
        return problem_response(request, context_of(request), problem)

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, context_of(request), _request_problem(exc))

    app.add_exception_handler(HTTPProblem, on_problem)
    app.add_exception_handler(HTTPException, on_http_exception)
    if isinstance(app, FastAPI):
        if not fastapi_telemetry:
            _leave_telemetry_to_tiered(app)
        app.add_exception_handler(RequestValidationError, on_request_validation)
        install_openapi(app)
        install_docs(app, runtime.static)
    dispatch = DirectDispatch(app.router, direct_endpoint, expand=expand, bypass=bypass)
    app.add_middleware(TieredMiddleware, runtime=runtime, dispatch=dispatch)
    # Outermost, so it times tiered's work too; the one place each request is recorded.
    app.add_middleware(AccessLogMiddleware, observer=telemetry)

    prefix = settings.internal_prefix
    if telemetry is not None:
        _install_telemetry(app, runtime, renderer, telemetry, flags)
    _wrap_lifespan(app, flags, telemetry)
    app.router.routes.append(
        Route(f"{settings.static_prefix}/{{path:path}}", runtime.static, methods=["GET", "HEAD"])
    )
    app.router.routes.append(
        Route(f"{prefix}/version", _version_switch, methods=["GET"], name="tiered_version")
    )
    # Read at the time of need, so routes added after install() count too. FastAPI keeps an
    # included router as one entry; its route contexts are the routes with their prefixes.
    if isinstance(app, FastAPI):
        runtime.routes = lambda: list(iter_route_contexts(app.router.routes))  # type: ignore[arg-type]
    else:
        runtime.routes = lambda: app.router.routes
    return runtime


def _leave_telemetry_to_tiered(app: FastAPI) -> None:
    """Turn FastAPI's native OpenTelemetry instrumentation off (see :func:`install`).

    FastAPI takes the settings only as ``FastAPI(telemetry=...)``, and an app is made before
    ``install`` sees it; its instrumentation reads them from the app's settings on each request,
    so they are changed there. A FastAPI without native telemetry has no such settings.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict):
        config.update(tracing=False, metrics=False, logs=False)


def _install_telemetry(
    app: Starlette,
    runtime: Runtime,
    renderer: Renderer,
    telemetry: Telemetry,
    flags: Flags | None,
) -> None:
    endpoints = TelemetryEndpoints(telemetry, runtime.settings.internal_prefix)
    app.router.routes.extend(endpoints.routes())
    # The layout hands these to the bootstrap script (a <meta>), which posts to them.
    renderer.environment.globals["telemetry_urls"] = {
        "beacon": endpoints.beacon_path,
        "report": endpoints.report_path,
    }
    if flags is not None:
        telemetry.watch(flags)
    if telemetry.tracer_provider is not None:
        from tiered.telemetry.tracing import OpenTelemetryMiddleware

        # Outside everything, so the span covers the whole request and is current when the
        # access-log middleware adds tiered's attributes to it.
        app.add_middleware(
            OpenTelemetryMiddleware,
            tracer_provider=telemetry.tracer_provider,
            exclude_spans=["receive", "send"],
        )


def _wrap_lifespan(app: Starlette, flags: Flags | None, telemetry: Telemetry | None) -> None:
    """Around the app's own lifespan: at start, build what the first request would otherwise
    build while the requests behind it wait, and once the app has started, take everything
    alive then out of the cyclic garbage collector's sight; at stop, end tiered's background
    work before the app's own teardown closes the stores that work reads and writes.

    ``gc.freeze()``: what is alive after start (modules, templates, routes, the app's objects)
    lives as long as the app, yet every full collection walked all of it, and a request's
    allocations start collections; with many requests in flight each walked more. It is given
    back (``gc.unfreeze()``) at stop, for a process that makes and stops many apps (tests).

    The start matters for an instance rolled in under load: the User-Agent parser's rules take
    about 0.2 s to compile, and a fresh instance behind nginx answered its first 64 requests
    in up to 1.4 s, and its first three seconds slower than the rest, while it did that on the
    event loop (and imported the Redis client for live updates, which now happens when the bus
    is made)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        prepare_user_agent_parser()
        async with inner(app) as state:
            gc.freeze()
            try:
                yield state
            finally:
                gc.unfreeze()
                if flags is not None:
                    await flags.aclose()  # its background reload, which may hold a connection
                if telemetry is not None:
                    await telemetry.aclose()  # the last second's counts, the store's connections

    app.router.lifespan_context = lifespan


def _request_problem(exc: RequestValidationError) -> HTTPProblem:
    return request_problem(exc.errors())


async def _version_switch(request: Request) -> Response:
    """The "basic version" link: remember the visitor's choice in a cookie and go back."""
    choice = request.query_params.get("choice", "")
    target = safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    if choice in ("basic", "full"):
        response.set_cookie(
            CHOICE_COOKIE,
            choice,
            max_age=_CHOICE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
    elif choice == "auto":
        response.delete_cookie(CHOICE_COOKIE, httponly=True, samesite="lax", secure=secure)
    else:
        raise BadRequest(f"Unknown choice {choice!r}; expected 'basic', 'full' or 'auto'.")
    return response


def _allowed(app: Starlette, request: Request) -> str:
    """``Allow`` for a 405: the methods of every route at this path, not only the first route's
    (a page's GET and its form's POST are often two routes)."""
    root = request.scope.get("root_path", "")
    path = request.scope["path"]
    path = path[len(root) :] if root and path.startswith(root) else path
    methods: set[str] = set()
    for route in iter_route_contexts(app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and route.methods and regex.match(path):
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # tiered answers HEAD wherever GET is answered
    return ", ".join(sorted(methods))
