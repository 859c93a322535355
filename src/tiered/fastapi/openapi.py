"""tiered's contribution to the OpenAPI document.

FastAPI documents what it can see in a path operation's signature. A tiered view also answers
HTML, a form reads its body itself (so a re-shown form keeps the raw input), and every error is a
problem document: this module adds those facts to the generated document, once, when it is first
asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

if TYPE_CHECKING:
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
    from tiered.fastapi.views import TIERED_VIEW_ATTRIBUTE, FormSpec

    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", PROBLEM_SCHEMA)
    # Route contexts, so routes of included routers count too, with their prefixes.
    for route in iter_route_contexts(app.routes):
        endpoint = route.endpoint
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
