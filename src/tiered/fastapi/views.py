"""Decorators that make an ordinary FastAPI path operation serve every client.

``@view`` renders what the handler returns: the whole template as a page, one block of it as a
fragment for an enhanced request, or JSON described by the return annotation in OpenAPI.
``@form`` does the same for unsafe requests with a body: it reads the form or JSON body, validates
it against a Pydantic model, re-shows the form with the input kept when it is invalid, answers a
repeated submission from memory, and turns the handler's :class:`Done` into a redirect, a fragment
or a 201 — whichever the client can use.

A view whose parameters FastAPI has nothing to solve for (path and query parameters, a
``Request``, ``ClientDep``) is answered by tiered's middleware itself, without FastAPI's
per-request machinery (see :mod:`tiered.fastapi.lean`); what the client gets is the same.

Example::

    @app.get("/tasks/{task_id}")
    @view("tasks/detail.html", block="task")
    async def show_task(task_id: int) -> Task:
        return await tasks.get(task_id)
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import Annotated, Any, Generic, TypeVar

import pydantic_core
from fastapi import Depends
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from tiered.asgi.bodies import read_form
from tiered.asgi.context import FlashLevel, RequestContext, context_of
from tiered.asgi.csrf import CSRF_FIELD, MESSAGES
from tiered.asgi.idempotency import StoredResponse, key_in_flight, key_reused
from tiered.asgi.problems import PROBLEMS_ONLY_ATTRIBUTE, problem_from_errors
from tiered.asgi.runtime import FORM_ENDPOINT_ATTRIBUTE
from tiered.core.capabilities import Client
from tiered.core.errors import (
    CsrfFailed,
    HTTPProblem,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ImproperlyConfigured,
    MalformedBody,
    UnsupportedMediaType,
    ValidationFailed,
)
from tiered.core.forms import (
    FORM_SENT_WITH_OTHER_VALUES,
    UNSTORABLE_TEXT,
    FieldError,
    FormState,
    field_errors,
)
from tiered.core.negotiation import Negotiated
from tiered.core.urls import header_url
from tiered.fastapi.rendering import (
    Downgrade,
    EntityTagOf,
    ViewSpec,
    data_context,
    etag_header,
    html_response,
    json_response,
    json_version,
    negotiate_view,
    render,
    to_json,
)
from tiered.jinja.renderer import IDEMPOTENCY_FIELD

T = TypeVar("T")
Handler = Callable[..., Any]

TIERED_VIEW_ATTRIBUTE = "__tiered_view__"
VIEW_HANDLER_ATTRIBUTE = "__tiered_handler__"
"""Set on a ``@view`` endpoint: the handler it wraps, which tiered may call itself (see
:mod:`tiered.fastapi.lean`)."""
_REQUEST_PARAM = "tiered_request"
_FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# What a repeated submission gets back with the kept body: where to go, what it is, and (for an
# old JSON version) the deprecation notice the first response carried.
_KEPT_HEADERS = frozenset(
    {"location", "content-type", "vary", "hx-redirect", "deprecation", "sunset", "link"}
)


async def client_dependency(request: Request) -> Client:
    """The request's :class:`Client`, for FastAPI's dependency injection (see ``ClientDep``)."""
    return context_of(request).client


ClientDep = Annotated[Client, Depends(client_dependency)]
"""A path-operation parameter that receives the request's :class:`Client`.

Example::

    async def home(client: ClientDep) -> Home: ...
