"""The telemetry dashboard's rules: who may see it and ``/metrics``, and what it shows.

Telemetry is tiered's (:class:`tiered.Telemetry`); Taskboard builds it from its settings (Redis
when ``REDIS_URL`` is set, so the dashboard sums every process and instance; OTLP tracing when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) and turns a :class:`~tiered.telemetry.Summary` into the
numbers the charts draw.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime

from pydantic import BaseModel

import tiered
from taskboard.accounts.models import User
from taskboard.settings import Settings
from tiered.telemetry import CLIENT_KINDS, Summary, summarise

logger = logging.getLogger("taskboard.dashboard")

WINDOWS = {15: 1, 60: 5, 360: 30, 1440: 120}
"""The windows on offer, in minutes, each with the width of its time slots in minutes."""
DEFAULT_WINDOW = 60
TOP_REASONS = 8
STORE_UNREADABLE = "The telemetry store could not be read, so the charts are empty. Try again soon."
CLIENT_LABELS = {
    "browser": "browsers",
    "text-browser": "text browsers",
    "crawler": "crawlers",
    "api": "API and script clients",
    "unknown": "unknown",
}
"""How the dashboard names each of tiered's client kinds."""


def build_telemetry(settings: Settings) -> tiered.Telemetry:
    """This app's telemetry: per-minute counts in Redis when ``REDIS_URL`` is set, else memory."""
    store: tiered.TelemetryStore
    if settings.redis_url:
        store = tiered.RedisTelemetryStore(settings.redis_url, prefix="taskboard:telemetry")
    else:
        store = tiered.MemoryTelemetryStore()
    return tiered.Telemetry(
        store=store, otlp_endpoint=settings.otel_endpoint, service_name="taskboard"
    )


def metrics_allowed(token: str | None, authorization: str | None) -> bool:
    """Whether ``Authorization`` is ``Bearer <token>`` (compared in constant time); never when
    no token is configured."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def can_see_dashboard(user: User | None) -> bool:
    return user is not None and bool(user.is_admin)


# --- what the page shows -------------------------------------------------------------------------


class TierSlot(BaseModel):
    """One column of the tier chart: a time slot and each tier's share of its requests."""

    label: str
    requests: int
    core: float
    lite: float
    full: float


class CountRow(BaseModel):
    label: str
    count: int
    share: float
    """Of the chart's largest row (0 to 1), for the bar's length."""


class ClientRow(BaseModel):
    """Requests from one kind of client: API clients and crawlers are counted apart."""

    kind: str
    """tiered's client kind: ``browser``, ``text-browser``, ``crawler``, ``api`` or ``unknown``."""
    label: str
    count: int
    share: float
    """Of the kind with the most requests (0 to 1), for the bar's length."""


class LatencyOut(BaseModel):
    tier: str
    representation: str
    requests: int
    p50_ms: float
    p95_ms: float


class JavaScriptOut(BaseModel):
    tier: str
    page_views: int
    confirmed: int
    never_ran: int
    never_ran_share: float | None


class FlagOut(BaseModel):
    key: str
    on: int
    off: int
    on_share: float


class DashboardPage(BaseModel):
    minutes: int
    windows: list[int]
    since: datetime
    requests: int
    tier_totals: dict[str, int]
    tier_slots: list[TierSlot]
    clients: list[ClientRow]
    reasons: list[CountRow]
    latency: list[LatencyOut]
    latency_max_ms: float
    javascript: list[JavaScriptOut]
    flags: list[FlagOut]
    failures: list[CountRow]
    notice: str | None = None


def window(minutes: int | None) -> int:
    return minutes if minutes in WINDOWS else DEFAULT_WINDOW


async def dashboard(telemetry: tiered.Telemetry, minutes: int) -> DashboardPage:
    """The fleet's last ``minutes`` (one of :data:`WINDOWS`); an unreadable store shows empty
    charts and :data:`STORE_UNREADABLE` rather than failing the page."""
    minutes = window(minutes)
    notice = None
    try:
        summary = await telemetry.summary(minutes, slot_minutes=WINDOWS[minutes])
    except Exception:
        logger.warning("Could not read the telemetry store", exc_info=True)
        telemetry.failed("dashboard")
        summary = _empty(minutes)
        notice = STORE_UNREADABLE
    return page_of(summary, minutes, notice)


def _empty(minutes: int) -> Summary:
    last = int(datetime.now(UTC).timestamp() // 60)
    return summarise({}, last - minutes + 1, last, slot_minutes=WINDOWS[minutes])


def page_of(summary: Summary, minutes: int, notice: str | None = None) -> DashboardPage:
    slots = [
        TierSlot(
            label=_clock(slot.first_minute),
            requests=slot.total,
            core=_share(slot.by_tier["core"], slot.total),
            lite=_share(slot.by_tier["lite"], slot.total),
            full=_share(slot.by_tier["full"], slot.total),
        )
        for slot in summary.slots
    ]
    latency = [
        LatencyOut(
            tier=row.tier,
            representation=row.representation,
            requests=row.requests,
            p50_ms=round(row.p50_ms or 0.0, 2),
            p95_ms=round(row.p95_ms or 0.0, 2),
        )
        for row in summary.latency
        if row.tier in ("core", "lite", "full")
    ]
    flags = [
        FlagOut(
            key=row.key,
            on=row.variants.get("on", 0),
            off=row.variants.get("off", 0),
            on_share=_share(row.variants.get("on", 0), row.total),
        )
        for row in summary.flags
    ]
    return DashboardPage(
        minutes=minutes,
        windows=list(WINDOWS),
        since=datetime.fromtimestamp(summary.first_minute * 60, UTC),
        requests=summary.requests,
        tier_totals=summary.requests_by_tier,
        tier_slots=slots,
        clients=_clients(summary.requests_by_client),
        reasons=_rows(summary.reasons[:TOP_REASONS]),
        latency=latency,
        latency_max_ms=max((row.p95_ms for row in latency), default=0.0),
        javascript=[
            JavaScriptOut(
                tier=row.tier,
                page_views=row.page_views,
                confirmed=row.confirmed,
                never_ran=row.never_ran,
                never_ran_share=row.never_ran_share,
            )
            for row in summary.javascript
        ],
        flags=flags,
        failures=_rows(summary.failures),
        notice=notice,
    )


def _rows(counts: list[tuple[str, int]]) -> list[CountRow]:
    largest = max((count for _, count in counts), default=0)
    return [
        CountRow(label=label, count=count, share=_share(count, largest)) for label, count in counts
    ]


def _clients(counts: dict[str, int]) -> list[ClientRow]:
    largest = max(counts.values(), default=0)
    return [
        ClientRow(
            kind=kind,
            label=CLIENT_LABELS[kind],
            count=counts.get(kind, 0),
            share=_share(counts.get(kind, 0), largest),
        )
        for kind in CLIENT_KINDS
    ]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _clock(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%H:%M")
