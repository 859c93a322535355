"""Tests for tiered.core.useragent: which kind of software a User-Agent names."""

from __future__ import annotations

import doctest
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered.core import useragent
from tiered.core.useragent import (
    MAX_USER_AGENT_LENGTH,
    UserAgent,
    UserAgentKind,
    parse_user_agent,
)

# Real User-Agent strings, as sent by the named client. The other core tests import these.
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Mobile Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Safari/605.1.15"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36 Edg/138.0.3351.65"
)
SAMSUNG_INTERNET = (
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36"
)
IE11 = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
OPERA_MINI = (
    "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16"
)
CHROME_49_ANDROID = (
    "Mozilla/5.0 (Linux; Android 5.0.2; SAMSUNG SM-G920F Build/LRX22G) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/49.0.2623.91 Mobile Safari/537.36"
)
SAFARI_12_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1"
)
LYNX = "Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.8"
W3M = "w3m/0.5.3+git20230121"
LINKS = "Links (2.29; Linux 6.1.0-13-amd64 x86_64; GNU C 12.2; text)"
ELINKS = "ELinks/0.16.1.1 (textmode; Linux 6.1.0-13-amd64 x86_64; 200x50-2)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/138.0.7204.183 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
)
CURL = "curl/8.5.0"
WGET = "Wget/1.21.4"
HTTPIE = "HTTPie/3.2.4"
PYTHON_REQUESTS = "python-requests/2.32.3"
PYTHON_HTTPX = "python-httpx/0.28.1"
PYTHON_URLLIB = "Python-urllib/3.12"
GO_HTTP_CLIENT = "Go-http-client/2.0"
JAVA = "Java/17.0.2"
NODE_FETCH = "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"

KINDS: tuple[UserAgentKind, ...] = get_args(UserAgentKind)


@pytest.mark.parametrize(
    ("raw", "family", "major"),
    [
        (CHROME_WINDOWS, "Chrome", 138),
        (CHROME_ANDROID, "Chrome Mobile", 138),
        (FIREFOX_WINDOWS, "Firefox", 140),
        (FIREFOX_ANDROID, "Firefox Mobile", 140),
        (SAFARI_MAC, "Safari", 18),
        (SAFARI_IPHONE, "Mobile Safari", 18),
        (EDGE_WINDOWS, "Edge", 138),
        (SAMSUNG_INTERNET, "Samsung Internet", 28),
        (IE11, "IE", 11),
        (OPERA_MINI, "Opera Mini", 36),
        (CHROME_49_ANDROID, "Chrome Mobile", 49),
        (SAFARI_12_IPHONE, "Mobile Safari", 12),
    ],
)
def test_graphical_browsers_are_browsers_with_family_and_major(
    raw: str, family: str, major: int
) -> None:
    assert parse_user_agent(raw) == UserAgent(raw=raw, family=family, major=major, kind="browser")


@pytest.mark.parametrize(
    ("raw", "family", "major"),
    [(LYNX, "Lynx", 2), (LINKS, "Links", 2), (ELINKS, "ELinks", 0), (W3M, "w3m", 0)],
)
def test_text_browsers_are_text_browsers(raw: str, family: str, major: int) -> None:
    assert parse_user_agent(raw) == UserAgent(
        raw=raw, family=family, major=major, kind="text-browser"
    )


def test_lynx_is_core_text_browser() -> None:
    assert parse_user_agent(LYNX).kind == "text-browser"


def test_w3m_is_text_browser() -> None:
    # uap-core has no w3m rule; this is the explicit product-token check.
    ua = parse_user_agent(W3M)
    assert (ua.family, ua.major, ua.kind) == ("w3m", 0, "text-browser")


@pytest.mark.parametrize(
    ("raw", "major"), [("w3m/0.5.3", 0), ("W3M/1.2", 1), ("  w3m/0.5", 0), ("w3m", None)]
)
def test_w3m_token_is_read_in_any_case_with_or_without_version(raw: str, major: int | None) -> None:
    ua = parse_user_agent(raw)
    assert (ua.family, ua.major, ua.kind) == ("w3m", major, "text-browser")


def test_w3m_named_later_in_the_string_is_not_w3m() -> None:
    assert parse_user_agent("MyApp/1.0 (w3m/0.5.3 inside)").family != "w3m"


