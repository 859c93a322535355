"""Tests for tiered.core.vary: the Vary value that keeps shared caches from mixing responses."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

from tiered.core import vary as vary_module
from tiered.core.capabilities import Client, HtmxRequest, read_client
from tiered.core.negotiation import negotiate, negotiate_error
from tiered.core.vary import ACCEPT_CH, vary_value

CHROME_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
TIER_HEADERS = ("Cookie", "User-Agent", "Save-Data", "ECT", "RTT", "Downlink", "Device-Memory")
HTMX_PARTIAL = HtmxRequest(
    request_type="partial",
    target="#results",
    source="button#save",
    current_url="https://example.com/tasks",
    boosted=False,
    history_restore=False,
)


def client(tier_headers: tuple[str, ...] = TIER_HEADERS) -> Client:
    return dataclasses.replace(read_client({}, {}), tier_headers=tier_headers)


def test_accept_ch_asks_for_every_hint_tiered_reads() -> None:
    assert ACCEPT_CH == (
        "ECT, RTT, Downlink, Device-Memory, Sec-CH-UA-Mobile, Sec-CH-Prefers-Reduced-Motion, "
        "Sec-CH-Prefers-Color-Scheme"
    )


def test_page_varies_on_accept_htmx_and_tier_headers_in_order() -> None:
    assert vary_value(negotiate(CHROME_ACCEPT, None), client()) == (
        "Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, "
        "Cookie, User-Agent, Save-Data, ECT, RTT, Downlink, Device-Memory"
    )


def test_fragment_varies_like_the_page_it_belongs_to() -> None:
    page = vary_value(negotiate("text/html", None), client())
    fragment = vary_value(negotiate("text/html", HTMX_PARTIAL), client())
    assert fragment == page


def test_choice_cookie_short_circuit_varies_on_cookie_only_among_tier_headers() -> None:
    assert vary_value(negotiate("text/html", None), client(("Cookie",))) == (
        "Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, Cookie"
    )


def test_page_without_fragments_does_not_vary_on_htmx() -> None:
    negotiated = negotiate("text/html", HTMX_PARTIAL, fragment=False)
    assert vary_value(negotiated, client(("Cookie", "User-Agent"))) == "Accept, Cookie, User-Agent"


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.example+json"])
def test_json_does_not_vary_on_tier_headers(accept: str) -> None:
    assert vary_value(negotiate(accept, HTMX_PARTIAL), client()) == "Accept"


def test_problem_does_not_vary_on_tier_headers() -> None:
    assert vary_value(negotiate_error("application/json", None), client()) == "Accept"


def test_error_page_varies_like_a_page() -> None:
    assert vary_value(negotiate_error(CHROME_ACCEPT, None), client()) == vary_value(
        negotiate(CHROME_ACCEPT, None), client()
    )


def test_vary_is_deduplicated_case_insensitively_keeping_first_spelling_and_order() -> None:
    repeated = ("user-agent", "Accept", "Cookie", "HX-REQUEST", "User-Agent", "cookie")
    assert vary_value(negotiate("text/html", None), client(repeated)) == (
        "Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, user-agent, Cookie"
    )


def test_vary_of_a_real_client_lists_what_its_tier_read() -> None:
    real = read_client({"user-agent": "Mozilla/5.0", "save-data": "on"}, {})
    value = vary_value(negotiate(CHROME_ACCEPT, None), real)
    assert value.split(", ")[:4] == [
        "Accept",
        "HX-Request",
        "HX-Request-Type",
        "HX-History-Restore-Request",
    ]
    assert value.split(", ")[4:] == list(real.tier_headers)


def test_docstring_examples_run() -> None:
    results = doctest.testmod(vary_module)
    assert results.attempted > 0
    assert results.failed == 0
