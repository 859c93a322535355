"""The lean endpoint of a view FastAPI has nothing to solve for, and ``tiered.route``.

:class:`RouteEndpoint` answers a ``@tiered.view`` whose parameters are path and query values, a
``Request`` and the :class:`~tiered.Client` (tiered's direct dispatch picks it:
:mod:`tiered.fastapi.lean`). Everything about the handler is worked out once:

- its path and query parameters become one Pydantic model, compiled once; a request validates
  the raw values in one call (a bad value is tiered's 400 problem, as for any view);
- ``Request`` and :class:`~tiered.Client` parameters are handed over from the request's context;
- negotiation runs before the handler (406 without running it), and the result goes through the
  same render path as every view: page, fragment, JSON (with versions), problems and ``Vary``.

:func:`route` is shorthand for a path operation with ``@tiered.view``; it makes nothing of its
own (the route is FastAPI's, documented by FastAPI, and answered like any view).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, params
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from tiered.asgi.context import SCOPE_KEY, RequestContext
from tiered.asgi.problems import request_problem
from tiered.core.capabilities import Client
from tiered.core.errors import ImproperlyConfigured
from tiered.fastapi.rendering import Downgrade, ViewSpec, negotiate_view, render, render_json
from tiered.fastapi.views import view

H = TypeVar("H", bound=Callable[..., Any])

_SEQUENCES = (list, tuple, set, frozenset, Sequence, Collection)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    """The handler's parameter."""
    key: str
    """Its name in the path or the query string (an alias, if it has one)."""
    location: typing.Literal["path", "query"]
    many: bool
    """Whether it takes every value of a repeated query parameter (``?tag=a&tag=b``)."""


class RouteEndpoint:
    """The ASGI app that answers one view FastAPI has nothing to solve for; everything about the
    handler is precomputed."""

    def __init__(self, func: Callable[..., Any], path: str, spec: ViewSpec) -> None:
        self.func = func
        self.spec = spec
        self._is_async = inspect.iscoroutinefunction(func)
        self.fields, self.model, self._request_names, self._client_names = _read_signature(
            func, path
        )
        self._validator = self.model.__pydantic_validator__ if self.fields else None
        self._path_fields = tuple(f for f in self.fields if f.location == "path")
        self._query_fields = tuple(f for f in self.fields if f.location == "query")
        self._locations = {f.key: f.location for f in self.fields}
        self._single_query_keys = frozenset(f.key for f in self._query_fields if not f.many)
        functools.update_wrapper(self, func)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx: RequestContext = scope[SCOPE_KEY]  # answered only by tiered's own dispatch
        spec = self.spec
        negotiated = negotiate_view(ctx, spec)
        kwargs = self._arguments(scope) if self._validator is not None else {}
        request: Request | None = None
        if self._request_names:
            request = Request(scope, receive)
            for name in self._request_names:
                kwargs[name] = request
        for name in self._client_names:
            kwargs[name] = ctx.client
        if self._is_async:
            result = await self.func(**kwargs)
        else:
            result = await run_in_threadpool(functools.partial(self.func, **kwargs))
        if isinstance(result, Response):
            response = result
        elif negotiated.representation == "json":
            response = render_json(
                ctx, spec, negotiated, result, spec.status, method=scope["method"]
            )
        else:
            if request is None:
                request = Request(scope, receive)
            response = render(request, ctx, spec, negotiated, result, spec.status)
        await response(scope, receive, send)

    def _arguments(self, scope: Scope) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if self._path_fields:
            path_params = scope["path_params"]
            for field in self._path_fields:
                raw[field.key] = path_params[field.key]
        query_string: bytes = scope["query_string"]
        if self._query_fields and query_string:
            pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            for field in self._query_fields:
                if field.many:
                    values = [value for key, value in pairs if key == field.key]
                    if values:
                        raw[field.key] = values
            single = self._single_query_keys
            for key, value in pairs:
                # The last value of a repeated single parameter wins, as in Starlette.
                if key in single:
                    raw[key] = value
        assert self._validator is not None
        try:
            validated = self._validator.validate_python(raw)
        except ValidationError as exc:
            raise request_problem(self._located(exc)) from None
        return dict(validated.__dict__)

    def _located(self, exc: ValidationError) -> list[dict[str, Any]]:
        """Pydantic's errors with where each value came from first, as FastAPI reports them."""
        located: list[dict[str, Any]] = []
        for error in exc.errors(include_url=False):
            key = str(error["loc"][0]) if error["loc"] else ""
            where = self._locations.get(key, "query")
            located.append({**error, "loc": (where, *error["loc"])})
        return located


