"""Errors as responses: one problem, rendered in the representation the client negotiated.

An HTML client gets an accessible page (what happened, what to do next, the request id); an
enhanced request gets the same content as a fragment; everyone else gets an RFC 9457
``application/problem+json`` document with ``type``, ``title``, ``status``, ``detail``,
``instance`` and tiered's stable ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tiered.asgi.context import RequestContext
from tiered.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HTTPProblem,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from tiered.core.forms import FieldError
from tiered.core.negotiation import PROBLEM_MEDIA_TYPE, Negotiated, negotiate_error
from tiered.core.urls import header_url
from tiered.core.vary import vary_value

_BY_STATUS: dict[int, type[HTTPProblem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    406: NotAcceptable,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    503: ServiceUnavailable,
}


class _StatusProblem(HTTPProblem):
    """A Starlette ``HTTPException`` with a status tiered has no class for."""

    def __init__(self, status: int, detail: str | None, headers: Mapping[str, str] | None) -> None:
        super().__init__(detail, headers=headers)
        self.status = status  # type: ignore[misc]  # instance override of the class default
        self.code = f"http-{status}"  # type: ignore[misc]
        self.title = "The request could not be completed"  # type: ignore[misc]


def problem_from_http_exception(exc: HTTPException) -> HTTPProblem:
    """A Starlette/FastAPI ``HTTPException`` as the matching problem."""
    headers = dict(exc.headers or {})
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    cls = _BY_STATUS.get(exc.status_code)
    if cls is TooManyRequests or exc.status_code == 429:
        return TooManyRequests(int(headers.get("Retry-After", "60")), detail)
    if cls is None or cls is ValidationFailed:
        return _StatusProblem(exc.status_code, detail, headers)
    # Starlette's own 404/405 carry the bare phrase as detail; the class title says it better.
    if detail in ("Not Found", "Method Not Allowed"):
        detail = None
    return cls(detail, headers=headers)


def problem_from_errors(
    errors: Iterable[FieldError], detail: str | None = None
) -> ValidationFailed:
    items = tuple(errors)
    summary = detail or " ".join(e.message for e in items) or None
    return ValidationFailed(summary, errors=items)


def request_problem(errors: Iterable[Mapping[str, Any]]) -> HTTPProblem:
    """Pydantic's errors about a request (``loc`` starts with path, query, header or body)."""
    fields = []
    for item in errors:
        location = [str(p) for p in item.get("loc", ())]
        where = location[0] if location else ""
        name = ".".join(location[1:]) if len(location) > 1 else where
        pointer = "/" + "/".join(location[1:]) if where == "body" else ""
        message = (
            f"The {where} parameter {name!r} is not valid: {item.get('msg', 'invalid value')}."
        )
        if where == "body":
            message = f"{name or 'The body'}: {item.get('msg', 'invalid value')}."
        fields.append(FieldError(name, pointer, message, str(item.get("type", "invalid"))))
    if fields and all(e.pointer == "" for e in fields):
        # Query, path or header values: the address is wrong, not a form.
        return BadRequest(
            " ".join(e.message for e in fields),
            extra={"errors": [e.as_problem_member() for e in fields]},
        )
    return problem_from_errors(fields)


def problem_document(problem: HTTPProblem, ctx: RequestContext, path: str) -> dict[str, Any]:
    base = ctx.runtime.settings.problem_type_base
    document: dict[str, Any] = {
        "type": base + problem.code,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail or problem.title,
        "instance": path,
        "code": problem.code,
        "request_id": ctx.request_id,
    }
    if isinstance(problem, ValidationFailed):
        document["errors"] = [e.as_problem_member() for e in problem.errors]
    for key, value in problem.extra.items():
        document.setdefault(key, value)
    return document


class ProblemView:
    """What error.html shows; attribute names are the template's contract."""

    __slots__ = ("code", "debug", "detail", "next_step", "request_id", "status", "title")

    def __init__(self, problem: HTTPProblem, request_id: str, debug: str | None) -> None:
        self.status = problem.status
        self.code = problem.code
        self.title = problem.title
        self.detail = problem.detail
        self.next_step = problem.next_step
        self.request_id = request_id
        self.debug = debug


_PROBLEM_ONLY = Negotiated("problem", PROBLEM_MEDIA_TYPE, None, ("Accept",))
PROBLEMS_ONLY_ATTRIBUTE = "__tiered_problems_only__"
"""Set (to ``True``) on an endpoint without HTML (an API route): its errors are problem documents
whatever ``Accept`` says, those raised before it runs (a path parameter, a dependency) too, so a
client such as ``curl``, which accepts anything, never gets an error page from it."""


def problem_response(
    request: Request, ctx: RequestContext, problem: HTTPProblem, *, debug_text: str | None = None
) -> Response:
    """Render ``problem`` for this request's client."""
    if getattr(request.scope.get("endpoint"), PROBLEMS_ONLY_ATTRIBUTE, False):
        negotiated = _PROBLEM_ONLY
    else:
        negotiated = negotiate_error(ctx.accept, ctx.client.htmx)
    headers = dict(problem.headers)
    headers["Vary"] = vary_value(negotiated, ctx.client)
    if problem.location is not None and negotiated.representation != "problem":
        # A person is sent on; the problem's own headers (a WWW-Authenticate challenge) are for
        # the API clients that get the document.
        redirect = {"Vary": headers["Vary"]}
        target = header_url(problem.location)
        if negotiated.representation == "fragment":
            return Response(status_code=200, headers={**redirect, "HX-Redirect": target})
        return Response(status_code=303, headers={**redirect, "Location": target})
    ctx.representation = negotiated.representation
    if negotiated.representation == "problem":
        body = json.dumps(problem_document(problem, ctx, request.url.path), ensure_ascii=False)
        return Response(
            body, problem.status, headers=headers, media_type="application/problem+json"
        )
    view = ProblemView(problem, ctx.request_id, debug_text if ctx.runtime.settings.debug else None)
    context = ctx.runtime.base_context(request, ctx, negotiated.representation)
    context["problem"] = view
    renderer = ctx.runtime.renderer
    if negotiated.representation == "fragment":
        html = renderer.block("tiered/error.html", "error", context)
    else:
        html = renderer.page("tiered/error.html", context)
    return Response(html, problem.status, headers=headers, media_type="text/html")
