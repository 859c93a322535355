"""Telemetry in Taskboard: /metrics only to its bearer token, and the admins' dashboard."""

from __future__ import annotations

import dataclasses
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from taskboard.app import create_app
from taskboard.dashboard.service import STORE_UNREADABLE
from taskboard.settings import Settings
from tests.taskboard.conftest import log_in, make_user
from tiered.testing import CHROME_USER_AGENT as CHROME
from tiered.testing import csrf_token

TOKEN = "metrics-token-0123456789abcdef"
BROWSER = {"User-Agent": CHROME}
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
JSON = {"Accept": "application/json"}
_BEACON = re.compile(r'<meta name="tiered-tier" content="([a-z]+)" data-beacon="([^"]+)"')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, metrics_token=TOKEN)


# --- /metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
def test_metrics_are_a_404_without_the_right_token(
    client: TestClient, authorization: str | None
) -> None:
    headers = {**JSON, **({"Authorization": authorization} if authorization else {})}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 404
    assert response.json()["detail"] == "There is no page at /metrics."
    assert "tiered_requests_total" not in response.text


def test_metrics_are_a_404_to_everyone_when_no_token_is_set(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, metrics_token=None))
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 404
            assert "There is no page at /metrics." in response.text


def test_metrics_are_served_to_the_token_and_count_the_requests_sent(client: TestClient) -> None:
    for _ in range(3):
        client.get("/login", headers=BROWSER)

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    page_views = ("tiered_page_views_total", (("tier", "full"),))
    assert samples[page_views] == 3.0
    login = (
        "tiered_requests_total",
        (
            ("client_kind", "browser"),
            ("method", "GET"),
            ("representation", "page"),
            ("route", "/login"),
            ("status_class", "2xx"),
            ("tier", "full"),
        ),
    )
    assert samples[login] == 3.0


# --- the dashboard --------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client: TestClient) -> TestClient:
    log_in(client, make_user(client, "admin@example.org", is_admin=True))
    return client


def test_three_no_js_and_seven_js_page_views_show_as_three_and_seven(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/login", headers=BROWSER).status_code == 200
    for _ in range(7):
        page = client.get("/login", headers=BROWSER).text
        tier, url = _BEACON.search(page).groups()  # type: ignore[union-attr]
        token = csrf_token(page)
        beacon = client.post(url, files={"csrf_token": (None, token), "tier": (None, tier)})
        assert beacon.status_code == 204
    log_in(client, make_user(client, "admin@example.org", is_admin=True))

    data = client.get("/admin/dashboard", headers=JSON).json()

    full = data["javascript"][2]
    assert full == {
        "tier": "full",
        "page_views": 10,
        "confirmed": 7,
        "never_ran": 3,
        "never_ran_share": 0.3,
    }
    assert data["tier_totals"] == {"core": 0, "lite": 0, "full": 10}


def test_the_dashboard_draws_every_chart_for_an_admin(client: TestClient) -> None:
    client.get("/login", headers={"User-Agent": "Lynx/2.9.0 libwww-FM/2.14"})
    client.get("/login", headers={**BROWSER, "Save-Data": "on"})
    client.get("/login", headers=BROWSER)
    log_in(client, make_user(client, "admin@example.org", is_admin=True))

    response = client.get("/admin/dashboard", headers=BROWSER)

    assert response.status_code == 200
    html = response.text
    assert "<h1>Telemetry dashboard</h1>" in html
    for chart in ("tiers", "clients", "reasons", "latency", "js"):
        assert f'<svg role="img" aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html
    assert "<script" not in html.split("</head>", 1)[1]  # the charts need no script
    assert html.count("<table>") >= 5  # each chart's data, as a table
    desc = re.search(r'<desc id="tiers-desc">([^<]*)</desc>', html).group(1)  # type: ignore[union-attr]
    assert "33% of 3 requests got the core tier, 33% lite and 33% full" in desc
    assert '<th scope="row">text-browser</th><td class="number">1</td>' in html
    assert '<th scope="row">save-data</th><td class="number">1</td>' in html
    assert "<td>page</td>" in html  # a latency row per tier and representation


def test_the_dashboard_shows_api_clients_apart_from_crawlers_and_browsers(
    client: TestClient,
) -> None:
    client.get("/login", headers=BROWSER)
    client.get("/login", headers={"User-Agent": GOOGLEBOT})
    client.get("/healthz", headers={"User-Agent": "curl/8.5.0", **JSON})
    client.get("/login", headers={"User-Agent": "python-requests/2.32.3"})
    client.get("/login", headers={"User-Agent": "Python-urllib/3.12"})  # uap-core: a Spider
    log_in(client, make_user(client, "admin@example.org", is_admin=True))
    before = client.get("/admin/dashboard", headers={**BROWSER, **JSON}).json()["clients"]

    html = client.get("/admin/dashboard", headers=BROWSER).text

    counts = {row["kind"]: row["count"] for row in before}
    assert counts["api"] == 3
    assert counts["crawler"] == 1
    assert [row["label"] for row in before] == [
        "browsers",
        "text browsers",
        "crawlers",
        "API and script clients",
        "unknown",
    ]
    assert '<figure class="chart" id="clients">' in html
    assert '<svg role="img" aria-labelledby="clients-title clients-desc"' in html
    assert '<th scope="row">API and script clients</th><td class="number">3</td>' in html
    assert '<th scope="row">crawlers</th><td class="number">1</td>' in html
    desc = re.search(r'<desc id="clients-desc">([^<]*)</desc>', html).group(1)  # type: ignore[union-attr]
    assert "API and script clients 3" in desc
    assert "crawlers 1" in desc


def test_the_dashboard_offers_fixed_windows(admin_client: TestClient) -> None:
    assert admin_client.get("/admin/dashboard?minutes=15", headers=JSON).json()["minutes"] == 15
    assert admin_client.get("/admin/dashboard?minutes=7", headers=JSON).json()["minutes"] == 60
    html = admin_client.get("/admin/dashboard?minutes=360").text
    assert '<option value="360" selected>6 hours</option>' in html


def test_the_dashboard_is_a_404_to_anyone_but_an_admin(client: TestClient) -> None:
    anonymous = client.get("/admin/dashboard", headers=JSON)
    log_in(client, make_user(client, "someone@example.org"))
    member = client.get("/admin/dashboard", headers=JSON)
    member_page = client.get("/admin/dashboard", headers=BROWSER)

    for response in (anonymous, member):
        assert response.status_code == 404
        assert response.json()["detail"] == "There is no page at /admin/dashboard."
    assert member_page.status_code == 404
    assert "Telemetry dashboard" not in member_page.text


# --- telemetry never fails a request ------------------------------------------------------------


def test_a_redis_that_is_down_fails_no_request_and_the_dashboard_says_so(
    settings: Settings,
) -> None:
    app = create_app(dataclasses.replace(settings, redis_url="redis://127.0.0.1:9/0"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        for _ in range(3):
            assert client.get("/login", headers=BROWSER).status_code == 200
        log_in(client, make_user(client, "admin@example.org", is_admin=True))

        response = client.get("/admin/dashboard", headers=BROWSER)
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text

    assert response.status_code == 200
    assert STORE_UNREADABLE in response.text
    assert 'tiered_telemetry_errors_total{where="dashboard"} 1.0' in metrics
    assert "tiered_page_views_total" in metrics  # this process's counts go on regardless
