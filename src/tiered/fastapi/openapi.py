"""tiered's contribution to the OpenAPI document.

FastAPI documents what it can see in a path operation's signature. A tiered view also answers
HTML, a form reads its body itself (so a re-shown form keeps the raw input), and every error is a
problem document: this module adds those facts to the generated document, once, when it is first
asked for. Routes made with :func:`tiered.route` are not path operations, so FastAPI does not see
them at all; their whole operation is written here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, TypeAdapter

if TYPE_CHECKING:
    from tiered.fastapi.routing import RouteEndpoint
    from tiered.fastapi.views import FormSpec

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document with tiered's stable error code.",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong and how to fix it."},
        "instance": {"type": "string", "description": "The path of the request."},
        "code": {"type": "string", "description": "A stable machine code, like not-found."},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For validation-failed: one entry per invalid field.",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string", "description": "JSON pointer to the member."},
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
    }


def _add_schema(components: dict[str, Any], model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def enrich(document: dict[str, Any], app: FastAPI) -> None:
    """Add HTML responses, form bodies and problem documents to a generated OpenAPI document."""
    from tiered.fastapi.routing import RouteEndpoint
    from tiered.fastapi.views import TIERED_VIEW_ATTRIBUTE, FormSpec

    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", PROBLEM_SCHEMA)
    # Route contexts, so routes of included routers count too, with their prefixes.
    for route in iter_route_contexts(app.routes):
        endpoint = route.endpoint
        if isinstance(endpoint, RouteEndpoint):
            if route.include_in_schema:
                _add_route(document, route, endpoint, components)
            continue
        if not isinstance(route.original_route, APIRoute):
            continue
        spec = getattr(endpoint, TIERED_VIEW_ATTRIBUTE, None)
        if spec is None:
            continue
        for method in route.methods or ():
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's own validation schema; tiered answers problems
            responses["406"] = _problem(
                "No representation the client accepts (or unknown version)."
            )
            if isinstance(spec, FormSpec):
                _enrich_form(operation, responses, spec, components)
            else:
                view_spec = spec
                if view_spec.template is not None:
                    ok = responses.setdefault("200", {"description": "Successful Response"})
                    ok.setdefault("content", {})["text/html"] = {"schema": {"type": "string"}}
                    if not view_spec.json:
                        ok["content"].pop("application/json", None)
            responses.setdefault("400", _problem("The address has a bad parameter value."))


def _enrich_form(
    operation: dict[str, Any], responses: dict[str, Any], spec: FormSpec, components: dict[str, Any]
) -> None:
    if spec.model is not None:
        ref = _add_schema(components, spec.model)
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": ref},
                "application/x-www-form-urlencoded": {"schema": ref},
            },
        }
    if spec.view.annotation is not None:
        ok = responses.pop("200", None) or {"description": "Done"}
        responses["201"] = {
            **ok,
            "description": "Created (when the handler creates a resource); 200 otherwise.",
        }
    responses["303"] = {"description": "Browsers without script: redirect to the next page."}
    responses["403"] = _problem("The CSRF check failed (cookie-authenticated requests only).")
    responses["415"] = _problem("The body's content type is not accepted.")
    responses["422"] = _problem("The input is invalid; `errors` lists each field.")


def _add_route(
    document: dict[str, Any],
    route: RouteContext,
    endpoint: RouteEndpoint,
    components: dict[str, Any],
) -> None:
    path_format = route.path_format or ""
    item = document.setdefault("paths", {}).setdefault(path_format, {})
    for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
        name = route.name or endpoint.func.__name__
        operation = route_operation(endpoint, name, method, path_format, components)
        item[method.lower()] = operation


def route_operation(
    endpoint: RouteEndpoint,
    name: str,
    method: str,
    path_format: str,
    components: dict[str, Any],
) -> dict[str, Any]:
    """The OpenAPI operation of a tiered route, shaped like FastAPI's for a path operation."""
    spec = endpoint.spec
    operation: dict[str, Any] = {}
    if endpoint.tags:
        operation["tags"] = list(endpoint.tags)
    operation["summary"] = endpoint.summary
    if endpoint.description:
        operation["description"] = endpoint.description
    operation["operationId"] = operation_id(name, path_format, method)
    if endpoint.fields:
        schema = endpoint.model.model_json_schema(ref_template=_REF_TEMPLATE)
        for key, definition in schema.pop("$defs", {}).items():
            components.setdefault(key, definition)
        required = set(schema.get("required", ()))
        properties = schema.get("properties", {})
        parameters = []
        for field in endpoint.fields:
            prop = dict(properties.get(field.key, {}))
            parameter: dict[str, Any] = {
                "name": field.key,
                "in": field.location,
                "required": field.location == "path" or field.key in required,
            }
            if "description" in prop:
                parameter["description"] = prop.pop("description")
            parameter["schema"] = prop
            parameters.append(parameter)
        operation["parameters"] = parameters
    content: dict[str, Any] = {}
    if spec.json:
        json_schema = {} if spec.annotation is None else schema_of(spec.annotation, components)
        content["application/json"] = {"schema": json_schema}
    if spec.template is not None:
        content["text/html"] = {"schema": {"type": "string"}}
    operation["responses"] = {
        str(spec.status): {"description": "Successful Response", "content": content},
        "400": _problem("The address has a bad parameter value."),
        "406": _problem("No representation the client accepts (or unknown version)."),
    }
    if endpoint.deprecated:
        operation["deprecated"] = True
    return operation


_REF_TEMPLATE = "#/components/schemas/{model}"


def schema_of(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of ``annotation``, with named models moved to ``components``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _add_schema(components, annotation)
    schema = TypeAdapter(annotation).json_schema(ref_template=_REF_TEMPLATE, mode="serialization")
    for key, definition in schema.pop("$defs", {}).items():
        components.setdefault(key, definition)
    return schema


def operation_id(name: str, path_format: str, method: str) -> str:
    """As FastAPI's default: ``{name}{path}`` with non-word characters as ``_``, then the method."""
    return re.sub(r"\W", "_", f"{name}{path_format}") + f"_{method.lower()}"


def install_openapi(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = original()
        enrich(document, app)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
