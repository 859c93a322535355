"""The routes tiered answers itself, without FastAPI's path-operation machinery.

A FastAPI path operation spends most of its time on what a tiered view does not need: a request
object and two exit stacks per request, dependency solving, and its own exception wrapper. Tiered's
direct dispatch (:mod:`tiered.asgi.dispatch`) answers these routes itself, found the router's way
among the app's routes as FastAPI's router tries them (an included ``APIRouter``'s routes in its
place, with its prefix: :func:`expand`):

- a ``@tiered.view`` or ``@tiered.form`` path operation on a plain ``APIRoute`` (a custom route
  class may do more per request, so it keeps it). A view with nothing for FastAPI to do (path
  and query parameters, a ``Request``, the :class:`~tiered.Client`) is a
  :class:`~tiered.fastapi.routing.RouteEndpoint`; a view with dependencies, and every form (it
  reads its body itself), has its dependency tree compiled by :mod:`tiered.fastapi.compiled`,
  when every part of it is one that module solves.

Anything else (a tree with a header or a security scope, a route with a body limit of its own,
a plain path operation, a route of a mount) is left to FastAPI's router, as before. Either way
the OpenAPI document is FastAPI's, from the routes.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, PydanticUserError
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Scope

from tiered.core.errors import ImproperlyConfigured
from tiered.fastapi.compiled import compile_view
from tiered.fastapi.rendering import ViewSpec
from tiered.fastapi.routing import RouteEndpoint
from tiered.fastapi.views import (
    TIERED_VIEW_ATTRIBUTE,
    VIEW_HANDLER_ATTRIBUTE,
    FormSpec,
    client_dependency,
)


@dataclass(eq=False, slots=True)
class ViewEntry:
    """A tiered view's ``APIRoute`` as FastAPI's router tries it, with what answers it.

    ``path`` and the rest are the route's as included (its router's prefix in front); it matches
    as a plain route does (the regex, then the methods: a method it lacks is a partial match).
    """

    route: APIRoute
    path: str
    path_regex: re.Pattern[str]
    param_convertors: dict[str, Any]
    methods: frozenset[str]
    app: ASGIApp
    plain: ClassVar[bool] = True

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        found = self.path_regex.match(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        path_params = dict(scope.get("path_params", {}))
        for key, value in found.groupdict().items():
            path_params[key] = self.param_convertors[key].convert(value)
        child_scope = {"endpoint": self.route.endpoint, "path_params": path_params}
        if self.methods and scope["method"] not in self.methods:
            return Match.PARTIAL, child_scope
        child_scope["route"] = self.route
        return Match.FULL, child_scope


def expand(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """``routes`` as FastAPI's router tries them: a tiered view as a :class:`ViewEntry`, another
    route as itself (or, inside an included router, as FastAPI's context for it)."""
    for context in iter_route_contexts(routes):
        original = context.original_route
        if type(original) is APIRoute:
            entry = _view_entry(original, context)
            if entry is not None:
                yield entry
                continue
        top_level = getattr(context, "path_regex", None) is getattr(original, "path_regex", None)
        yield original if top_level else context


def bypass(scope: Scope) -> bool:
    """While the app has dependency overrides, only FastAPI's own solving applies them."""
    return bool(getattr(scope.get("app"), "dependency_overrides", None))


def direct_endpoint(route: Any) -> ASGIApp | None:
    """The ASGI app that answers ``route`` without FastAPI, or ``None`` to leave it to FastAPI."""
    if isinstance(route, ViewEntry):
        return route.app
    return None


def _view_entry(route: APIRoute, context: Any) -> ViewEntry | None:
    endpoint = route.endpoint
    spec = getattr(endpoint, TIERED_VIEW_ATTRIBUTE, None)
    path: str = context.path
    dependant: Dependant = context.dependant
    app: ASGIApp | None = None
    if isinstance(spec, ViewSpec):
        handler = getattr(endpoint, VIEW_HANDLER_ATTRIBUTE, None)
        if handler is None:
            return None
        app = _lean_view(handler, path, spec, dependant)
    elif not isinstance(spec, FormSpec) or getattr(context, "max_body_size", None) is not None:
        # A form reads its body itself, within tiered's body limit; a route with a body limit of
        # its own keeps FastAPI, which applies it.
        return None
    if app is None:
        compiled = compile_view(dependant, endpoint)
        if compiled is None:
            return None
        app = compiled
    return ViewEntry(
        route=route,
        path=path,
        path_regex=context.path_regex,
        param_convertors=dict(context.param_convertors),
        methods=frozenset(context.methods or ()),
        app=app,
    )


def _lean_view(
    handler: Callable[..., Any], path: str, spec: ViewSpec, dependant: Dependant
) -> RouteEndpoint | None:
    """The view as a :class:`RouteEndpoint` when FastAPI has nothing to solve for it."""
    if (
        dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or any(
            sub.call is not client_dependency or sub.dependencies for sub in dependant.dependencies
        )
    ):
        return None
    try:
        lean = RouteEndpoint(handler, path, spec)
    except (ImproperlyConfigured, PydanticUserError, TypeError):
        return None  # what tiered cannot compile, FastAPI serves as before
    # FastAPI and the lean endpoint must read each value from the same place under the same name.
    theirs = {("path", field.alias) for field in dependant.path_params} | {
        ("query", field.alias) for field in dependant.query_params
    }
    ours = {(field.location, field.key) for field in lean.fields}
    if theirs != ours:
        return None
    for field in (*dependant.path_params, *dependant.query_params):
        # A model read from the query (FastAPI's query parameter models) or a validation alias
        # is read differently by FastAPI; leave those views to it.
        if field.field_info.validation_alias not in (None, field.alias) or _holds_model(
            field.field_info.annotation
        ):
            return None
    return lean


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(argument) for argument in typing.get_args(annotation))
