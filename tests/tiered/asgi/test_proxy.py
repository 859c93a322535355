"""Behind a TLS-terminating proxy: the public scheme and origin, Secure __Host- cookies, HSTS."""

from __future__ import annotations

from pathlib import Path

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from tests.conftest import SECRET, build_notes_app, hidden_value
from tiered import ImproperlyConfigured, TieredSettings

PROXY = ("127.0.0.10", 40000)
PUBLIC = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}


def _cookie(page: Response) -> dict[str, str]:
    """The Cookie header a browser sends back over https (httpx keeps Secure cookies off the
    test's plain-http connection to the app, which is the proxy's leg)."""
    set_cookie = page.headers["set-cookie"]
    return {"Cookie": set_cookie.split(";", 1)[0]}


def _app(tmp_path: Path) -> TestClient:
    notes = build_notes_app(
        tmp_path, TieredSettings(secret_key=SECRET, trusted_proxies=("127.0.0.10",))
    )
    return TestClient(notes.app, base_url="http://tasks.example.org:8443", client=PROXY)


def _post_note(client: TestClient, page: Response, headers: dict[str, str]) -> Response:
    """Post the form on ``page`` back with the cookie it set and ``headers``."""
    return client.post(
        "/notes",
        data={"title": "Milk", "csrf_token": hidden_value(page.text, "csrf_token")},
        headers={**_cookie(page), **headers},
        follow_redirects=False,
    )


def test_a_form_post_through_the_https_proxy_is_accepted(tmp_path: Path) -> None:
    client = _app(tmp_path)
    page = client.get("/notes", headers=PUBLIC)

    response = _post_note(client, page, {**PUBLIC, "Origin": "https://tasks.example.org:8443"})

    assert response.status_code == 303
    assert response.headers["location"] == "/notes/1"


def test_cookies_behind_tls_are_secure_and_host_prefixed(tmp_path: Path) -> None:
    client = _app(tmp_path)

    page = client.get("/notes", headers=PUBLIC)

    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-tiered_csrf=")
    assert "; Secure" in cookie
    assert "; Path=/" in cookie
    assert "Domain" not in cookie
    assert page.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


def test_plain_http_cookies_keep_their_names_and_send_no_hsts(tmp_path: Path) -> None:
    client = _app(tmp_path)

    page = client.get("/notes", headers={"x-forwarded-proto": "http"})

    assert page.headers["set-cookie"].startswith("tiered_csrf=")
    assert "Secure" not in page.headers["set-cookie"]
    assert "strict-transport-security" not in page.headers


def test_a_cookie_without_the_prefix_is_not_read_over_https(tmp_path: Path) -> None:
    # Planted over plain http (or by a sibling subdomain): over https only __Host- counts.
    client = _app(tmp_path)
    plain = client.get("/notes", headers={"x-forwarded-proto": "http"})

    response = _post_note(client, plain, {**PUBLIC, "Origin": "https://tasks.example.org:8443"})

    assert response.status_code == 403


def test_forged_forwarding_headers_from_anyone_else_change_nothing(tmp_path: Path) -> None:
    notes = build_notes_app(
        tmp_path, TieredSettings(secret_key=SECRET, trusted_proxies=("127.0.0.10",))
    )
    direct = TestClient(notes.app, base_url="http://tasks.example.org:8443", client=("10.9.9.9", 1))
    page = direct.get("/notes", headers=PUBLIC)

    response = _post_note(direct, page, {**PUBLIC, "Origin": "https://tasks.example.org:8443"})

    assert "Secure" not in page.headers["set-cookie"]
    assert "strict-transport-security" not in page.headers
    assert response.status_code == 403  # the https origin is not this plain-http app's
    assert "came from a page that is not part of this site" in response.text
    assert notes.notes == []


def test_the_proxy_can_name_the_public_host(tmp_path: Path) -> None:
    client = _app(tmp_path)
    page = client.get("/notes", headers=PUBLIC)

    response = _post_note(
        client,
        page,
        {
            **PUBLIC,
            "Host": "instance-1:8001",
            "X-Forwarded-Host": "tasks.example.org",
            "Origin": "https://tasks.example.org",
        },
    )

    assert response.status_code == 303


def test_a_bad_trusted_proxy_setting_fails_at_start_up() -> None:
    with pytest.raises(ImproperlyConfigured, match="not an IP address or network"):
        TieredSettings(secret_key=SECRET, trusted_proxies=("nginx",))


def test_trusted_proxies_come_from_the_environment() -> None:
    settings = TieredSettings.from_environ(
        {"TIERED_SECRET_KEY": SECRET, "TIERED_TRUSTED_PROXIES": "127.0.0.10, 10.0.0.0/8,"}
    )

    assert settings.trusted_proxies == ("127.0.0.10", "10.0.0.0/8")