@pytest.mark.parametrize(
    ("raw", "family"),
    [(GOOGLEBOT, "Googlebot"), (GOOGLEBOT_SMARTPHONE, "Googlebot"), (BINGBOT, "bingbot")],
)
def test_crawlers_are_crawlers_even_when_they_name_chrome(raw: str, family: str) -> None:
    ua = parse_user_agent(raw)
    assert (ua.family, ua.kind) == (family, "crawler")


@pytest.mark.parametrize(
    ("raw", "family", "major"),
    [
        (CURL, "curl", 8),
        (WGET, "Wget", 1),
        (HTTPIE, "HTTPie", 3),
        (PYTHON_REQUESTS, "Python Requests", 2),
        (GO_HTTP_CLIENT, "Go-http-client", 2),
        # uap-core has no rule for these: the product token names them.
        (PYTHON_HTTPX, "python-httpx", 0),
        (NODE_FETCH, "node-fetch", 1),
        ("undici", "undici", None),
    ],
)
def test_http_tools_are_other(raw: str, family: str, major: int | None) -> None:
    assert parse_user_agent(raw) == UserAgent(raw=raw, family=family, major=major, kind="other")


@pytest.mark.parametrize(("raw", "family"), [(PYTHON_URLLIB, "Python-urllib"), (JAVA, "Java")])
def test_http_libraries_uap_core_files_as_spiders_are_not_crawlers(raw: str, family: str) -> None:
    ua = parse_user_agent(raw)
    assert (ua.family, ua.kind) == (family, "other")


def test_every_http_library_token_is_lower_case() -> None:
    assert all(token == token.lower() for token in useragent.HTTP_LIBRARY_TOKENS)


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_user_agent_is_unknown_with_empty_family(raw: str) -> None:
    assert parse_user_agent(raw) == UserAgent(raw=raw, family="", major=None, kind="unknown")


@pytest.mark.parametrize("raw", ["my-sync-script/1.0", "garbage ???", "\x00\xff\xfe", "Mozilla"])
def test_unrecognised_user_agent_is_unknown_family_other(raw: str) -> None:
    assert parse_user_agent(raw) == UserAgent(raw=raw, family="Other", major=None, kind="unknown")


def test_major_in_non_ascii_digits_is_not_read() -> None:
    # The parser's \d matches any Unicode digit; int() would read "١٣٨" as 138.
    ua = parse_user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/١٣٨.0.0.0 Safari/537.36")
    assert ua.major is None


def test_only_the_leading_part_of_a_long_user_agent_is_parsed_and_raw_is_kept() -> None:
    raw = CHROME_WINDOWS + " padding" * 2000
    ua = parse_user_agent(raw)
    assert (ua.raw, ua.family, ua.major, ua.kind) == (raw, "Chrome", 138, "browser")
    assert parse_user_agent("x" * MAX_USER_AGENT_LENGTH + " Chrome/138.0").family == "Other"


def test_a_parse_is_cached_by_the_raw_string() -> None:
    # A new str with equal content, as every request brings, finds the cached result.
    again = "".join(list(CHROME_ANDROID))
    assert parse_user_agent(again) is parse_user_agent(CHROME_ANDROID)


@given(st.text(max_size=600))
def test_any_text_parses_to_a_valid_user_agent(raw: str) -> None:
    _assert_valid(parse_user_agent(raw), raw)


@given(st.binary(max_size=600).map(lambda value: value.decode("latin-1")))
def test_any_latin1_header_bytes_parse_to_a_valid_user_agent(raw: str) -> None:
    _assert_valid(parse_user_agent(raw), raw)


@given(st.sampled_from(["Mozilla/5.0 ", "Opera/9.80 ", "w3m/", "Lynx/", ""]), st.text(max_size=80))
def test_browser_like_prefixes_with_any_tail_parse_to_a_valid_user_agent(
    prefix: str, tail: str
) -> None:
    _assert_valid(parse_user_agent(prefix + tail), prefix + tail)


def _assert_valid(ua: UserAgent, raw: str) -> None:
    assert ua.raw == raw
    assert ua.kind in KINDS
    assert isinstance(ua.family, str)
    assert ua.major is None or ua.major >= 0
    assert (ua.family == "") == (not raw[:MAX_USER_AGENT_LENGTH].strip())


def test_docstring_examples_run() -> None:
    results = doctest.testmod(useragent)
    assert results.attempted > 0
    assert results.failed == 0
