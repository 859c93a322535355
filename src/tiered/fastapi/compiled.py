"""A ``@tiered.view`` with FastAPI dependencies, answered without FastAPI's request machinery.

FastAPI solves a path operation's dependencies anew on every request: it walks the dependency
tree, works out each callable's kind and cache key, builds two exit stacks, a ``Response`` for
headers nobody sets, and runs its own exception wrapper around the router's. For a tiered view
that is most of what FastAPI does, and on Taskboard's task list it was an eighth of the request.

This module reads the same tree FastAPI built for the route (its ``Dependant``: so tiered and
FastAPI can never read a parameter differently) once, into a plan of plain nodes, and solves the
plan per request in FastAPI's order with FastAPI's own parameter validation
(``request_params_to_args``) and its ``RequestValidationError``:

- each dependency's own dependencies first, then its path and query parameters; a dependency
  whose parameters do not validate is not called, and every error is reported at once;
- a dependency used twice in a request is called once (``use_cache``, keyed as FastAPI keys it);
- ``async def`` dependencies are awaited, plain ones run in the thread pool; generators (``yield``)
  are entered as context managers on the stack of their scope: ``scope="function"`` closes when
  the handler returns, the default scope after the response is sent; their exits are shielded
  from cancellation, as FastAPI shields them, and an exception in the handler is thrown into them;
- the handler is the view's own endpoint (the function FastAPI would call), so negotiation,
  rendering and errors are the view's one path.

A tree that needs anything else (headers, cookies or a body as parameters, ``Response``,
``BackgroundTasks``, security scopes, a WebSocket, a dependency limited by ``concurrency``, a
callable of an unknown kind) is not compiled: FastAPI serves that route as before. While the app
has ``dependency_overrides`` (tests use them), every route is left to FastAPI, which applies them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from contextlib import contextmanager as sync_contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from fastapi.concurrency import contextmanager_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

Kind = Literal["async", "sync", "async-generator", "generator"]


@dataclass(frozen=True, slots=True)
class _Node:
    """One callable of the tree, and what it takes."""

    call: Callable[..., Any]
    kind: Kind
    name: str | None
    """The parameter of the caller that receives the result (``None``: run for its effect)."""
    cache_key: tuple[Any, ...] | None
    """FastAPI's key for the per-request cache, ``None`` when ``use_cache=False``."""
    function_scope: bool
    request_name: str | None
    path_params: tuple[Any, ...]
    query_params: tuple[Any, ...]
    dependencies: tuple[_Node, ...]


def compile_view(dependant: Dependant, endpoint: Callable[..., Any]) -> CompiledView | None:
    """The ASGI app that serves ``endpoint`` with ``dependant``'s tree solved by tiered, or
    ``None`` when the tree needs something only FastAPI does (see the module docstring)."""
    plan = _plan(dependant, name=None, function_scope=True, top=True)
    if plan is None:
        return None
    return CompiledView(plan, endpoint)