"""


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """What a form handler returns when the submission worked.

    A browser without script is redirected (303) to ``location`` with ``flash`` shown there; an
    enhanced request gets the ``success`` block rendered with ``data`` plus the flash as an
    out-of-band update (or an ``HX-Redirect`` when there is no such block); a JSON client gets
    ``data`` with 201 and ``Location`` when ``created``, with 202 and ``Location`` when
    ``accepted`` (work that goes on after the answer, such as a job: ``location`` is where to
    watch it), 200 when there is data, else 204.

    Example::

        return Done(f"/tasks/{task.id}", data=task, flash="Task created.", created=True)
    """

    location: str
    data: T | None = None
    flash: str | None = None
    flash_level: FlashLevel = "success"
    created: bool = False
    accepted: bool = False
    then: str | None = None
    """Where a browser goes instead of ``location``, which stays the JSON ``Location``: back to
    the list a task was added from, say, while an API client is told where the new task is."""


@dataclass(frozen=True, slots=True)
class FormSpec:
    model: type[BaseModel] | None
    parameter: str | None
    template: str | None
    block: str | None
    context: Callable[[Request], Awaitable[Mapping[str, Any]]] | None
    success_template: str | None
    success_block: str | None
    labels: Mapping[str, str]
    view: ViewSpec


def _signature(
    func: Handler, drop: str | None, return_annotation: Any
) -> tuple[inspect.Signature, str, bool]:
    """The signature FastAPI should see: ``drop`` removed, a ``Request`` parameter ensured, and a
    parameter annotated :class:`~tiered.Client` given the request's client (as ``ClientDep``)."""
    hints = typing.get_type_hints(func, include_extras=True)
    signature = inspect.signature(func)
    params: list[inspect.Parameter] = []
    request_name: str | None = None
    for param in signature.parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if param.name == drop:
            continue
        if annotation is Request:
            request_name = param.name
        if annotation is Client:  # `client: tiered.Client`, spelled as in any handler
            annotation = ClientDep
        params.append(param.replace(annotation=annotation))
    added = request_name is None
    if request_name is None:
        request_name = _REQUEST_PARAM
        extra = inspect.Parameter(request_name, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        at = next(
            (i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD),
            len(params),
        )
        params.insert(at, extra)
    return (
        signature.replace(parameters=params, return_annotation=return_annotation),
        request_name,
        added,
    )


async def _call(func: Handler, kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(func):
        return await func(**kwargs)
    return await run_in_threadpool(functools.partial(func, **kwargs))


def view(
    template: str | None = None,
    *,
    block: str | None = None,
    status: int = 200,
    json: bool = True,
    downgrades: Mapping[str, Downgrade] | None = None,
    etag: EntityTagOf | None = None,
) -> Callable[[Handler], Handler]:
    """Render the handler's result for every client (see the module docstring).

    ``template`` is the page; ``block`` the block of it an enhanced request gets (without one, such
    requests get the page); ``json=False`` offers no JSON; ``downgrades`` maps an older JSON
    version's name to a function that turns the current result into that version's shape.
    ``etag`` gives the result's entity tag: JSON then carries ``ETag``, and a ``GET`` with a
    matching ``If-None-Match`` is answered ``304`` (``etag=lambda task: str(task.version)``).
    """
    if template is None and not json:
        raise ImproperlyConfigured("A view needs a template, JSON, or both; got neither.")

    def decorate(func: Handler) -> Handler:
        hints = typing.get_type_hints(func, include_extras=True)
        annotation = hints.get("return")
        spec = ViewSpec(template, block, status, json, dict(downgrades or {}), annotation, etag)
        signature, request_name, added = _signature(
            func, None, inspect.Signature.empty if annotation is None else annotation
        )

        @functools.wraps(func)
        async def endpoint(**kwargs: Any) -> Response:
            request: Request = kwargs.pop(request_name) if added else kwargs[request_name]
            ctx = context_of(request)
            negotiated = negotiate_view(ctx, spec)
            result = await _call(func, kwargs)
            if isinstance(result, Response):
                return result
            return render(request, ctx, spec, negotiated, result, spec.status)

        endpoint.__signature__ = signature  # type: ignore[attr-defined]
        setattr(endpoint, TIERED_VIEW_ATTRIBUTE, spec)
        setattr(endpoint, VIEW_HANDLER_ATTRIBUTE, func)
        return endpoint

    return decorate


def form(
    model: type[BaseModel] | None = None,
    *,
    template: str | None = None,
    block: str | None = None,
    context: Callable[[Request], Awaitable[Mapping[str, Any]]] | None = None,
    success_template: str | None = None,
    success_block: str | EllipsisType | None = ...,
    labels: Mapping[str, str] | None = None,
    json: bool = True,
    downgrades: Mapping[str, Downgrade] | None = None,
    etag: EntityTagOf | None = None,
) -> Callable[[Handler], Handler]:
    """Handle a submitted form (or JSON body) validated against ``model``.

    The handler receives the validated model in the parameter annotated with ``model``, and returns
    :class:`Done` (or a model, rendered like a view). ``template``/``block`` show the form again
    when the input is invalid, with ``context(request)`` supplying the rest of that page's data.
    ``success_template``/``success_block`` (default: ``template`` and ``block``) render the
    enhanced success fragment, the page's data as it is after the write; ``success_block=None``
    sends an enhanced page on to the next page instead (``HX-Redirect``), as a browser without
    script is sent by the 303 (a log-in form, say). ``labels`` names fields in error messages
    (``{"due_on": "the due date"}``). A model may be omitted for actions without fields (delete,
    toggle): CSRF, idempotency and negotiation still apply. ``downgrades`` turns the result's
    data into older JSON versions, and ``etag`` tags it (the ``ETag`` of a JSON answer), as for
    :func:`view`.

    Example::

        @app.post("/tasks")
        @form(TaskForm, template="tasks/list.html", block="new_task", context=list_context)
        async def create_task(data: TaskForm) -> Done[Task]:
            task = await tasks.create(data)
            return Done(f"/tasks/{task.id}", data=task, flash="Task created.", created=True)
    """
    if template is None and not json:
        raise ImproperlyConfigured("A form needs a template, JSON, or both; got neither.")

    def decorate(func: Handler) -> Handler:
        hints = typing.get_type_hints(func, include_extras=True)
        parameter = None
        if model is not None:
            parameter = next(
                (name for name, hint in hints.items() if hint is model and name != "return"), None
            )
            if parameter is None:
                raise ImproperlyConfigured(
                    f"{func.__qualname__} has no parameter annotated {model.__name__}; add one "
                    f"(for example `data: {model.__name__}`) to receive the validated form."
                )
        returned = hints.get("return")
        data_type = _done_data_type(returned)
        spec = FormSpec(
            model,
            parameter,
            template,
            block,
            context,
            success_template or template,
            block if success_block is ... else success_block,
            dict(labels or {}),
            ViewSpec(template, block, 200, json, dict(downgrades or {}), data_type, etag),
        )
        signature, request_name, added = _signature(
            func, parameter, inspect.Signature.empty if data_type is None else data_type
        )

        @functools.wraps(func)
        async def endpoint(**kwargs: Any) -> Response:
            request: Request = kwargs.pop(request_name) if added else kwargs[request_name]
            return await _handle_submission(func, spec, request, kwargs)

        endpoint.__signature__ = signature  # type: ignore[attr-defined]
        setattr(endpoint, TIERED_VIEW_ATTRIBUTE, spec)
        setattr(endpoint, FORM_ENDPOINT_ATTRIBUTE, template is not None)
        setattr(endpoint, PROBLEMS_ONLY_ATTRIBUTE, template is None)
        return endpoint

    return decorate


def _done_data_type(returned: Any) -> Any:
    """``Done[Task]`` → ``Task`` (what OpenAPI documents); a bare model stays itself."""
    if returned is None or returned is Done:
        return None
    if typing.get_origin(returned) is Done:
        (argument,) = typing.get_args(returned)
        return None if argument is type(None) else argument
    if isinstance(returned, type) and issubclass(returned, Response):
        return None
    return returned


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a dict of fields, whatever the content type.

    Form fields keep their text (a repeated field becomes a list); JSON must be an object, nested
    at most 32 levels deep. Raises :class:`ValidationFailed` naming every field (and JSON member,
    nested or not) whose text holds a character no database stores as text, such as NUL; a body
    that cannot be read is a 400 (:class:`MalformedBody`) or, past the form parser's limits, a
    413, so that no such input reaches a handler.
    """
    data = await _parse_body(request)
    errors = _unstorable(data, {})
    if errors:
        raise problem_from_errors(errors)
    return data


_MAX_JSON_DEPTH = 32
"""How deeply a JSON body may nest objects and arrays. Far more than any form or API body here
needs, and it keeps every walk over a body shallow."""
_JSON_TOO_DEEP = (
    "The JSON body nests objects and arrays more than {limit} levels deep; send at most {limit}."
)
_MAX_TEXT_ERRORS = 20
"""At most this many fields are named for unstorable text: a problem document stays small."""
# NUL, which PostgreSQL refuses in text, and lone surrogates, which no UTF-8 encodes (a database
# driver fails on them). Every other code point is stored as it is.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


async def _parse_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _FORM_CONTENT_TYPES:
        # Read already when the CSRF check needed its token from the body: not parsed twice.
        # Kept on the context either way, which closes it (uploads deleted) after the response.
        ctx = context_of(request)
        if ctx.form is None:
            ctx.form = await read_form(request)
        form_data = ctx.form
        data: dict[str, Any] = {}
        for key in form_data:
            values = [
                v for v in form_data.getlist(key) if not isinstance(v, UploadFile) or v.filename
            ]
            data[key] = values[0] if len(values) == 1 else (values or "")
        return data
    body = await request.body()
    if media_type == "application/json" or media_type.endswith("+json"):
        return _parse_json(body)
    if not body.strip():
        return {}
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r} is not accepted here; send "
        "application/json, application/x-www-form-urlencoded or multipart/form-data."
    )


def _parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object, by pydantic-core's parser: it stops at ~200 levels by itself (Python's
    ``json`` recurses until ``RecursionError``) and refuses what RFC 8259 does (NaN, lone
    surrogates, control characters in strings)."""
    if not body:
        return {}
    try:
        parsed = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise MalformedBody(_JSON_TOO_DEEP.format(limit=_MAX_JSON_DEPTH)) from None
        raise MalformedBody(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(parsed, dict):
        raise MalformedBody(
            f"The body is a JSON {type(parsed).__name__}; send a JSON object with the fields."
        )
    # No container can be deeper than the number of brackets; most bodies have a handful.
    if body.count(b"[") + body.count(b"{") > _MAX_JSON_DEPTH and _depth(parsed) > _MAX_JSON_DEPTH:
        raise MalformedBody(_JSON_TOO_DEEP.format(limit=_MAX_JSON_DEPTH))
    return parsed


def _depth(value: Any) -> int:
    """How many objects and arrays deep ``value`` nests (without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > _MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _unstorable(data: Mapping[str, Any], labels: Mapping[str, str]) -> tuple[FieldError, ...]:
    """An error for each field, member or name whose text no database stores (see
    ``_UNSTORABLE``), in document order; a file's name counts, its content does not."""
    errors: list[FieldError] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack and len(errors) < _MAX_TEXT_ERRORS:
        value, path = stack.pop()
        if isinstance(value, UploadFile):
            value = value.filename or ""
        if isinstance(value, str):
            found = _UNSTORABLE.search(value)
            if found is not None:
                errors.append(_unstorable_error(path, found.group(), labels))
            continue
        if isinstance(value, dict):
            items: list[tuple[str | int, Any]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        for key, item in reversed(items):
            stack.append((item, (*path, key)))
            found = _UNSTORABLE.search(key) if isinstance(key, str) else None
            if found is not None:
                stack.append((key, (*path, key)))
    return tuple(errors)


def _unstorable_error(
    path: tuple[str | int, ...], character: str, labels: Mapping[str, str]
) -> FieldError:
    name = ".".join(str(part) for part in path)
    label = labels.get(name) or (name.rsplit(".", 1)[-1].replace("_", " ") if name else "the body")
    code_point = f"U+{ord(character):04X}"
    what = f"{code_point}, NUL" if character == "\x00" else f"{code_point}, half a surrogate pair"
    pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
    message = UNSTORABLE_TEXT.format(Label=label[:1].upper() + label[1:], character=what)
    return FieldError(name, pointer, message, "text-unstorable")


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    """Form values to show again, each unstorable character replaced by U+FFFD (what an HTML
    parser makes of a NUL anyway)."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = _UNSTORABLE.sub("\ufffd", value)
        elif isinstance(value, list):
            value = [_UNSTORABLE.sub("\ufffd", v) if isinstance(v, str) else v for v in value]
        shown[key] = value
    return shown


def _fingerprint(request: Request, fields: Mapping[str, Any]) -> str:
    """What an idempotency key's request was: its method, path and fields (a form's without its
    CSRF token and key), files by their name and content."""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=True, default=_file_identity)
    digest.update(canonical.encode("ascii"))
    return digest.hexdigest()[:32]


def _file_identity(value: Any) -> Any:
    if not isinstance(value, UploadFile):
        return repr(value)
    value.file.seek(0)
    content = hashlib.file_digest(value.file, "sha256").hexdigest()  # type: ignore[arg-type]
    value.file.seek(0)
    return {"filename": value.filename, "sha256": content}


async def _handle_submission(
    func: Handler, spec: FormSpec, request: Request, kwargs: dict[str, Any]
) -> Response:
    ctx = context_of(request)
    negotiated = negotiate_view(ctx, spec.view)  # before the body: a 406 needs no body read
    raw = await _parse_body(request)
    raw.pop(CSRF_FIELD, None)
    form_key = raw.pop(IDEMPOTENCY_FIELD, None)
    key = form_key or ctx.headers.get("idempotency-key")
    errors = _unstorable(raw, spec.labels)
    shown = _storable(raw) if errors else raw
    state = FormState(values=shown)

    if ctx.csrf_failure is not None:
        reason = ctx.csrf_failure
        if negotiated.representation == "json" or spec.template is None:
            raise CsrfFailed(reason, MESSAGES[reason])
        state = state.with_error(MESSAGES[reason], f"csrf-{reason}")
        return await _show_form(request, ctx, spec, negotiated, state, CsrfFailed.status)

    if spec.model is not None and spec.parameter is not None:
        try:
            kwargs[spec.parameter] = spec.model.model_validate(raw)
        except ValidationError as exc:
            errors += field_errors(exc, spec.labels)
    if errors:
        return await _invalid(request, ctx, spec, negotiated, FormState(shown, errors))

    store = ctx.runtime.idempotency
    ttl = ctx.runtime.settings.idempotency_ttl
    scoped_key = None
    if isinstance(key, str) and 0 < len(key) <= 200:
        scoped_key = ":".join(
            (
                ctx.idempotency_scope(),
                request.method,
                request.url.path,
                negotiated.representation,
                key,
            )
        )
        # A browser's form (its key in a field) that is sent again while the first submission
        # runs waits for that one's response: a double click should show what the first click
        # did. An API client is told 409 at once, as the IETF draft says.
        browser_form = bool(form_key) and negotiated.representation != "json"
        try:
            kept = await store.claim(
                scoped_key, ttl, fingerprint=_fingerprint(request, raw), wait=browser_form
            )
        except IdempotencyKeyReused:
            if browser_form and spec.template is not None:
                state = state.with_error(FORM_SENT_WITH_OTHER_VALUES, IdempotencyKeyReused.code)
                return await _show_form(
                    request, ctx, spec, negotiated, state, IdempotencyKeyReused.status
                )
            raise key_reused(key, ttl) from None
        except IdempotencyKeyInFlight:
            raise key_in_flight(key, ttl) from None
        if kept is not None:
            return Response(kept.body, kept.status, headers=dict(kept.headers))
    try:
        result = await _call(func, kwargs)
    except BaseException as exc:
        if scoped_key is not None:
            await store.release(scoped_key)
        if isinstance(exc, ValidationFailed) and exc.errors:
            return await _invalid(request, ctx, spec, negotiated, FormState(raw, exc.errors))
        if isinstance(exc, HTTPProblem) and _asks_to_try_again(exc, spec, negotiated):
            # "Try again later" (a limit, a moment's outage): the form again, the input kept.
            state = FormState(shown).with_error(exc.detail or exc.title, exc.code)
            response = await _show_form(request, ctx, spec, negotiated, state, exc.status)
            response.headers.update(exc.headers)
            return response
        raise
    response = await _success(request, ctx, spec, negotiated, result)
    if scoped_key is not None:
        if response.status_code < 500:
            kept_headers = tuple(
                (name, value) for name, value in response.headers.items() if name in _KEPT_HEADERS
            )
            await store.complete(
                scoped_key,
                StoredResponse(response.status_code, kept_headers, bytes(response.body)),
                ttl,
            )
        else:
            await store.release(scoped_key)
    return response


def _asks_to_try_again(problem: HTTPProblem, spec: FormSpec, negotiated: Negotiated) -> bool:
    """Whether a person gets the form again for ``problem``: it says when to try again
    (``Retry-After``), sends no one elsewhere, and the page is the form's. JSON gets the document;
    an enhanced page the message in ``#flash``, the form as it is."""
    return (
        "Retry-After" in problem.headers
        and problem.location is None
        and spec.template is not None
        and negotiated.representation == "page"
    )


async def _invalid(
    request: Request, ctx: RequestContext, spec: FormSpec, negotiated: Negotiated, state: FormState
) -> Response:
    if negotiated.representation == "json" or spec.template is None:
        raise problem_from_errors(state.errors)
    return await _show_form(request, ctx, spec, negotiated, state, ValidationFailed.status)


async def _show_form(
    request: Request,
    ctx: RequestContext,
    spec: FormSpec,
    negotiated: Negotiated,
    state: FormState,
    status: int,
) -> Response:
    assert spec.template is not None
    extra: dict[str, Any] = dict(await spec.context(request)) if spec.context else {}
    extra["form"] = state
    return html_response(request, ctx, negotiated, spec.template, spec.block, extra, status)


async def _success(
    request: Request, ctx: RequestContext, spec: FormSpec, negotiated: Negotiated, result: Any
) -> Response:
    if isinstance(result, Response):
        return result
    if not isinstance(result, Done):
        return render(request, ctx, spec.view, negotiated, result, 200)
    if negotiated.representation == "json":
        located = result.created or result.accepted
        headers = {"Location": header_url(result.location)} if located else {}
        status = 201 if result.created else 202 if result.accepted else 200
        if result.data is None:
            if located:
                return json_response(ctx, negotiated, b"", status, headers)
            return Response(status_code=204, headers=headers)
        versions = ctx.runtime.settings.json_versions
        version = json_version(ctx, negotiated)
        body = to_json(spec.view, result.data, version, versions.current if versions else None)
        headers = etag_header(spec.view, result.data, headers)
        return json_response(ctx, negotiated, body, status, headers)
    if result.flash:
        ctx.flash(result.flash, result.flash_level)
    if (
        negotiated.representation == "fragment"
        and spec.success_block is not None
        and spec.success_template is not None
    ):
        # The page's data as it is now (after the write), then the handler's own.
        context: dict[str, Any] = dict(await spec.context(request)) if spec.context else {}
        if result.data is not None:
            context.update(data_context(result.data))
        return html_response(
            request, ctx, negotiated, spec.success_template, spec.success_block, context, 200
        )
    target = header_url(result.then or result.location)
    if negotiated.representation == "fragment":
        return Response(status_code=200, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})
