"""Telemetry: counters move by exactly the requests sent, the beacon and report endpoints are
bounded, percentiles add up across processes, and telemetry never fails a request."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from starlette.requests import Request
from starlette.testclient import TestClient

import tiered
from tiered import FlagDefinition, Flags, Telemetry, TieredSettings
from tiered.asgi.accesslog import ACCESS_LOGGER
from tiered.telemetry import (
    MAX_BODY_BYTES,
    MemoryTelemetryStore,
    RedisTelemetryStore,
    Summary,
    bucket_of,
    percentile,
    summarise,
)
from tiered.telemetry.store import Buckets
from tiered.testing import CHROME_USER_AGENT as CHROME
from tiered.testing import csrf_token

LYNX = "Lynx/2.9.0 libwww-FM/2.14"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAGE = (
    '{% extends "tiered/layout.html" %}{% block title %}Home{% endblock %}'
    '{% block main %}{% block body %}<p>Hello</p>{% if flag("inline_edit") %}<p>edit</p>'
    "{% endif %}{% endblock %}{% endblock %}"
)
_META = re.compile(r'<meta name="tiered-tier" content="([a-z]+)" data-beacon="([^"]+)"')


class Home(BaseModel):
    message: str = "hello"


def build(
    tmp_path: Path, telemetry: Telemetry | None, flags: Flags | None = None, **kwargs: object
) -> FastAPI:
    (tmp_path / "home.html").write_text(PAGE, encoding="utf-8")
    app = FastAPI()
    tiered.install(
        app,
        TieredSettings(debug=True, template_dirs=(str(tmp_path),)),
        telemetry=telemetry,
        flags=flags or Flags({"inline_edit": FlagDefinition("inline_edit", default=True)}),
    )

    @app.get("/")
    @tiered.view("home.html", block="body")
    async def home() -> Home:
        return Home()

    @app.get("/flagged")
    async def flagged(request: Request) -> dict[str, bool]:
        return {"on": tiered.flag(request, "inline_edit")}

    return app


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def client(tmp_path: Path, telemetry: Telemetry) -> Iterator[TestClient]:
    with TestClient(build(tmp_path, telemetry), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def summary_of(client: TestClient, telemetry: Telemetry) -> Summary:
    assert client.portal is not None
    return client.portal.call(telemetry.summary)


def samples(telemetry: Telemetry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Each sample of metric ``name`` (with its labels, sorted) in the Prometheus exposition."""
    text = telemetry.metrics.exposition().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def beacon(client: TestClient, page_html: str, **extra: str) -> int:
    tier, url = _META.search(page_html).groups()  # type: ignore[union-attr]
    token = csrf_token(page_html)
    files = {"csrf_token": (None, token), "tier": (None, tier)}
    files.update({name: (None, value) for name, value in extra.items()})
    return client.post(url, files=files).status_code


def report(client: TestClient, kind: str) -> int:
    page = client.get("/", headers={"User-Agent": CHROME}).text
    token = csrf_token(page)
    data = {"csrf_token": token, "tier": "full", "kind": kind}
    return client.post("/_tiered/report", data=data).status_code


# --- page views and the script's confirmations -------------------------------------------------


def test_three_no_js_and_seven_js_page_views_read_as_three_and_seven(
    client: TestClient, telemetry: Telemetry
) -> None:
    for _ in range(3):  # the script never ran: no beacon
        assert client.get("/", headers={"User-Agent": CHROME}).status_code == 200
    for _ in range(7):
        page = client.get("/", headers={"User-Agent": CHROME}).text
        assert beacon(client, page) == 204

    summary = summary_of(client, telemetry)

    full = summary.javascript[2]
    assert (full.tier, full.page_views, full.confirmed, full.never_ran) == ("full", 10, 7, 3)
    assert full.never_ran_share == pytest.approx(0.3)
    assert summary.requests_by_tier == {"core": 0, "lite": 0, "full": 10}  # beacons left out
    assert samples(telemetry, "tiered_page_views_total") == {(("tier", "full"),): 10.0}
    assert samples(telemetry, "tiered_js_confirmations_total") == {(("tier", "full"),): 7.0}


