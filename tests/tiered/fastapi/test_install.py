"""``tiered.install``: what its lifespan prepares at start, so no request waits for it, and whose
telemetry records a request."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

import tiered
from tiered.core import useragent

SECRET = "install-test-secret-0123456789abcdef0123"


def test_the_user_agent_parser_is_built_at_start_not_by_the_first_request() -> None:
    """Compiling its rules takes about 0.2 s: on the event loop, under load, a fresh instance's
    first requests waited for it."""
    useragent._parser.cache_clear()
    app = FastAPI()
    tiered.install(app, secret_key=SECRET)

    with TestClient(app):
        assert useragent._parser.cache_info().currsize == 1  # before any request


def _traced_app(provider: TracerProvider, **install: Any) -> FastAPI:
    """An app whose FastAPI records spans to ``provider`` (its own, so no global is set)."""
    app = FastAPI(telemetry={"tracer_provider": provider, "metrics": False, "logs": False})
    tiered.install(app, secret_key=SECRET, **install)

    @app.get("/hello")
    @tiered.view()
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app


def _spans_of_one_request(**install: Any) -> list[str]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(_traced_app(provider, **install)) as client:
        assert client.get("/hello", headers={"Accept": "application/json"}).status_code == 200
    return [span.name for span in exporter.get_finished_spans()]


def test_fastapis_own_telemetry_is_left_to_tiered() -> None:
    """tiered records the request; FastAPI's instrumentation would ask OpenTelemetry's
    providers on every request (about a fifth of a JSON view's time) and add a second span."""
    assert _spans_of_one_request() == []


def test_fastapis_own_telemetry_is_kept_when_asked_for() -> None:
    assert any(name.startswith("GET") for name in _spans_of_one_request(fastapi_telemetry=True))


def test_what_is_alive_after_start_is_kept_out_of_the_collectors_walks() -> None:
    """Full collections walked the whole started app on behalf of each request's garbage; the
    app's own start runs first, so what it builds is frozen too, and all is given back at stop."""
    started_with: list[int] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started_with.append(gc.get_freeze_count())
        yield

    app = FastAPI(lifespan=lifespan)
    tiered.install(app, secret_key=SECRET)
    with TestClient(app):
        frozen = gc.get_freeze_count()
    assert started_with == [0]  # not yet frozen while the app starts
    assert frozen > 0
    assert gc.get_freeze_count() == 0