class CompiledView:
    """One view's compiled plan; called as an ASGI app once the route has matched."""

    def __init__(self, plan: _Node, endpoint: Callable[..., Any]) -> None:
        self.plan = plan
        self.endpoint = endpoint
        self._has_generators = _any_generator(plan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if not self._has_generators:
            values = await self._solve_top(request, None, None)
            response = await self.endpoint(**values)
            await response(scope, receive, send)
            return
        async with AsyncExitStack() as request_stack:
            async with AsyncExitStack() as function_stack:
                # What FastAPI leaves there for code that looks (its own security classes do).
                scope["fastapi_inner_astack"] = request_stack
                scope["fastapi_function_astack"] = function_stack
                values = await self._solve_top(request, function_stack, request_stack)
                response = await self.endpoint(**values)
            await response(scope, receive, send)

    async def _solve_top(
        self,
        request: Request,
        function_stack: AsyncExitStack | None,
        request_stack: AsyncExitStack | None,
    ) -> dict[str, Any]:
        errors: list[Any] = []
        values = await _solve(self.plan, request, function_stack, request_stack, {}, errors)
        if errors:
            raise RequestValidationError(errors)
        return values


async def _solve(
    node: _Node,
    request: Request,
    function_stack: AsyncExitStack | None,
    request_stack: AsyncExitStack | None,
    cache: dict[tuple[Any, ...], Any],
    errors: list[Any],
) -> dict[str, Any]:
    """``node``'s arguments: its dependencies' results, its parameters, the request."""
    values: dict[str, Any] = {}
    for sub in node.dependencies:
        key = sub.cache_key
        if key is not None and key in cache:
            solved = cache[key]
        else:
            own_errors: list[Any] = []
            arguments = await _solve(sub, request, function_stack, request_stack, cache, own_errors)
            if own_errors:
                errors.extend(own_errors)
                continue
            solved = await _call(sub, arguments, function_stack, request_stack)
            if key is not None:
                cache[key] = solved
        if sub.name is not None:
            values[sub.name] = solved
    if node.path_params:
        path_values, path_errors = request_params_to_args(node.path_params, request.path_params)
        values.update(path_values)
        errors.extend(path_errors)
    if node.query_params:
        query_values, query_errors = request_params_to_args(node.query_params, request.query_params)
        values.update(query_values)
        errors.extend(query_errors)
    if node.request_name is not None:
        values[node.request_name] = request
    return values


async def _call(
    node: _Node,
    arguments: Mapping[str, Any],
    function_stack: AsyncExitStack | None,
    request_stack: AsyncExitStack | None,
) -> Any:
    kind = node.kind
    if kind == "async":
        return await node.call(**arguments)
    if kind == "sync":
        return await run_in_threadpool(node.call, **arguments)
    stack = function_stack if node.function_scope else request_stack
    assert stack is not None  # a plan with generators is solved with both stacks
    manager: AbstractAsyncContextManager[Any]
    if kind == "async-generator":
        manager = _shielded(asynccontextmanager(node.call)(**arguments))
    else:
        manager = contextmanager_in_threadpool(sync_contextmanager(node.call)(**arguments))
    return await stack.enter_async_context(manager)


@asynccontextmanager
async def _shielded(manager: AbstractAsyncContextManager[Any]) -> Any:
    """``manager``, its exit run to the end even when the request is cancelled meanwhile."""
    value = await manager.__aenter__()
    try:
        yield value
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
    else:
        with anyio.CancelScope(shield=True):
            await manager.__aexit__(None, None, None)


def _plan(
    dependant: Dependant, *, name: str | None, function_scope: bool, top: bool
) -> _Node | None:
    if (
        dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.parent_oauth_scopes
        or getattr(dependant, "concurrency", None) is not None
        or dependant.call is None
    ):
        return None
    # The top is the view's endpoint, an async function tiered wrote (functools.wraps marks it
    # wrapped, so it is not asked).
    kind: Kind | None = "async" if top else _kind(dependant.call)
    if kind is None:
        return None
    dependencies: list[_Node] = []
    for sub in dependant.dependencies:
        node = _plan(sub, name=sub.name, function_scope=sub.scope == "function", top=False)
        if node is None:
            return None
        dependencies.append(node)
    return _Node(
        call=dependant.call,
        kind=kind,
        name=name,
        # FastAPI's key: the callable, its security scopes (none here) and its scope.
        cache_key=(dependant.call, (), dependant.scope or "") if dependant.use_cache else None,
        function_scope=function_scope,
        request_name=dependant.request_param_name,
        path_params=tuple(dependant.path_params),
        query_params=tuple(dependant.query_params),
        dependencies=tuple(dependencies),
    )


def _kind(call: Callable[..., Any]) -> Kind | None:
    """What calling ``call`` gives, for a plain function; ``None`` for anything else (a class, an
    instance with ``__call__``, a partial, a decorated function), whose kind FastAPI works out
    by rules of its own: those trees stay FastAPI's."""
    if not inspect.isfunction(call) or hasattr(call, "__wrapped__"):
        return None
    if inspect.isasyncgenfunction(call):
        return "async-generator"
    if inspect.isgeneratorfunction(call):
        return "generator"
    if inspect.iscoroutinefunction(call):
        return "async"
    return "sync"


def _any_generator(node: _Node) -> bool:
    return node.kind in ("async-generator", "generator") or any(
        _any_generator(sub) for sub in node.dependencies
    )
