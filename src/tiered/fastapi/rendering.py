"""Turn a handler's data into the negotiated response: a page, a fragment, or JSON.

This is the render path every tiered view takes, so it is written to do each thing once: the
Client and the negotiation were computed before the handler ran, the handler's result is
serialized once by Pydantic's own JSON serializer (validated only if it is not already an instance
of the declared type), templates come compiled from Jinja's cache, and a response's headers are
assembled from a cache keyed by the few values they can take (``Vary`` and the media type).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from tiered.asgi.context import RequestContext
from tiered.core.conditional import entity_tags, quoted
from tiered.core.negotiation import Negotiated, negotiate
from tiered.core.vary import ACCEPT_CH, vary_value
from tiered.core.versions import ApiVersion

Downgrade = Callable[[Any], Any]
EntityTagOf = Callable[[Any], str | None]
"""A view's ``etag``: the entity tag of the data it returns (without quotes), or ``None``."""

RawHeaders = tuple[tuple[bytes, bytes], ...]


class ReadyResponse(Response):
    """A response whose body and headers are already bytes; nothing is re-encoded.

    Building a Starlette ``Response`` encodes and lower-cases every header on each request; a
    view's headers repeat (one ``Vary`` per kind of client), so they come from a cache instead.
    """

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def ready_response(body: bytes, status: int, cached: RawHeaders) -> ReadyResponse:
    # Starlette's order: the given headers, then Content-Length, then Content-Type.
    raw = list(cached)
    raw.insert(-1, (b"content-length", str(len(body)).encode("latin-1")))
    return ReadyResponse(body, status, raw)


@lru_cache(maxsize=512)
def html_headers(vary: str) -> RawHeaders:
    """``Vary``, ``Accept-CH`` and ``Content-Type`` of an HTML response, encoded once."""
    return (
        (b"vary", vary.encode("latin-1")),
        (b"accept-ch", ACCEPT_CH.encode("latin-1")),
        (b"content-type", b"text/html; charset=utf-8"),
    )


@lru_cache(maxsize=512)
def json_headers(vary: str, media_type: str, extra: tuple[tuple[str, str], ...]) -> RawHeaders:
    """``Vary``, a version's deprecation headers and ``Content-Type`` of a JSON response."""
    return (
        (b"vary", vary.encode("latin-1")),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra),
        (b"content-type", media_type.encode("latin-1")),
    )


@dataclass(slots=True)
class ViewSpec:
    """How one view renders; built once when the view is decorated."""

    template: str | None
    block: str | None
    status: int = 200
    json: bool = True
    downgrades: Mapping[str, Downgrade] = field(default_factory=dict)
    annotation: Any = None
    etag: EntityTagOf | None = None
    _adapter: TypeAdapter[Any] | None = None
    _model_class: type | None = None
    _prepared: bool = False

    def adapter(self) -> tuple[TypeAdapter[Any] | None, type | None]:
        if not self._prepared:
            annotation = self.annotation
            if annotation is not None and annotation is not type(None):
                self._adapter = TypeAdapter(annotation)
                origin = typing.get_origin(annotation)
                if origin is None and isinstance(annotation, type):
                    self._model_class = annotation
            self._prepared = True
        return self._adapter, self._model_class

    def entity_tag(self, data: Any) -> str | None:
        """``data``'s entity tag, when the view declares how to tag it (``etag=``)."""
        return self.etag(data) if self.etag is not None else None


def negotiate_view(ctx: RequestContext, spec: ViewSpec) -> Negotiated:
    """What this request gets from the view; a 406 before the handler runs if nothing fits."""
    negotiated = negotiate(
        ctx.accept,
        ctx.client.htmx,
        html=spec.template is not None,
        json=spec.json,
        fragment=spec.block is not None,
    )
    if negotiated.representation == "json":
        json_version(ctx, negotiated)  # an unknown version is a 406 before the handler runs
    return negotiated


def json_version(ctx: RequestContext, negotiated: Negotiated) -> ApiVersion | None:
    """The JSON version this response is in (``None`` when the app has no versions): chosen
    once, when the view is negotiated, and kept on the request's context for what follows."""
    versions = ctx.runtime.settings.json_versions
    if versions is None:
        return None
    if ctx.json_version is None:
        ctx.json_version = versions.select(negotiated.version)
    return ctx.json_version


