"""Telemetry: who got which experience and why, per request, per flag, and for the whole fleet.

See :mod:`tiered.telemetry.runtime` for what is counted and how it never holds up a request,
:mod:`tiered.telemetry.store` for the per-minute buckets a fleet shares, and
:mod:`tiered.telemetry.endpoints` for the bootstrap script's beacon and failure reports.
"""

from tiered.telemetry.endpoints import MAX_BODY_BYTES, TelemetryEndpoints
from tiered.telemetry.latency import BOUNDS_MS, bucket_of, percentile
from tiered.telemetry.metrics import EXPOSITION_CONTENT_TYPE, Metrics
from tiered.telemetry.runtime import FAILURE_KINDS, Telemetry
from tiered.telemetry.store import MemoryTelemetryStore, RedisTelemetryStore, TelemetryStore
from tiered.telemetry.summary import (
    CLIENT_KINDS,
    FlagRow,
    JavaScriptRow,
    LatencyRow,
    Slot,
    Summary,
    summarise,
)

__all__ = [
    "BOUNDS_MS",
    "CLIENT_KINDS",
    "EXPOSITION_CONTENT_TYPE",
    "FAILURE_KINDS",
    "MAX_BODY_BYTES",
    "FlagRow",
    "JavaScriptRow",
    "LatencyRow",
    "MemoryTelemetryStore",
    "Metrics",
    "RedisTelemetryStore",
    "Slot",
    "Summary",
    "Telemetry",
    "TelemetryEndpoints",
    "TelemetryStore",
    "bucket_of",
    "percentile",
    "summarise",
]