def route(
    target: FastAPI | APIRouter,
    path: str,
    template: str | None = None,
    *,
    block: str | None = None,
    status: int = 200,
    json: bool = True,
    downgrades: Mapping[str, Downgrade] | None = None,
    methods: Collection[str] = ("GET",),
    name: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Callable[[H], H]:
    """``@target.api_route(path, ...)`` with ``@tiered.view(template, ...)``, in one decorator.

    The handler is returned unchanged, so it can still be called directly.

    Example::

        @tiered.route(app, "/profile/{name}", "profile.html", block="card")
        async def profile(name: str, age: Annotated[int, Field(ge=0)] = 36) -> Profile:
            return Profile(name=name, age=age)
    """
    if template is None and not json:
        raise ImproperlyConfigured("A route needs a template, JSON, or both; got neither.")
    if not isinstance(target, FastAPI | APIRouter):
        raise ImproperlyConfigured(
            f"tiered.route needs a FastAPI app or an APIRouter, not {type(target).__name__}: "
            "tiered's views are FastAPI path operations."
        )

    def decorate(func: H) -> H:
        endpoint = view(template, block=block, status=status, json=json, downgrades=downgrades)(
            func
        )
        target.add_api_route(
            path,
            endpoint,
            methods=list(methods),
            name=name or func.__name__,
            summary=summary,
            description=description,
            tags=list(tags) or None,
            deprecated=deprecated or None,
            include_in_schema=include_in_schema,
            status_code=status,
        )
        return func

    return decorate


def _read_signature(
    func: Callable[..., Any], path: str
) -> tuple[tuple[_Field, ...], type[BaseModel], tuple[str, ...], tuple[str, ...]]:
    """The handler's parameters: one model for the path and query, and who gets what injected."""
    hints = typing.get_type_hints(func, include_extras=True)
    path_names = set(compile_path(path)[2])
    where = func.__qualname__
    fields: list[_Field] = []
    definitions: dict[str, Any] = {}
    request_names: list[str] = []
    client_names: list[str] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ImproperlyConfigured(
                f"{where} takes *{param.name}; a tiered route passes named parameters only, so "
                "list each path and query parameter by name."
            )
        annotation = hints.get(param.name, Any)
        base: Any = annotation
        metadata: tuple[Any, ...] = ()
        if typing.get_origin(annotation) is Annotated:
            base, *rest = typing.get_args(annotation)
            metadata = tuple(rest)
        if isinstance(base, type) and issubclass(base, HTTPConnection):
            request_names.append(param.name)
            continue
        if base is Client:
            client_names.append(param.name)
            continue
        info: object = next(
            (m for m in metadata if isinstance(m, FieldInfo | params.Depends)), None
        )
        if info is None and isinstance(param.default, FieldInfo | params.Depends):
            info = param.default
        in_path = param.name in path_names
        _check_supported(where, param.name, info, in_path)
        default = ... if param.default is inspect.Parameter.empty else param.default
        definitions[param.name] = (annotation, default)
        alias = info.alias if isinstance(info, FieldInfo) else None
        fields.append(
            _Field(
                param.name,
                alias or param.name,
                "path" if in_path else "query",
                not in_path and _is_sequence(base),
            )
        )
    missing = path_names - {f.name for f in fields}
    if missing:
        raise ImproperlyConfigured(
            f"The path {path!r} has the parameter(s) {', '.join(sorted(missing))} that {where} "
            "does not take; add them to its signature (for example `task_id: int`)."
        )
    model = create_model(
        f"{func.__name__}_parameters",
        __config__=ConfigDict(extra="ignore"),
        **definitions,
    )
    return tuple(fields), model, tuple(request_names), tuple(client_names)


def _check_supported(where: str, name: str, info: object, in_path: bool) -> None:
    """Refuse (``ImproperlyConfigured``) what this endpoint does not read; the view is then
    served by the compiled path or by FastAPI (:mod:`tiered.fastapi.lean`)."""
    if isinstance(info, params.Depends):
        raise ImproperlyConfigured(f"{where}({name}=Depends(...)): a dependency to solve.")
    if isinstance(info, params.Param | params.Body) and not isinstance(
        info, params.Query | params.Path
    ):
        raise ImproperlyConfigured(
            f"{where}({name}={type(info).__name__}(...)): neither a path nor a query parameter."
        )
    if isinstance(info, params.Path) and not in_path:
        raise ImproperlyConfigured(
            f"{where}: {name!r} is declared with Path() but the route's path has no {{{name}}}."
        )


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return origin in _SEQUENCES or annotation in _SEQUENCES
