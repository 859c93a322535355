"""tiered's Prometheus metrics, in a registry the app owns (never the process-global one).

Two apps in one process (tests, or an admin app beside the public one) each keep their own
counts; the app exposes ``exposition()`` wherever it likes, behind whatever guard it likes.

==========================================  =====================================================
``tiered_requests_total``                   by route template, method, representation, tier,
                                            client kind and status class
``tiered_request_duration_seconds``         histogram, by route, method, representation, tier
``tiered_tier_reasons_total``               requests by tier and each reason for it
``tiered_page_views_total``                 HTML page views served to browsers, by tier
``tiered_js_confirmations_total``           the bootstrap script's beacons, by tier
``tiered_flag_evaluations_total``           by flag, variant and OpenFeature reason
``tiered_enhancement_failures_total``       reported by the bootstrap script, by kind and tier
``tiered_telemetry_errors_total``           telemetry's own failures, by where they happened
==========================================  =====================================================

Label values come from closed sets or the app's own route templates; a path that matched no
route is ``(unmatched)``, so a scanner cannot create a series per URL:

``representation``  what was sent: ``page``, ``fragment``, ``json``, ``problem``, ``redirect``,
                    ``empty`` or ``other`` (:data:`tiered.asgi.accesslog.SENT_REPRESENTATIONS`)
``tier``            ``core``, ``lite``, ``full``, or ``none`` where tiered's middleware did not run
``client_kind``     ``browser``, ``text-browser``, ``crawler``, ``api``, ``unknown``, or ``none``
                    as for ``tier`` (:data:`tiered.core.capabilities.ClientKind`)
``status_class``    ``1xx`` … ``5xx``

The histogram has no ``client_kind``: the kind multiplies the counter's series by five at most,
but would multiply the histogram's fourteen buckets too.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

UNMATCHED_ROUTE = "(unmatched)"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of :meth:`Metrics.exposition`'s text."""

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metric families, and a cache of their labelled children (a ``labels()`` call is a
    few microseconds; a dict lookup is a tenth of one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tiered_requests",
            "HTTP requests by route template, method, representation, tier, client kind and "
            "status class.",
            ["route", "method", "representation", "tier", "client_kind", "status_class"],
            registry=r,
        )
        self.duration = Histogram(
            "tiered_request_duration_seconds",
            "Time from a request's arrival to the end of its response body.",
            ["route", "method", "representation", "tier"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.reasons = Counter(
            "tiered_tier_reasons",
            "Requests by tier and each reason for it.",
            ["tier", "reason"],
            registry=r,
        )
        self.page_views = Counter(
            "tiered_page_views",
            "HTML page views served to browsers, by tier.",
            ["tier"],
            registry=r,
        )
        self.js_confirmations = Counter(
            "tiered_js_confirmations",
            "Page views whose bootstrap script ran and said so (a beacon), by tier.",
            ["tier"],
            registry=r,
        )
        self.flag_evaluations = Counter(
            "tiered_flag_evaluations",
            "Feature flag evaluations by flag, variant and reason.",
            ["flag", "variant", "reason"],
            registry=r,
        )
        self.enhancement_failures = Counter(
            "tiered_enhancement_failures",
            "Enhancement failures reported by the bootstrap script, by kind and tier.",
            ["kind", "tier"],
            registry=r,
        )
        self.telemetry_errors = Counter(
            "tiered_telemetry_errors",
            "Telemetry's own failures (never a request's), by where they happened.",
            ["where"],
            registry=r,
        )
        self._request_children: dict[tuple[str, str, str, str, str, str], tuple[Any, Any]] = {}
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def request(
        self,
        route: str | None,
        method: str,
        representation: str,
        tier: str,
        client_kind: str,
        status: int,
        duration_seconds: float,
    ) -> None:
        key = (
            route or UNMATCHED_ROUTE,
            method if method in KNOWN_METHODS else "OTHER",
            representation,
            tier,
            client_kind,
            f"{status // 100}xx",
        )
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.duration.labels(*key[:4]))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(duration_seconds)

    def count(self, family: str, *labels: str) -> None:
        """Add one to ``family`` (an attribute name: ``"reasons"``, ``"page_views"``, …)."""
        key = (family, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = getattr(self, family).labels(*labels)
        child.inc()

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric (content type
        :data:`EXPOSITION_CONTENT_TYPE`)."""
        return generate_latest(self.registry)