def test_only_html_pages_to_browsers_count_as_page_views(
    client: TestClient, telemetry: Telemetry
) -> None:
    client.get("/", headers={"User-Agent": LYNX})  # a text browser: core, and never runs a script
    client.get("/", headers={"User-Agent": CHROME, "HX-Request": "true"})  # a fragment
    client.get("/", headers={"User-Agent": CHROME, "Accept": "application/json"})
    client.head("/", headers={"User-Agent": CHROME})
    client.get("/", headers={"User-Agent": GOOGLEBOT})  # a crawler runs no beacon
    client.get("/", headers={"User-Agent": "curl/8.5.0"})  # an API client gets the page
    client.get("/", headers={"User-Agent": CHROME, "Authorization": "Bearer t"})  # a script
    # A history restore (htmx 4's headers) and a boosted link: whole pages, asked for by htmx in
    # a document whose script already ran and beaconed.
    client.get(
        "/",
        headers={
            "User-Agent": CHROME,
            "HX-History-Restore-Request": "true",
            "HX-Request-Type": "full",
        },
    )
    client.get(
        "/",
        headers={
            "User-Agent": CHROME,
            "HX-Request": "true",
            "HX-Request-Type": "full",
            "HX-Boosted": "true",
        },
    )

    summary = summary_of(client, telemetry)

    assert [row.page_views for row in summary.javascript] == [0, 0, 0]
    assert summary.requests == 9
    assert samples(telemetry, "tiered_page_views_total") == {}


def test_the_page_names_its_tier_and_the_telemetry_endpoints(client: TestClient) -> None:
    html = client.get("/", headers={"User-Agent": CHROME, "Save-Data": "on"}).text

    assert (
        '<meta name="tiered-tier" content="lite" data-beacon="/_tiered/beacon" '
        'data-report="/_tiered/report">' in html
    )
    assert "tiered-tier" not in client.get("/", headers={"User-Agent": LYNX}).text  # no script


def test_without_telemetry_the_page_names_only_its_tier(tmp_path: Path) -> None:
    with TestClient(build(tmp_path, None)) as client:
        html = client.get("/", headers={"User-Agent": CHROME}).text
        assert '<meta name="tiered-tier" content="full">' in html
        assert client.post("/_tiered/beacon").status_code in (403, 404)


def test_a_beacon_needs_the_pages_csrf_token(client: TestClient, telemetry: Telemetry) -> None:
    client.get("/", headers={"User-Agent": CHROME})

    response = client.post("/_tiered/beacon", files={"tier": (None, "full")})

    assert response.status_code == 403
    assert summary_of(client, telemetry).javascript[2].confirmed == 0


