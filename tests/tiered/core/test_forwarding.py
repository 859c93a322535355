"""Forwarding headers: believed only from a trusted proxy, and then only as far as it vouches."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered import ImproperlyConfigured
from tiered.core.forwarding import Forwarded, TrustedProxies, forwarded

PROXY = TrustedProxies.parse(["127.0.0.10", "10.0.0.0/8"])


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    headers = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}

    assert forwarded("198.51.100.1", headers, PROXY) is None
    assert forwarded(None, headers, PROXY) is None
    assert forwarded("testclient", headers, PROXY) is None


def test_a_trusted_proxy_gives_the_client_scheme_and_host() -> None:
    headers = {
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "HTTPS",
        "x-forwarded-host": "tasks.example.org:8443",
    }

    assert forwarded("127.0.0.10", headers, PROXY) == Forwarded(
        "203.0.113.7", "https", "tasks.example.org:8443"
    )


def test_the_client_is_the_rightmost_address_no_trusted_proxy_wrote() -> None:
    # The client forged the first entry; the edge proxy (10.1.1.1) appended the real address,
    # and the inner proxy appended the edge's.
    headers = {"x-forwarded-for": "1.1.1.1, 203.0.113.7, 10.1.1.1"}

    seen = forwarded("127.0.0.10", headers, PROXY)

    assert seen is not None
    assert seen.client == "203.0.113.7"


def test_garbage_in_the_chain_stops_the_walk() -> None:
    seen = forwarded("127.0.0.10", {"x-forwarded-for": "1.1.1.1, not-an-ip, 10.1.1.1"}, PROXY)

    assert seen is not None
    assert seen.client == "10.1.1.1"


def test_ports_and_brackets_in_addresses_are_read() -> None:
    v4 = forwarded("127.0.0.10", {"x-forwarded-for": "203.0.113.7:5555"}, PROXY)
    v6 = forwarded("127.0.0.10", {"x-forwarded-for": "[2001:db8::1]:443"}, PROXY)
    bare_v6 = forwarded("127.0.0.10", {"x-forwarded-for": "2001:db8::2"}, PROXY)

    assert (v4 and v4.client, v6 and v6.client, bare_v6 and bare_v6.client) == (
        "203.0.113.7",
        "2001:db8::1",
        "2001:db8::2",
    )


def test_an_unknown_scheme_or_a_strange_host_is_dropped() -> None:
    seen = forwarded(
        "127.0.0.10",
        {"x-forwarded-proto": "gopher", "x-forwarded-host": "evil.example/<script>"},
        PROXY,
    )

    assert seen == Forwarded(None, None, None)


def test_the_last_proto_and_host_count() -> None:
    seen = forwarded(
        "127.0.0.10",
        {"x-forwarded-proto": "http, https", "x-forwarded-host": "a.example, b.example"},
        PROXY,
    )

    assert seen == Forwarded(None, "https", "b.example")


def test_no_forwarding_headers_means_nothing_to_apply() -> None:
    assert forwarded("127.0.0.10", {"host": "x"}, PROXY) is None


def test_star_trusts_every_peer() -> None:
    proxies = TrustedProxies.parse(["*"])

    assert proxies.trusts("198.51.100.1")
    assert not TrustedProxies.parse([]).trusts("127.0.0.1")
    assert not TrustedProxies.parse([])
    assert proxies


def test_a_bad_entry_is_refused_with_the_fix() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"Trusted proxy 'localhost' is not an IP"):
        TrustedProxies.parse(["127.0.0.1", "localhost"])


@given(
    chain=st.text(),
    proto=st.none() | st.text(),
    host=st.none() | st.text(),
)
def test_no_forwarding_headers_make_it_raise_or_name_a_client_it_cannot(
    chain: str, proto: str | None, host: str | None
) -> None:
    headers = {"x-forwarded-for": chain}
    if proto is not None:
        headers["x-forwarded-proto"] = proto
    if host is not None:
        headers["x-forwarded-host"] = host

    result = forwarded("127.0.0.10", headers, PROXY)

    assert result is None or isinstance(result, Forwarded)
    if result is not None and result.client is not None:
        ipaddress.ip_address(result.client)  # only an address ever becomes the client
    if result is not None:
        assert result.scheme in (None, "http", "https")
