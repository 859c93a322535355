"""OpenTelemetry tracing over OTLP/HTTP, with OpenTelemetry's own pieces.

The spans are made by ``opentelemetry-instrumentation-asgi``'s ``OpenTelemetryMiddleware`` (pure
ASGI), which :func:`tiered.install` puts outermost when telemetry has a tracer provider;
:class:`~tiered.telemetry.runtime.Telemetry` only adds ``tiered.*`` attributes to the current
span. Spans leave in batches on the SDK's own thread, so a slow or absent collector never holds a
request.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.types import ASGIApp

__all__ = ["OpenTelemetryMiddleware", "otlp_tracer_provider", "traced"]


def otlp_tracer_provider(endpoint: str, service_name: str) -> TracerProvider:
    """A provider exporting to the collector at ``endpoint`` (``OTEL_EXPORTER_OTLP_ENDPOINT``'s
    form: the base URL; traces go to ``{endpoint}/v1/traces``)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def traced(app: ASGIApp, tracer_provider: TracerProvider) -> ASGIApp:
    """``app`` inside OpenTelemetry's ASGI middleware (no spans per send/receive message)."""
    return OpenTelemetryMiddleware(
        app, tracer_provider=tracer_provider, exclude_spans=["receive", "send"]
    )