def test_a_beacon_for_an_unknown_tier_is_refused(client: TestClient, telemetry: Telemetry) -> None:
    page = client.get("/", headers={"User-Agent": CHROME}).text
    token = csrf_token(page)

    response = client.post(
        "/_tiered/beacon",
        data={"csrf_token": token, "tier": "platinum"},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 400
    assert "expected one of 'core', 'lite', 'full'" in response.json()["detail"]
    assert sum(row.confirmed for row in summary_of(client, telemetry).javascript) == 0


# --- tiers, reasons, representations, latency -------------------------------------------------


def test_requests_are_counted_by_tier_reason_and_representation(
    client: TestClient, telemetry: Telemetry
) -> None:
    client.get("/", headers={"User-Agent": CHROME, "Save-Data": "on"})
    client.get("/", headers={"User-Agent": LYNX})
    client.get("/", headers={"User-Agent": CHROME, "Accept": "application/json"})
    client.get("/nowhere", headers={"User-Agent": CHROME, "Accept": "application/json"})

    summary = summary_of(client, telemetry)

    assert summary.requests_by_tier == {"core": 1, "lite": 1, "full": 2}
    assert dict(summary.reasons) == {"save-data": 1, "text-browser": 1}
    assert summary.status_classes == {"2xx": 3, "4xx": 1}
    rows = {(row.tier, row.representation): row.requests for row in summary.latency}
    assert rows == {("core", "page"): 1, ("lite", "page"): 1, ("full", "json"): 1,
                    ("full", "problem"): 1}  # fmt: skip
    requests = samples(telemetry, "tiered_requests_total")
    assert (
        requests[
            (
                ("client_kind", "browser"),
                ("method", "GET"),
                ("representation", "problem"),
                ("route", "(unmatched)"),
                ("status_class", "4xx"),
                ("tier", "full"),
            )
        ]
        == 1.0
    )
    assert (
        requests[
            (
                ("client_kind", "browser"),
                ("method", "GET"),
                ("representation", "page"),
                ("route", "/"),
                ("status_class", "2xx"),
                ("tier", "lite"),
            )
        ]
        == 1.0
    )
    assert (
        samples(telemetry, "tiered_tier_reasons_total")[(("reason", "save-data"), ("tier", "lite"))]
        == 1.0
    )


def test_requests_are_counted_by_kind_of_client(client: TestClient, telemetry: Telemetry) -> None:
    client.get("/", headers={"User-Agent": CHROME})
    client.get("/", headers={"User-Agent": CHROME, "HX-Request": "true"})
    client.get("/", headers={"User-Agent": LYNX})
    client.get("/", headers={"User-Agent": GOOGLEBOT})
    client.get("/", headers={"User-Agent": "curl/8.5.0", "Accept": "application/json"})
    client.get("/", headers={"User-Agent": "python-httpx/0.28.1"})
    client.get("/", headers={"User-Agent": "", "Accept": "application/json"})
    client.get("/", headers={"User-Agent": "nightly/1.0", "Authorization": "Bearer t"})
    client.get("/", headers={"User-Agent": ""})

    summary = summary_of(client, telemetry)

    assert summary.requests_by_client == {
        "browser": 2,
        "text-browser": 1,
        "crawler": 1,
        "api": 4,
        "unknown": 1,
    }
    by_kind: dict[str, float] = {}
    for labels, value in samples(telemetry, "tiered_requests_total").items():
        kind = dict(labels)["client_kind"]
        by_kind[kind] = by_kind.get(kind, 0) + value
    assert by_kind == {"browser": 2, "text-browser": 1, "crawler": 1, "api": 4, "unknown": 1}


def test_client_kinds_are_summed_from_buckets() -> None:
    buckets: Buckets = {100: {"client|api": 2, "client|crawler": 1}, 101: {"client|api": 3}}

    summary = summarise(buckets, 100, 101)

    assert summary.requests_by_client == {
        "browser": 0,
        "text-browser": 0,
        "crawler": 1,
        "api": 5,
        "unknown": 0,
    }


def test_percentiles_come_from_buckets_summed_across_processes() -> None:
    one: dict[str, int] = {f"lat|full|page|{bucket_of(2.0)}": 90}
    other: dict[str, int] = {f"lat|full|page|{bucket_of(200.0)}": 10}
    buckets: Buckets = {100: one, 101: other}

    [row] = summarise(buckets, 100, 101).latency

    assert row.requests == 100
    assert row.p50_ms is not None
    assert 1.6 < row.p50_ms < 2.5
    assert row.p95_ms is not None
    assert 160 < row.p95_ms < 250


def test_percentile_of_an_empty_histogram_is_none_and_extremes_are_clamped() -> None:
    assert percentile({}, 0.5) is None
    assert percentile({bucket_of(0.001): 1}, 0.5) == pytest.approx(0.1)
    assert percentile({bucket_of(10**9): 1}, 0.95) == pytest.approx(100_000)


def test_tier_shares_fall_into_slots_of_minutes() -> None:
    buckets: Buckets = {
        100: {"req|full|page": 3},
        104: {"req|core|page": 1},
        105: {"req|lite|json": 2},
    }

    summary = summarise(buckets, 100, 109, slot_minutes=5)

    assert [(slot.first_minute, slot.by_tier) for slot in summary.slots] == [
        (100, {"core": 1, "lite": 0, "full": 3}),
        (105, {"core": 0, "lite": 2, "full": 0}),
    ]


# --- flags ------------------------------------------------------------------------------------


def test_flag_evaluations_are_counted_by_flag_and_variant(tmp_path: Path) -> None:
    telemetry = Telemetry()
    inline_edit = FlagDefinition(
        "inline_edit", rules=(tiered.Rule(when={"save_data": True}, value=False),), default=True
    )
    app = build(tmp_path, telemetry, Flags({"inline_edit": inline_edit}))
    with TestClient(app) as client:
        for _ in range(4):
            client.get("/flagged", headers={"User-Agent": CHROME})
        client.get("/flagged", headers={"User-Agent": CHROME, "Save-Data": "on"})
        client.get("/", headers={"User-Agent": CHROME})  # the template asks: one evaluation

        summary = summary_of(client, telemetry)

    assert [(row.key, row.variants) for row in summary.flags] == [
        ("inline_edit", {"off": 1, "on": 5})
    ]
    evaluations = samples(telemetry, "tiered_flag_evaluations_total")
    assert sum(evaluations.values()) == 6
    assert evaluations[(("flag", "inline_edit"), ("reason", "targeting_match"), ("variant", "off"))]


# --- failure reports ----------------------------------------------------------------------------


def test_reports_count_known_kinds_and_everything_else_as_other(
    client: TestClient, telemetry: Telemetry
) -> None:
    assert report(client, "network") == 204
    assert report(client, "swap") == 204
    assert report(client, "<img src=x onerror=alert(1)>" * 10) == 204

    summary = summary_of(client, telemetry)

    assert dict(summary.failures) == {"network": 1, "swap": 1, "other": 1}
    failures = samples(telemetry, "tiered_enhancement_failures_total")
    assert failures[(("kind", "other"), ("tier", "full"))] == 1.0
    assert "onerror" not in telemetry.metrics.exposition().decode()


def test_an_oversized_report_is_refused_unread(client: TestClient, telemetry: Telemetry) -> None:
    page = client.get("/", headers={"User-Agent": CHROME}).text
    token = csrf_token(page)

    response = client.post(
        "/_tiered/report",
        data={"csrf_token": token, "kind": "swap", "junk": "x" * MAX_BODY_BYTES},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert summary_of(client, telemetry).failures == []


def test_reports_past_the_rate_limit_get_429_and_count_nothing(tmp_path: Path) -> None:
    telemetry = Telemetry(report_limits=("3/minute", "100/minute"))
    with TestClient(build(tmp_path, telemetry)) as client:
        statuses = [report(client, "swap") for _ in range(5)]

        assert statuses == [204, 204, 204, 429, 429]
        assert dict(summary_of(client, telemetry).failures) == {"swap": 3}


def test_reports_from_many_visitors_at_one_address_are_limited_too(tmp_path: Path) -> None:
    telemetry = Telemetry(report_limits=("10/minute", "2/minute"))
    app = build(tmp_path, telemetry)
    statuses = []
    for _ in range(3):
        with TestClient(app) as client:  # a new visitor each time (fresh cookies)
            statuses.append(report(client, "swap"))

    assert statuses == [204, 204, 429]


# --- OpenTelemetry ------------------------------------------------------------------------------


def test_spans_carry_tiereds_attributes(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider=provider)
    with TestClient(build(tmp_path, telemetry)) as client:
        client.get("/", headers={"User-Agent": CHROME, "Save-Data": "on"})

    [span] = exporter.get_finished_spans()
    attributes = span.attributes or {}
    assert attributes["tiered.tier"] == "lite"
    assert tuple(attributes["tiered.reasons"]) == ("save-data",)  # type: ignore[arg-type]
    assert attributes["tiered.representation"] == "page"
    assert attributes["tiered.client_kind"] == "browser"
    assert attributes["tiered.route"] == "/"
    assert attributes["http.status_code"] == 200  # OpenTelemetry's own, not rebuilt


def test_spans_name_what_was_sent_to_htmx(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider=provider)
    with TestClient(build(tmp_path, telemetry)) as client:
        client.get("/", headers={"User-Agent": CHROME, "HX-Request": "true"})
        client.get("/", headers={"User-Agent": CHROME, "HX-History-Restore-Request": "true"})
        client.get("/", headers={"User-Agent": "curl/8.5.0", "Accept": "application/json"})

    sent = [
        (
            (span.attributes or {})["tiered.representation"],
            (span.attributes or {})["tiered.client_kind"],
        )
        for span in exporter.get_finished_spans()
    ]
    assert sent == [("fragment", "browser"), ("page", "browser"), ("json", "api")]


def test_an_otlp_endpoint_sets_up_an_exporting_provider() -> None:
    telemetry = Telemetry(otlp_endpoint="http://127.0.0.1:4318", service_name="taskboard")

    assert isinstance(telemetry.tracer_provider, TracerProvider)
    assert telemetry.tracer_provider.resource.attributes["service.name"] == "taskboard"
    telemetry.tracer_provider.shutdown()


# --- never in the way -------------------------------------------------------------------------


class BrokenStore(MemoryTelemetryStore):
    async def add(self, buckets: Buckets) -> None:
        raise ConnectionError("the store is down")


def test_a_failing_store_never_fails_a_request_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = Telemetry(store=BrokenStore())
    with TestClient(build(tmp_path, telemetry)) as client:
        for _ in range(3):
            assert client.get("/", headers={"User-Agent": CHROME}).status_code == 200
            assert client.portal is not None
            client.portal.call(telemetry.flush)

    warnings = [r for r in caplog.records if r.name == "tiered.telemetry"]
    assert len(warnings) == 1
    assert "Telemetry failed (store)" in warnings[0].getMessage()
    assert samples(telemetry, "tiered_telemetry_errors_total") == {(("where", "store"),): 3.0}
    assert samples(telemetry, "tiered_page_views_total") == {(("tier", "full"),): 3.0}


def test_redis_down_never_fails_a_request(tmp_path: Path) -> None:
    store = RedisTelemetryStore("redis://127.0.0.1:9/0", timeout_seconds=0.2)  # nothing listens
    telemetry = Telemetry(store=store, flush_seconds=0.01)
    with TestClient(build(tmp_path, telemetry)) as client:
        for _ in range(3):
            assert client.get("/", headers={"User-Agent": CHROME}).status_code == 200

    assert samples(telemetry, "tiered_telemetry_errors_total")[(("where", "store"),)] >= 1


def test_a_broken_observer_never_fails_a_request(
    client: TestClient, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(telemetry.metrics, "request", explode)

    assert client.get("/", headers={"User-Agent": CHROME}).status_code == 200
    assert samples(telemetry, "tiered_telemetry_errors_total") == {(("where", "observe"),): 1.0}


def test_the_access_log_and_telemetry_see_the_same_request(
    client: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    client.get("/", headers={"User-Agent": CHROME})

    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert record.__dict__["tier"] == "full"
    assert summary_of(client, telemetry).requests_by_tier["full"] == 1


# --- a fleet sharing Redis ------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="TEST_REDIS_URL is not set")
def test_redis_sums_two_app_instances(tmp_path: Path) -> None:
    url = os.environ["TEST_REDIS_URL"]
    prefix = f"tiered-test:{uuid.uuid4().hex}"
    first = Telemetry(store=RedisTelemetryStore(url, prefix=prefix))
    second = Telemetry(store=RedisTelemetryStore(url, prefix=prefix))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        TestClient(build(tmp_path / "a", first)) as one,
        TestClient(build(tmp_path / "b", second)) as two,
    ):
        for _ in range(2):
            one.get("/", headers={"User-Agent": CHROME})
        for _ in range(3):
            page = two.get("/", headers={"User-Agent": CHROME}).text
            assert beacon(two, page) == 204
        two.get("/", headers={"User-Agent": LYNX})
        assert two.portal is not None
        two.portal.call(second.flush)  # the other process's second has passed

        summary = summary_of(one, first)

    assert summary.requests_by_tier == {"core": 1, "lite": 0, "full": 5}
    full = summary.javascript[2]
    assert (full.page_views, full.confirmed, full.never_ran) == (5, 3, 2)
    assert [row.requests for row in summary.latency] == [1, 5]
