"""tiered.asgi.cookies: every Set-Cookie tiered writes carries the same attributes, the
``__Host-`` name over https, and a signature that a changed value does not pass."""

from __future__ import annotations

from tiered.asgi.cookies import SignedCookie, cookie_name, set_cookie_header

SECRET = "cookie-test-secret-0123456789abcdef0123"


def test_a_cookie_over_plain_http_is_http_only_and_same_site_lax() -> None:
    assert set_cookie_header("device", "abc", 60, secure=False) == (
        b"set-cookie",
        b"device=abc; Max-Age=60; Path=/; HttpOnly; SameSite=Lax",
    )


def test_over_https_it_is_secure_and_host_prefixed() -> None:
    assert set_cookie_header("device", "abc", 60, secure=True) == (
        b"set-cookie",
        b"__Host-device=abc; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure",
    )
    assert cookie_name("device", secure=True) == "__Host-device"


def test_a_max_age_of_zero_removes_it() -> None:
    assert set_cookie_header("device", "", 0, secure=False)[1].startswith(b"device=; Max-Age=0;")


def test_a_signed_cookie_reads_back_only_what_it_wrote() -> None:
    cookie = SignedCookie(SECRET, salt="test")
    name, value = cookie.header("session", "visitor-1", 60, secure=False)
    signed = value.decode().split(";", 1)[0].split("=", 1)[1]

    assert name == b"set-cookie"
    assert cookie.read(signed) == "visitor-1"
    assert cookie.read(signed.replace("visitor-1", "visitor-2")) is None
    assert SignedCookie(SECRET, salt="other").read(signed) is None
    assert cookie.read("not signed at all") is None
