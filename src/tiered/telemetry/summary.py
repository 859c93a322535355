"""Sum a range of per-minute buckets into what a dashboard shows: pure data, no I/O.

Example::

    >>> buckets = {100: {"req|full|page": 3, "req|core|page": 1, "pv|full": 3, "js|full": 2,
    ...                  "client|browser": 3, "client|api": 1}}
    >>> summary = summarise(buckets, first_minute=100, last_minute=100)
    >>> summary.requests_by_tier["full"], summary.javascript[0].never_ran
    (3, 1)
    >>> summary.requests_by_client["api"]
    1
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tiered.asgi.accesslog import SENT_REPRESENTATIONS
from tiered.core.capabilities import CLIENT_KINDS
from tiered.telemetry.latency import percentile
from tiered.telemetry.store import Buckets

TIERS = ("core", "lite", "full")

__all__ = [
    "CLIENT_KINDS",
    "TIERS",
    "FlagRow",
    "JavaScriptRow",
    "LatencyRow",
    "Slot",
    "Summary",
    "summarise",
]


@dataclass(frozen=True, slots=True)
class Slot:
    """Requests by tier in ``minutes`` minutes from ``first_minute``."""

    first_minute: int
    minutes: int
    by_tier: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_tier.values())


@dataclass(frozen=True, slots=True)
class LatencyRow:
    tier: str
    representation: str
    requests: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class JavaScriptRow:
    """The no-JavaScript estimate for one tier: page views served to browsers minus the
    bootstrap script's confirmations (never below zero: a beacon may outlive its minute)."""

    tier: str
    page_views: int
    confirmed: int

    @property
    def never_ran(self) -> int:
        return max(0, self.page_views - self.confirmed)

    @property
    def never_ran_share(self) -> float | None:
        return self.never_ran / self.page_views if self.page_views else None


@dataclass(frozen=True, slots=True)
class FlagRow:
    key: str
    variants: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.variants.values())


@dataclass(frozen=True, slots=True)
class Summary:
    first_minute: int
    last_minute: int
    requests_by_tier: dict[str, int]
    slots: list[Slot]
    reasons: list[tuple[str, int]]
    """Why requests got less than the full tier (reasons of core and lite requests), most frequent
    first; a request with two reasons counts for both."""
    latency: list[LatencyRow]
    javascript: list[JavaScriptRow]
    flags: list[FlagRow]
    failures: list[tuple[str, int]]
    status_classes: dict[str, int] = field(default_factory=dict)
    requests_by_client: dict[str, int] = field(default_factory=dict)
    """Requests by client kind, every one of :data:`CLIENT_KINDS` in that order: browsers, text
    browsers, crawlers, API and script clients (``api``), and the unknown."""

    @property
    def requests(self) -> int:
        return sum(self.requests_by_tier.values())


def summarise(
    buckets: Buckets, first_minute: int, last_minute: int, *, slot_minutes: int = 5
) -> Summary:
    """Sum ``buckets`` between two minutes (inclusive), with tier shares in slots of
    ``slot_minutes``."""
    by_tier: Counter[str] = Counter()
    slot_counts: dict[int, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    latency: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    page_views: Counter[str] = Counter()
    confirmed: Counter[str] = Counter()
    flags: dict[str, Counter[str]] = defaultdict(Counter)
    failures: Counter[str] = Counter()
    status: Counter[str] = Counter()
    clients: Counter[str] = Counter()
    for minute, fields in buckets.items():
        if not first_minute <= minute <= last_minute:
            continue
        slot = first_minute + (minute - first_minute) // slot_minutes * slot_minutes
        for name, count in fields.items():
            kind, _, rest = name.partition("|")
            parts = rest.split("|")
            if kind == "req" and len(parts) == 2:
                by_tier[parts[0]] += count
                slot_counts[slot][parts[0]] += count
            elif kind == "why" and len(parts) == 2 and parts[0] != "full":
                reasons[parts[1]] += count
            elif kind == "lat" and len(parts) == 3 and parts[2].isdigit():
                latency[(parts[0], parts[1])][int(parts[2])] += count
            elif kind == "pv":
                page_views[rest] += count
            elif kind == "js":
                confirmed[rest] += count
            elif kind == "flag" and len(parts) == 2:
                flags[parts[0]][parts[1]] += count
            elif kind == "fail":
                failures[rest] += count
            elif kind == "status":
                status[rest] += count
            elif kind == "client":
                clients[rest] += count
    slots = [
        Slot(start, slot_minutes, {tier: slot_counts[start][tier] for tier in TIERS})
        for start in range(first_minute, last_minute + 1, slot_minutes)
    ]
    return Summary(
        first_minute=first_minute,
        last_minute=last_minute,
        requests_by_tier={tier: by_tier[tier] for tier in TIERS},
        slots=slots,
        reasons=reasons.most_common(),
        latency=[
            LatencyRow(
                tier,
                representation,
                sum(counts.values()),
                percentile(counts, 0.5),
                percentile(counts, 0.95),
            )
            for (tier, representation), counts in sorted(latency.items(), key=_latency_order)
        ],
        javascript=[JavaScriptRow(tier, page_views[tier], confirmed[tier]) for tier in TIERS],
        flags=[FlagRow(key, dict(sorted(flags[key].items()))) for key in sorted(flags)],
        failures=failures.most_common(),
        status_classes=dict(sorted(status.items())),
        requests_by_client={kind: clients[kind] for kind in CLIENT_KINDS},
    )


_REPRESENTATION_ORDER: dict[str, int] = {
    representation: rank for rank, representation in enumerate(SENT_REPRESENTATIONS)
}


def _latency_order(item: tuple[tuple[str, str], Counter[int]]) -> tuple[int, int, str]:
    (tier, representation), _ = item
    tier_rank = TIERS.index(tier) if tier in TIERS else len(TIERS)
    return tier_rank, _REPRESENTATION_ORDER.get(representation, 9), representation
