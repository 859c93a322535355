"""``Telemetry``: who got which experience and why, counted per request, never in the way of one.

Give it to ``tiered.install(app, telemetry=Telemetry(...))``. Then, for every request, the access
log's :class:`~tiered.asgi.accesslog.RequestRecord` is counted three ways:

- into Prometheus metrics in the app's own registry (:class:`~tiered.telemetry.metrics.Metrics`);
- into this process's per-minute tally, which a short task adds to the
  :class:`~tiered.telemetry.store.TelemetryStore` about once a second (memory by default; Redis
  for a fleet), off the request path;
- as ``tiered.*`` attributes on the current OpenTelemetry span, when tracing is configured
  (``otlp_endpoint=``; the span itself is OpenTelemetry's ASGI middleware's).

Also counted: flag evaluations (:meth:`Telemetry.watch` subscribes to ``Flags.listeners``), the
bootstrap script's beacons and its enhancement failure reports (tiered's own endpoints, see
:mod:`tiered.telemetry.endpoints`).

Nothing here raises into a request: every failure is swallowed, counted in
``tiered_telemetry_errors_total`` and logged once (again only after telemetry recovered).

Example::

    telemetry = tiered.Telemetry(store=tiered.RedisTelemetryStore(os.environ["REDIS_URL"]))
    tiered.install(app, telemetry=telemetry, flags=flags)
    summary = await telemetry.summary(minutes=60)   # the fleet's last hour
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry import trace
from prometheus_client import CollectorRegistry
from starlette.types import Scope

from tiered.asgi.accesslog import RequestRecord, SentRepresentation
from tiered.asgi.context import SCOPE_KEY, RequestContext
from tiered.telemetry.latency import bucket_of
from tiered.telemetry.metrics import UNMATCHED_ROUTE, Metrics
from tiered.telemetry.store import MemoryTelemetryStore, TelemetryStore
from tiered.telemetry.summary import TIERS, Summary, summarise

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from tiered.flags.runtime import Flags

logger = logging.getLogger("tiered.telemetry")

FAILURE_KINDS = ("network", "swap", "htmx-missing", "script")
"""The enhancement failures the bootstrap script reports; any other kind is counted as ``other``."""
OTHER_FAILURE = "other"

_MAX_FLAG_KEY = 64


class Telemetry:
    """Per-request telemetry for one app (see the module docstring).

    ``store``: where the per-minute counts are summed (default: this process's memory).
    ``registry``: the Prometheus registry to register in (default: a new one of its own).
    ``otlp_endpoint``: an OTLP/HTTP collector (``http://collector:4318``); spans are then made by
    OpenTelemetry's ASGI middleware, which ``install`` adds, and carry ``tiered.*`` attributes.
    ``tracer_provider``: an OpenTelemetry SDK provider of your own, instead of ``otlp_endpoint``.
    ``flush_seconds``: how long counts wait in this process before they are added to the store.
    ``beacon_limits``/``report_limits``: per visitor and per client address, in the limits
    library's syntax (``"120/minute"``); past them the endpoints answer 429 and count nothing.
    """

    def __init__(
        self,
        *,
        store: TelemetryStore | None = None,
        registry: CollectorRegistry | None = None,
        otlp_endpoint: str | None = None,
        tracer_provider: TracerProvider | None = None,
        service_name: str = "tiered-app",
        flush_seconds: float = 1.0,
        beacon_limits: tuple[str, str] = ("120/minute", "2400/minute"),
        report_limits: tuple[str, str] = ("10/minute", "200/minute"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store: TelemetryStore = store if store is not None else MemoryTelemetryStore()
        self.metrics = Metrics(registry)
        if tracer_provider is None and otlp_endpoint:
            from tiered.telemetry.tracing import otlp_tracer_provider

            tracer_provider = otlp_tracer_provider(otlp_endpoint, service_name)
        self.tracer_provider = tracer_provider
        self.flush_seconds = flush_seconds
        self.beacon_limits = beacon_limits
        self.report_limits = report_limits
        self.own_paths: frozenset[str] = frozenset()
        """The paths of tiered's telemetry endpoints, left out of the per-minute request counts."""
        self._clock = clock
        self._pending: dict[int, Counter[str]] = {}
        self._minute = -1
        self._current: Counter[str] = Counter()
        self._scheduled: asyncio.TimerHandle | None = None
        self._scheduled_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._logged: set[str] = set()

    # --- counting (on the request path: cheap, never raising) ------------------------------------

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request (called by the access-log middleware).

        A page view, for the estimate of how many never ran JavaScript, is a ``page`` sent to a
        client of kind ``browser`` (not a crawler, an API client or a text browser), for a
        method other than ``HEAD``, and not asked for by htmx: a history restore or a boosted
        link gets a whole page, but into a document whose script already ran and never beacons
        again.
        """
        try:
            tier = record.tier or "none"
            client_kind = record.client_kind or "none"
            representation = record.representation
            self.metrics.request(
                record.route,
                record.method,
                representation,
                tier,
                client_kind,
                record.status,
                record.duration_ms / 1000,
            )
            for reason in record.reasons:
                self.metrics.count("reasons", tier, reason)
            page_view = (
                representation == "page"
                and client_kind == "browser"
                and record.method != "HEAD"
                and not record.htmx
            )
            if page_view:
                self.metrics.count("page_views", tier)
            if record.path in self.own_paths:
                return  # a beacon or report: counted by its endpoint, not as a page's traffic
            fields = self._fields()
            fields[f"req|{tier}|{representation}"] += 1
            fields[f"client|{client_kind}"] += 1
            fields[f"status|{record.status // 100}xx"] += 1
            fields[f"lat|{tier}|{representation}|{bucket_of(record.duration_ms)}"] += 1
            for reason in record.reasons:
                fields[f"why|{tier}|{reason}"] += 1
            if page_view:
                fields[f"pv|{tier}"] += 1
        except Exception:
            self.failed("observe")

    def flag_evaluated(self, key: str, variant: str, reason: str) -> None:
        """A ``Flags.listeners`` entry: count one evaluation of ``key``."""
        try:
            key = key[:_MAX_FLAG_KEY].replace("|", "_")
            self.metrics.count("flag_evaluations", key, variant, reason)
            self._fields()[f"flag|{key}|{variant}"] += 1
        except Exception:
            self.failed("flags")

    def watch(self, flags: Flags) -> None:
        """Count every evaluation of ``flags`` (``install`` does this when given both)."""
        if self.flag_evaluated not in flags.listeners:
            flags.listeners.append(self.flag_evaluated)

    def confirmed(self, tier: str) -> None:
        """The bootstrap script ran on a page served in ``tier`` (one of :data:`TIERS`)."""
        self.metrics.count("js_confirmations", tier)
        self._fields()[f"js|{tier}"] += 1

    def enhancement_failed(self, kind: str, tier: str) -> None:
        """The bootstrap script reported a failure; unknown kinds and tiers are ``other``."""
        kind = kind if kind in FAILURE_KINDS else OTHER_FAILURE
        tier = tier if tier in TIERS else "other"
        self.metrics.count("enhancement_failures", kind, tier)
        self._fields()[f"fail|{kind}"] += 1

    def failed(self, where: str) -> None:
        """Count and log (once, until telemetry works again there) a failure of telemetry."""
        self.metrics.count("telemetry_errors", where)
        if where not in self._logged:
            self._logged.add(where)
            logger.warning("Telemetry failed (%s); requests go on without it", where, exc_info=True)

    def _fields(self) -> Counter[str]:
        minute = int(self._clock() // 60)
        if minute != self._minute:
            self._minute = minute
            self._current = self._pending.setdefault(minute, Counter())
        self._schedule_flush()
        return self._current

    def response_started(
        self, scope: Scope, route: str | None, representation: SentRepresentation
    ) -> None:
        """Add ``tiered.*`` attributes to the current span, while OpenTelemetry's ASGI middleware
        still has it open (it ends the span with the last body message)."""
        if self.tracer_provider is None:
            return
        try:
            span = trace.get_current_span()
            ctx: RequestContext | None = scope.get(SCOPE_KEY)
            if not span.is_recording() or ctx is None:
                return
            client = ctx.client
            span.set_attributes(
                {
                    "tiered.route": route or getattr(scope.get("route"), "path", UNMATCHED_ROUTE),
                    "tiered.tier": client.tier,
                    "tiered.reasons": list(client.reasons),
                    "tiered.client_kind": client.kind,
                    "tiered.representation": representation,
                }
            )
        except Exception:
            self.failed("tracing")

    # --- adding to the store (off the request path) ----------------------------------------------

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # counted outside an event loop (a sync test): flushed when next read
        if self._scheduled is not None and self._scheduled_loop is loop:
            return
        self._scheduled_loop = loop
        self._scheduled = loop.call_later(self.flush_seconds, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = None
        task = loop.create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Add this process's counts to the store now; on failure they are dropped and counted."""
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        self._minute = -1
        try:
            await self.store.add(pending)
        except Exception:
            self.failed("store")
        else:
            self._logged.discard("store")

    async def summary(self, minutes: int = 60, *, slot_minutes: int = 5) -> Summary:
        """The fleet's last ``minutes`` minutes (this one included), after adding this
        process's counts. Raises what the store raises (a dashboard shows that)."""
        await self.flush()
        last = int(self._clock() // 60)
        first = last - minutes + 1
        buckets = await self.store.read(first, last)
        return summarise(buckets, first, last, slot_minutes=slot_minutes)

    async def aclose(self) -> None:
        """Flush what is left and close the store (``install`` calls this at shutdown)."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        for task in list(self._tasks):
            try:
                await task
            except Exception:  # a task of another event loop (tests), or one that failed
                self.failed("flush")
        await self.flush()
        try:
            await self.store.aclose()
        except Exception:
            self.failed("store")
        if self.tracer_provider is not None and hasattr(self.tracer_provider, "force_flush"):
            self.tracer_provider.force_flush(timeout_millis=2000)
