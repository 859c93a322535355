"""What nginx adds and keeps: load spread over the instances, gzip, cacheable static files, the
413 answers, readiness, the settings every instance gets, one HSTS header."""

from __future__ import annotations

import gzip
import re

import httpx2
import pytest

from tests.deploy.conftest import METRICS_TOKEN, RunningStack

LIMIT = 1_048_576
"""tiered's ``max_body_bytes``, and ``client_max_body_size 1m`` in deploy/nginx.conf."""


def test_requests_are_spread_over_every_instance(stack: RunningStack) -> None:
    instances = stack.instances()

    with stack.client() as client:
        upstreams = [client.get("/healthz").headers["x-upstream"] for _ in range(20)]

    assert len(instances) == 2
    assert set(upstreams) == {f"127.0.0.1:{i.port}" for i in instances}
    assert min(upstreams.count(u) for u in set(upstreams)) >= 5  # spread, not one then the other


def test_each_instance_also_answers_on_its_own_address(stack: RunningStack) -> None:
    # /healthz (the process), not /readyz: a database ping slower than its 1 s on a busy machine
    # would make this about the database rather than the instance's own address.
    for instance in stack.instances():
        response = httpx2.get(f"{instance.url}/healthz", timeout=10)

        assert response.status_code == 200
        assert response.headers["server"] == "granian"
        assert "strict-transport-security" not in response.headers  # plain http, no HSTS


def test_readyz_answers_through_nginx(stack: RunningStack) -> None:
    with stack.client() as client:
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_html_is_gzipped_and_says_it_varies_by_encoding(stack: RunningStack) -> None:
    with stack.client() as client:
        compressed = client.get("/login", headers={"Accept-Encoding": "gzip"})
        raw = client.stream("GET", "/login", headers={"Accept-Encoding": "gzip"})
        with raw as response:
            body = b"".join(response.iter_raw())
        plain = client.get("/login", headers={"Accept-Encoding": "identity"})

    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in compressed.headers.get_list("vary")
    assert b"<form" in gzip.decompress(body)
    assert "content-encoding" not in plain.headers
    assert "<form" in plain.text


def test_static_files_keep_the_apps_cache_headers_and_are_cached_by_nginx(
    stack: RunningStack,
) -> None:
    with stack.client() as client:
        page = client.get("/login")
        match = re.search(r'/static/[^"]+\.[0-9a-f]{10}\.css', page.text)
        assert match, "the page links no fingerprinted stylesheet"
        path = match.group(0)
        first = client.get(path)
        second = client.get(path)
    # As nginx asks for it: the file as it is (the app compresses for direct clients itself).
    direct = httpx2.get(
        stack.instances()[0].url + path, headers={"Accept-Encoding": "identity"}, timeout=10
    )

    assert first.status_code == second.status_code == 200
    assert second.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert second.headers["cache-control"] == direct.headers["cache-control"]
    assert second.headers["last-modified"] == direct.headers["last-modified"]
    assert second.headers["content-type"] == direct.headers["content-type"]
    # gzip makes the ETag weak (the bytes differ); the validator itself is the app's.
    assert second.headers["etag"].removeprefix("W/") == direct.headers["etag"]
    assert second.headers["content-encoding"] == "gzip"
    assert first.headers["x-cache"] in {"MISS", "HIT"}  # HIT if an earlier test fetched it
    assert second.headers["x-cache"] == "HIT"
    assert second.content == direct.content
    assert "set-cookie" not in second.headers


def test_a_body_at_the_limit_reaches_the_app(stack: RunningStack, api: dict[str, str]) -> None:
    with stack.client() as client:
        response = client.post(
            "/tasks", content=b"x" * LIMIT, headers={**api, "Content-Type": "application/json"}
        )

    assert response.status_code in {400, 422}, response.text  # not JSON: the app says so
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"]  # an instance answered


@pytest.mark.parametrize(
    ("accept", "content_type", "text"),
    [
        ("application/json", "application/problem+json", '"code": "payload-too-large"'),
        ("text/html", "text/html", "<h1>What you sent is too large</h1>"),
    ],
)
def test_a_body_over_the_limit_gets_nginxs_413_in_the_apps_words(
    stack: RunningStack, api: dict[str, str], accept: str, content_type: str, text: str
) -> None:
    # HTTP/1.1: nginx answers before the body is in and reads the rest away (lingering close),
    # which any HTTP/1.1 client copes with. Over HTTP/2 it resets the stream instead, which
    # curl reports as the 413 and httpx2 as a protocol error.
    with stack.client(http2=False) as client:
        response = client.post(
            "/tasks",
            content=b"x" * (LIMIT + 1),
            headers={**api, "Accept": accept, "Content-Type": "application/json"},
        )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith(content_type)
    assert text in response.text
    assert "Accept" in response.headers.get_list("vary")
    assert "x-request-id" not in response.headers  # no instance saw it
    assert "x-upstream" not in response.headers
    if accept == "application/json":
        assert response.json()["status"] == 413


def test_hsts_comes_once_from_the_app(stack: RunningStack) -> None:
    with stack.client() as client:
        response = client.get("/login")

    assert response.headers.get_list("strict-transport-security") == [
        "max-age=63072000; includeSubDomains"
    ]


def test_every_instance_has_the_metrics_token_passed_through(stack: RunningStack) -> None:
    for instance in stack.instances():
        allowed = httpx2.get(
            f"{instance.url}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )
        refused = httpx2.get(f"{instance.url}/metrics", timeout=10)

        assert allowed.status_code == 200
        assert allowed.headers["content-type"].startswith("text/plain")
        assert refused.status_code == 404
