"""The routes tiered answers itself, without FastAPI's path-operation machinery.

A FastAPI path operation spends most of its time on what a tiered view does not need: a request
object and two exit stacks per request, dependency solving, and its own exception wrapper. Two
kinds of route can be answered by a :class:`~tiered.fastapi.routing.RouteEndpoint` instead,
through tiered's direct dispatch (:mod:`tiered.asgi.dispatch`):

- a ``tiered.route``: its endpoint already is one;
- a ``@tiered.view`` path operation FastAPI has nothing to do for: its parameters are path and
  query parameters (read from the same names and validated against the same annotations), a
  ``Request`` and the :class:`~tiered.Client`, with no other dependency, header, cookie or body,
  on a plain ``APIRoute`` (a custom route class may do more per request, so it keeps it).

Anything else (``@tiered.form``, a view with ``Depends``, a route of an included router) is left
to FastAPI's router, as before. Either way the OpenAPI document is FastAPI's, from the routes.
"""

from __future__ import annotations

import typing
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, PydanticUserError
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from tiered.core.errors import ImproperlyConfigured
from tiered.fastapi.rendering import ViewSpec
from tiered.fastapi.routing import RouteEndpoint, TieredRoute
from tiered.fastapi.views import TIERED_VIEW_ATTRIBUTE, VIEW_HANDLER_ATTRIBUTE, client_dependency


def direct_endpoint(route: BaseRoute) -> ASGIApp | None:
    """The ASGI app that answers ``route`` without FastAPI, or ``None`` to leave it to FastAPI."""
    if type(route) is TieredRoute:
        return route.endpoint
    if type(route) is APIRoute:
        return _lean_view(route)
    return None


def _lean_view(route: APIRoute) -> RouteEndpoint | None:
    endpoint = route.endpoint
    spec = getattr(endpoint, TIERED_VIEW_ATTRIBUTE, None)
    handler = getattr(endpoint, VIEW_HANDLER_ATTRIBUTE, None)
    if not isinstance(spec, ViewSpec) or handler is None:
        return None
    dependant = route.dependant
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
        lean = RouteEndpoint(handler, route.path, spec)
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
