"""tiered's contribution to the OpenAPI document.

FastAPI documents what it can see in a path operation's signature. A tiered view also answers
HTML, a form reads its body itself (so a re-shown form keeps the raw input), and every error is a
problem document (or, for a browser, an HTML page): this module adds those facts to the generated
document, once, when it is first asked for, so that the document lists every status an operation
really answers with, and what each looks like.

The statuses come from three places: tiered's own (400 and 406 for every view; 303, 403, 408, 409,
413, 415 and 422 for a form; 304 with an ``etag``), the problems a handler or any of its
dependencies is declared to raise (:func:`raises`), and FastAPI's ``responses=`` on the app, a
router or a route, whose errors are given the problem document's shape here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.datastructures import UploadFile

from tiered.core.errors import (
    BadRequest,
    CsrfFailed,
    FormTooLarge,
    HTTPProblem,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    NotAcceptable,
    RequestTimeout,
    UnknownVersion,
    UnsupportedMediaType,
    ValidationFailed,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tiered.fastapi.rendering import ViewSpec
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
_HTML = {"schema": {"type": "string"}}
_HTML_ONLY = {"text/html": _HTML}
_NULL = {"type": "null"}
RAISES_ATTRIBUTE = "__tiered_raises__"

_Callable = TypeVar("_Callable", bound=Callable[..., Any])

_VIEW_PROBLEMS: tuple[type[HTTPProblem], ...] = (BadRequest, NotAcceptable, UnknownVersion)
"""What tiered itself may answer any view with: a parameter it cannot read, nothing acceptable."""
_FORM_PROBLEMS: tuple[type[HTTPProblem], ...] = (
    CsrfFailed,
    RequestTimeout,
    IdempotencyKeyInFlight,
    FormTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    IdempotencyKeyReused,
)
"""...and any form: the CSRF check, a body too slow or too big, a key in flight or reused, a body
of a type it does not read, invalid input."""


def raises(*problems: type[HTTPProblem]) -> Callable[[_Callable], _Callable]:
    """Declare the problems a handler or a dependency raises, for the OpenAPI document.

    Each operation lists, under its status, every problem its handler and the dependencies it uses
    are declared to raise; a dependency declares them once for every route that depends on it.
    The order against ``@view``/``@form`` does not matter.

    Example::

        @tiered.raises(LoginRequired, InvalidToken)
        async def current_user(request: Request) -> User: ...

        @app.get("/tasks/{task_id}")
        @tiered.raises(TaskNotFound)
        @tiered.view("tasks/detail.html")
        async def show_task(task_id: int, user: CurrentUser) -> Task: ...
    """

    def mark(func: _Callable) -> _Callable:
        setattr(func, RAISES_ATTRIBUTE, (*getattr(func, RAISES_ATTRIBUTE, ()), *problems))
        return func

    return mark


def _problem_content(html: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/problem+json": {"schema": _PROBLEM_REF}}
    if html:
        content["text/html"] = _HTML
    return content


def _add_schema(components: dict[str, Any], model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _as_form(schema: Any) -> Any:
    """A model's schema as a form can send it: a form has no null (a field left out is)."""
    if isinstance(schema, list):
        return [_as_form(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    shaped = {key: _as_form(value) for key, value in schema.items()}
    if _NULL in shaped.get("anyOf", ()):
        shaped["anyOf"] = [one for one in shaped["anyOf"] if one != _NULL]
        if len(shaped["anyOf"]) == 1:
            shaped.update(shaped.pop("anyOf")[0])
    if "default" in shaped and shaped["default"] is None:
        del shaped["default"]
    return shaped


def _add_form_schema(components: dict[str, Any], model: Any) -> dict[str, Any]:
    name = f"{model.__name__}Encoded"
    components.setdefault(name, _as_form(components[model.__name__]))
    return {"$ref": f"#/components/schemas/{name}"}


def _declared(route: RouteContext) -> Iterator[type[HTTPProblem]]:
    """The problems declared on the route's endpoint and on every dependency it solves."""
    yield from getattr(route.endpoint, RAISES_ATTRIBUTE, ())
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        yield from getattr(dependant.call, RAISES_ATTRIBUTE, ())
        pending.extend(dependant.dependencies)


def _document(responses: dict[str, Any], problems: list[type[HTTPProblem]], html: bool) -> None:
    """List each problem under its status (with its title and code), and give every error status
    the problem document's content, and an HTML page's where people can get one."""
    by_status: dict[int, list[type[HTTPProblem]]] = {}
    for problem in dict.fromkeys(problems):
        by_status.setdefault(problem.status, []).append(problem)
    for code, group in sorted(by_status.items()):
        names = "; ".join(f"{problem.title} (`{problem.code}`)" for problem in group)
        response = responses.setdefault(str(code), {})
        described = response.get("description")
        response["description"] = f"{described} {names}." if described else f"{names}."
    if html and any(problem.redirects for problem in problems):
        responses.setdefault("303", {"description": "A person's browser is sent elsewhere."})
    for status, response in responses.items():
        if status[:1] in ("4", "5"):
            # A path no route matches is a 404 from the router, which knows no endpoint.
            response["content"] = _problem_content(html or status == "404")


def enrich(document: dict[str, Any], app: FastAPI) -> None:
    """Add HTML responses, form bodies and every status an operation answers with to a generated
    OpenAPI document (see the module's docstring)."""
    from tiered.fastapi.views import TIERED_VIEW_ATTRIBUTE, FormSpec

    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", PROBLEM_SCHEMA)
    # Route contexts, so routes of included routers count too, with their prefixes.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        spec = getattr(route.endpoint, TIERED_VIEW_ATTRIBUTE, None)
        problems = list(_declared(route))
        view: ViewSpec | None = None
        if isinstance(spec, FormSpec):
            view = spec.view
            problems[:0] = [*_VIEW_PROBLEMS, *_FORM_PROBLEMS]
        elif spec is not None:
            view = spec
            problems[:0] = _VIEW_PROBLEMS
        # Errors are pages for people unless the operation is JSON only (a tiered view without a
        # template); a plain FastAPI route's errors go through tiered's negotiation too.
        html = view is None or view.template is not None
        for method in route.methods or ():
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's own validation schema; tiered answers problems
            if isinstance(spec, FormSpec):
                _document_form(operation, responses, spec, components)
            elif view is not None:
                _document_success(responses, view)
                if view.etag is not None and method in ("GET", "HEAD"):
                    responses["304"] = {"description": "Not Modified: `If-None-Match` matched."}
            elif operation.get("parameters"):
                problems.insert(0, BadRequest)
            _document(responses, problems, html)


def _success(responses: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    status = next((key for key in responses if key[:1] == "2"), "200")
    return status, responses.setdefault(status, {"description": "Successful Response"})


def _document_success(responses: dict[str, Any], view: ViewSpec) -> None:
    _, ok = _success(responses)
    content = ok.setdefault("content", {})
    if view.template is not None:
        content["text/html"] = _HTML
    if not view.json:
        content.pop("application/json", None)


def _has_upload(model: type[BaseModel]) -> bool:
    return any(
        isinstance(field.annotation, type) and issubclass(field.annotation, UploadFile)
        for field in model.model_fields.values()
    )


def _document_form(
    operation: dict[str, Any], responses: dict[str, Any], spec: FormSpec, components: dict[str, Any]
) -> None:
    if spec.model is not None:
        ref = _add_schema(components, spec.model)
        encoded = {"schema": _add_form_schema(components, spec.model)}
        # Files come only as multipart/form-data; an API operation (no HTML) documents JSON, and
        # a page's form all three (a form's fields are strings: JSON says more).
        content: dict[str, Any]
        if spec.template is None:
            content = {"application/json": {"schema": ref}}
        elif _has_upload(spec.model):
            content = {"multipart/form-data": encoded}
        else:
            content = {
                "application/json": {"schema": ref},
                "application/x-www-form-urlencoded": encoded,
                "multipart/form-data": encoded,
            }
        operation["requestBody"] = {
            "required": any(field.is_required() for field in spec.model.model_fields.values()),
            "content": content,
        }
    if spec.view.annotation is None:
        # Done without data: 204 for a JSON client; an enhanced page gets its updated block.
        status, ok = _success(responses)
        del responses[status]
        responses["204" if status == "200" else status] = {"description": ok["description"]}
        if spec.template is not None:
            responses["200"] = {"description": "The page's updated block.", "content": _HTML_ONLY}
    else:
        _document_success(responses, spec.view)
    if spec.template is not None:
        responses["303"] = {"description": "Browsers without script: redirect to the next page."}


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