def to_json(spec: ViewSpec, result: Any, version: ApiVersion | None, current: str | None) -> bytes:
    if version is not None and current is not None and version.name != current:
        downgrade = spec.downgrades.get(version.name)
        if downgrade is not None:
            return pydantic_core.to_json(downgrade(result), by_alias=True)
    adapter, model_class = spec.adapter()
    if adapter is None:
        return pydantic_core.to_json(result, by_alias=True)
    if model_class is None or not isinstance(result, model_class):
        result = adapter.validate_python(result)
    # The adapter's serializer itself: dump_json's keyword plumbing costs more than a small
    # model's serialization (~0.45 µs of ~0.75 here).
    return adapter.serializer.to_json(result, by_alias=True)


def data_context(result: Any) -> dict[str, Any]:
    """A model's fields as template variables, plus the whole result as ``data``."""
    if isinstance(result, BaseModel):
        context = dict(result.__dict__)
    elif isinstance(result, Mapping):
        context = dict(result)
    else:
        context = {}
    context["data"] = result
    return context


def json_response(
    ctx: RequestContext,
    negotiated: Negotiated,
    body: bytes,
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    vary = vary_value(negotiated, ctx.client)
    ctx.representation = "json"
    versions = ctx.runtime.settings.json_versions
    media_type = "application/json"
    version_headers: tuple[tuple[str, str], ...] = ()
    version = json_version(ctx, negotiated)
    if versions is not None and version is not None:
        media_type = versions.content_type(version)
        version_headers = versions.response_headers(version)
    if not headers and status not in (204, 304) and status >= 200:
        return ready_response(body, status, json_headers(vary, media_type, version_headers))
    headers = headers or {}
    headers["Vary"] = vary
    headers.update(version_headers)
    return Response(body, status, headers=headers, media_type=media_type)


def html_response(
    request: Request,
    ctx: RequestContext,
    negotiated: Negotiated,
    template: str,
    block: str | None,
    context: dict[str, Any],
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    runtime = ctx.runtime
    full_context = runtime.base_context(request, ctx, negotiated.representation)
    full_context.update(context)
    if negotiated.representation == "fragment" and block is not None:
        html = runtime.renderer.fragment(template, block, full_context)
        if ctx.has_flashes():
            html += runtime.renderer.flash_region(ctx.pop_flashes())
        ctx.representation = "fragment"
    else:
        html = runtime.renderer.page(template, full_context)
        ctx.representation = "page"
    vary = vary_value(negotiated, ctx.client)
    if not headers and status not in (204, 304) and status >= 200:
        return ready_response(html.encode("utf-8"), status, html_headers(vary))
    headers = headers or {}
    headers["Vary"] = vary
    headers["Accept-CH"] = ACCEPT_CH
    return Response(html, status, headers=headers, media_type="text/html")


def render(
    request: Request,
    ctx: RequestContext,
    spec: ViewSpec,
    negotiated: Negotiated,
    result: Any,
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    """The response for ``result`` in the negotiated representation."""
    if negotiated.representation == "json":
        return render_json(ctx, spec, negotiated, result, status, headers, method=request.method)
    assert spec.template is not None  # negotiation offers HTML only when there is a template
    return html_response(
        request, ctx, negotiated, spec.template, spec.block, data_context(result), status, headers
    )


def etag_header(spec: ViewSpec, data: Any, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the view's ``ETag`` for ``data`` added, when the view declares one."""
    tag = spec.entity_tag(data)
    if tag is not None:
        headers["ETag"] = quoted(tag)
    return headers


def render_json(
    ctx: RequestContext,
    spec: ViewSpec,
    negotiated: Negotiated,
    result: Any,
    status: int,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
) -> Response:
    """The JSON response for ``result``, in the version the client asked for.

    It carries the view's ``ETag`` when the view declares one; a ``GET`` whose ``If-None-Match``
    names that tag gets ``304 Not Modified`` without a body.
    """
    tag = spec.entity_tag(result)
    if tag is not None:
        if method == "GET" and status == 200:
            sent = entity_tags(ctx.headers.get("if-none-match"))
            if sent is not None and sent.matches(tag):
                ctx.representation = "json"
                vary = vary_value(negotiated, ctx.client)
                return Response(status_code=304, headers={"ETag": quoted(tag), "Vary": vary})
        headers = {**(headers or {}), "ETag": quoted(tag)}
    versions = ctx.runtime.settings.json_versions
    version = json_version(ctx, negotiated)
    body = to_json(spec, result, version, versions.current if versions else None)
    return json_response(ctx, negotiated, body, status, headers)
