"""Tests for tiered.core.negotiation: Accept parsing and the choice of representation."""

from __future__ import annotations

import doctest
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered.core import negotiation
from tiered.core.capabilities import HtmxRequest
from tiered.core.errors import ImproperlyConfigured, NotAcceptable
from tiered.core.negotiation import (
    NOT_ACCEPTABLE_DETAIL,
    MediaRange,
    Negotiated,
    effective_accept,
    negotiate,
    negotiate_error,
    parse_accept,
)

# Real Accept values, as sent on a top-level navigation or by the named client.
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FIREFOX_OLD = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LYNX = "text/html, text/plain, text/sgml, text/css, */*;q=0.01"
W3M = "text/html, text/*;q=0.5, image/*"
JAVA_URLCONNECTION = "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"
HTMX_4 = "text/html, text/event-stream"  # htmx 4 sends this on every request it makes
HTTPIE_JSON = "application/json, */*;q=0.5"
GITHUB_API = "application/vnd.github+json"

HTML_READ = ("Accept", "HX-Request", "HX-Request-Type", "HX-History-Restore-Request")


def htmx(
    request_type: Literal["partial", "full"] = "partial",
    *,
    history_restore: bool = False,
    boosted: bool = False,
) -> HtmxRequest:
    return HtmxRequest(
        request_type=request_type,
        target="#results",
        source="button#save",
        current_url="https://example.com/tasks",
        boosted=boosted,
        history_restore=history_restore,
    )


# --- parse_accept ------------------------------------------------------------------------------


def test_parse_accept_reads_chrome_navigation_accept_in_order() -> None:
    assert parse_accept(CHROME) == (
        MediaRange("text", "html", (), 1.0),
        MediaRange("application", "xhtml+xml", (), 1.0),
        MediaRange("application", "xml", (), 0.9),
        MediaRange("image", "avif", (), 1.0),
        MediaRange("image", "webp", (), 1.0),
        MediaRange("image", "apng", (), 1.0),
        MediaRange("*", "*", (), 0.8),
        MediaRange("application", "signed-exchange", (("v", "b3"),), 0.7),
    )


def test_parse_accept_lowercases_types_and_parameter_names_but_not_values() -> None:
    assert parse_accept("Application/JSON; Version=V2; Q=0.5") == (
        MediaRange("application", "json", (("version", "V2"),), 0.5),
    )


def test_parse_accept_tolerates_optional_whitespace_and_empty_elements() -> None:
    assert parse_accept(" ,\ttext/html ; q=0.5 ,, */* ;") == (
        MediaRange("text", "html", (), 0.5),
        MediaRange("*", "*", (), 1.0),
    )


def test_parse_accept_unquotes_quoted_parameters_even_with_commas_inside() -> None:
    assert parse_accept('text/html;title="a, \\"b\\"";q=0.3, application/json') == (
        MediaRange("text", "html", (("title", 'a, "b"'),), 0.3),
        MediaRange("application", "json", (), 1.0),
    )


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("0", 0.0),
        ("0.", 0.0),
        ("0.5", 0.5),
        ("0.25", 0.25),
        ("0.001", 0.001),
        ("1", 1.0),
        ("1.", 1.0),
        ("1.0", 1.0),
        ("1.000", 1.0),
    ],
)
def test_valid_q_is_read(q: str, expected: float) -> None:
    assert parse_accept(f"text/html;q={q}") == (MediaRange("text", "html", (), expected),)


@pytest.mark.parametrize(
    "q",
    [
        *("", " ", "2", "-0.5", "1.5", "1.001", "0.0001", ".5", "0.5x", "1e-3", "nan", "inf"),
        *("0x1", '"0.5"', "0.\u00b2", "\u0660.5"),  # superscript two, Arabic-Indic zero
    ],
)
def test_invalid_q_ignores_the_whole_range(q: str) -> None:
    # RFC 9110 §12.4.2: q is 0 to 1 with at most three decimals; a range whose weight cannot be
    # read is ignored, so the other ranges decide.
    assert parse_accept(f"text/html;q={q}, application/json;q=0.5") == (
        MediaRange("application", "json", (), 0.5),
    )


def test_q_without_value_or_repeated_ignores_the_range() -> None:
    assert parse_accept("text/html;q, text/plain;q=0.5;q=1, image/png") == (
        MediaRange("image", "png", (), 1.0),
    )


@pytest.mark.parametrize(
    "element",
    [
        *("text", "text/", "/html", "/", "*/html", "text/html/x", "te xt/html", "t\u00ebxt/html"),
        *("text/(html)", "@/@", '"text/html"'),
    ],
)
def test_malformed_media_ranges_are_dropped(element: str) -> None:
    assert parse_accept(f"{element}, image/png") == (MediaRange("image", "png", (), 1.0),)


def test_malformed_parameters_are_skipped_and_the_range_kept() -> None:
    assert parse_accept('text/html;charset;a b=c;=x;ok=yes;bad=a b;level="unterminated') == (
        MediaRange("text", "html", (("ok", "yes"),), 1.0),
    )
    # Quotes that do not pair up, with and without escapes: the parameter is skipped.
    for unpaired in ('"x"y"', '"x\\"y"z"', '"x\\"'):
        assert parse_accept(f"text/html;ok=1;a={unpaired}") == (
            MediaRange("text", "html", (("ok", "1"),), 1.0),
        )


def test_bare_star_from_old_java_clients_means_any() -> None:
    assert parse_accept("*;q=0.2") == (MediaRange("*", "*", (), 0.2),)


@pytest.mark.parametrize("value", ["", "   ", ",,,", "garbage", "\x00\xff", "text/html;q=2"])
def test_empty_or_garbage_accept_parses_to_nothing(value: str) -> None:
    assert parse_accept(value) == ()


def test_long_accept_is_parsed_the_same_without_being_cached() -> None:
    padding = ", ".join(f"image/x-{n}" for n in range(100))
    value = f"{padding}, application/json;version=3"
    assert len(value) > 512
    assert parse_accept(value)[-1] == MediaRange("application", "json", (("version", "3"),), 1.0)
    assert negotiate(value, None) == Negotiated("json", "application/json", "3", ("Accept",))
    assert negotiate_error(value, None).representation == "problem"


@given(st.text())
def test_parse_accept_is_total_on_arbitrary_text(value: str) -> None:
    for media_range in parse_accept(value):
        assert 0.0 <= media_range.q <= 1.0
        assert media_range.type
        assert media_range.subtype
        assert media_range.type == media_range.type.lower()


# Text made of the characters Accept is built from, so the property tests reach deep branches.
accept_like = st.text(alphabet=st.sampled_from(list('textml/*+json;q=0.1,, "\\\t-ax')), max_size=60)


@given(accept_like)
def test_parse_accept_is_total_on_accept_like_text(value: str) -> None:
    for media_range in parse_accept(value):
        assert 0.0 <= media_range.q <= 1.0


# --- negotiate: who gets what ------------------------------------------------------------------


@pytest.mark.parametrize("accept", [CHROME, FIREFOX, FIREFOX_OLD, SAFARI, LYNX, W3M])
def test_browser_accept_gets_page(accept: str) -> None:
    assert negotiate(accept, None) == Negotiated("page", "text/html", None, HTML_READ)


def test_java_default_accept_gets_page() -> None:
    assert negotiate(JAVA_URLCONNECTION, None).representation == "page"


def test_curl_star_gets_page() -> None:
    # Equal weights go to the server's preference, HTML before JSON.
    assert negotiate("*/*", None).representation == "page"


@pytest.mark.parametrize("accept", [None, "", "   ", "garbage", "text/html;q=7"])
def test_absent_empty_or_garbage_accept_counts_as_anything(accept: str | None) -> None:
    assert negotiate(accept, None) == Negotiated("page", "text/html", None, HTML_READ)
    assert negotiate(accept, None, html=False).representation == "json"


def test_api_client_gets_json() -> None:
    assert negotiate("application/json", None) == Negotiated(
        "json", "application/json", None, ("Accept",)
    )


@pytest.mark.parametrize(
    "accept",
    [GITHUB_API, "application/hal+json", "application/problem+json", "application/*", HTTPIE_JSON],
)
def test_vendor_plus_json_suffix_gets_json(accept: str) -> None:
    chosen = negotiate(accept, None)
    assert (chosen.representation, chosen.media_type) == ("json", "application/json")


def test_json_version_parameter_is_read() -> None:
    assert negotiate("application/json; version=2", None).version == "2"
    assert negotiate('application/vnd.example+json;version="2025-06"', None).version == "2025-06"


def test_json_version_comes_from_the_range_that_won() -> None:
    accept = "application/*;version=1, application/json;version=2;q=0.5"
    assert negotiate(accept, None).version == "2"


def test_html_never_carries_a_version() -> None:
    assert negotiate("text/html;version=2", None).version is None


def test_htmx_partial_gets_fragment() -> None:
    assert negotiate(HTMX_4, htmx("partial")) == Negotiated(
        "fragment", "text/html", None, HTML_READ
    )


def test_htmx_full_request_type_gets_page() -> None:
    # htmx 4 sends HX-Request-Type: full for hx-boost and hx-select="body" swaps.
    assert negotiate(HTMX_4, htmx("full", boosted=True)).representation == "page"


def test_history_restore_gets_page() -> None:
    assert negotiate(HTMX_4, htmx("partial", history_restore=True)).representation == "page"


def test_htmx_asking_for_json_gets_json() -> None:
    assert negotiate("application/json", htmx("partial")).representation == "json"


def test_fragment_not_offered_gives_page_that_does_not_vary_on_htmx() -> None:
    assert negotiate(HTMX_4, htmx("partial"), fragment=False) == Negotiated(
        "page", "text/html", None, ("Accept",)
    )


def test_q_zero_excludes_html() -> None:
    assert negotiate("text/html;q=0, */*", None).representation == "json"
    with pytest.raises(NotAcceptable):
        negotiate("text/html;q=0, */*", None, json=False)


def test_q_zero_on_a_wildcard_excludes_what_it_covers() -> None:
    assert negotiate("*/*;q=0, application/json", None).representation == "json"
    assert negotiate("text/*;q=0, application/json;q=0.1", None).representation == "json"


def test_more_specific_range_overrides_wildcard() -> None:
    # RFC 9110 §12.5.1: the most specific range that matches sets the weight, whatever order.
    assert negotiate("text/*;q=0, text/html", None).representation == "page"
    assert negotiate("text/html, text/*;q=0", None).representation == "page"
    explicit_low_html = "*/*;q=0.9, text/html;q=0.1, application/json;q=0.2"
    assert negotiate(explicit_low_html, None).representation == "json"


def test_xhtml_counts_as_html() -> None:
    assert negotiate("application/xhtml+xml", None).representation == "page"
    # Equally specific HTML ranges: the better weight counts.
    assert negotiate("text/html;q=0.1, application/xhtml+xml, application/json;q=0.5", None) == (
        Negotiated("page", "text/html", None, HTML_READ)
    )


def test_application_wildcard_does_not_count_as_html() -> None:
    assert negotiate("application/*", None).representation == "json"
    with pytest.raises(NotAcceptable):
        negotiate("application/*", None, json=False)


def test_higher_weight_wins_over_server_preference() -> None:
    assert negotiate("text/html;q=0.5, application/json", None).representation == "json"
    assert negotiate("text/html;q=0.5, application/json;q=0.5", None).representation == "page"


def test_offers_limit_the_choice() -> None:
    assert negotiate(CHROME, None, html=False) == Negotiated(
        "json", "application/json", None, ("Accept",)
    )
    assert negotiate("*/*", None, json=False).representation == "page"


def test_nothing_acceptable_raises_406_listing_offers() -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate("image/png, text/plain;q=0.5", None)
    problem = caught.value
    assert problem.status == 406
    assert problem.code == "not-acceptable"
    assert problem.detail == NOT_ACCEPTABLE_DETAIL.format(
        accept="'image/png, text/plain;q=0.5'", offers="'text/html', 'application/json'"
    )
    assert problem.extra == {"media_types": ["text/html", "application/json"]}


def test_406_lists_only_what_the_endpoint_offers() -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate("text/html", None, html=False)
    assert caught.value.extra == {"media_types": ["application/json"]}
    assert "'application/json'" in str(caught.value.detail)
    assert "'text/html'" in str(caught.value.detail)  # quoted back as what was asked


def test_406_quotes_a_long_accept_shortened() -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate("image/png;" + "x" * 1000, None)
    detail = str(caught.value.detail)
    assert "x" * 90 + "…" in detail
    assert len(detail) < 300


def test_offering_nothing_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="html=False and json=False"):
        negotiate("*/*", None, html=False, json=False)


# --- negotiate_error ---------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [CHROME, SAFARI, "*/*", None, "", "garbage", "text/*;q=0.01"])
def test_error_for_html_client_is_a_page(accept: str | None) -> None:
    assert negotiate_error(accept, None) == Negotiated("page", "text/html", None, HTML_READ)


def test_error_for_htmx_partial_is_a_fragment() -> None:
    assert negotiate_error(HTMX_4, htmx("partial")).representation == "fragment"
    assert negotiate_error(HTMX_4, htmx("partial", history_restore=True)).representation == "page"


@pytest.mark.parametrize(
    "accept", ["application/json", "application/problem+json", GITHUB_API, "text/html;q=0, */*"]
)
def test_error_for_api_client_is_a_problem_document(accept: str) -> None:
    assert negotiate_error(accept, None) == Negotiated(
        "problem", "application/problem+json", None, ("Accept",)
    )


def test_negotiate_error_falls_back_to_problem() -> None:
    # Nothing we have is acceptable: still answer, as a problem document, never a second 406.
    assert negotiate_error("image/png", htmx("partial")).representation == "problem"
    assert negotiate_error("text/html;q=0", None).representation == "problem"


# --- totality and speed ------------------------------------------------------------------------

offers = st.fixed_dictionaries(
    {"html": st.booleans(), "json": st.booleans(), "fragment": st.booleans()}
).filter(lambda flags: flags["html"] or flags["json"])
htmx_requests = st.none() | st.builds(
    htmx, st.sampled_from(["partial", "full"]), history_restore=st.booleans()
)


@given(st.one_of(st.none(), st.text(), accept_like), htmx_requests, offers)
def test_negotiate_only_ever_raises_not_acceptable(
    accept: str | None, htmx_request: HtmxRequest | None, flags: dict[str, bool]
) -> None:
    try:
        chosen = negotiate(accept, htmx_request, **flags)
    except NotAcceptable:
        return  # the one exception negotiate() may raise; any other fails the test
    assert chosen.representation in ("page", "fragment", "json")
    assert chosen.representation != "fragment" or (htmx_request is not None and flags["fragment"])
    assert chosen.representation == "json" or flags["html"]
    assert chosen.representation != "json" or flags["json"]


@given(st.one_of(st.none(), st.text(), accept_like), htmx_requests)
def test_negotiate_error_never_raises(accept: str | None, htmx_request: HtmxRequest | None) -> None:
    chosen = negotiate_error(accept, htmx_request)
    assert chosen.representation in ("page", "fragment", "problem")
    # An error page is HTML exactly when a success could have been HTML.
    try:
        success = negotiate(accept, None, json=False)
    except NotAcceptable:
        assert chosen.representation == "problem"
    else:
        assert success.representation == "page"
        assert chosen.representation in ("page", "fragment")


def test_docstring_examples_run() -> None:
    results = doctest.testmod(negotiation)
    assert results.attempted > 0
    assert results.failed == 0


@pytest.mark.parametrize(
    ("accept", "content_type", "read"),
    [
        (None, "application/json", "application/json"),
        ("*/*", "application/json; charset=utf-8", "application/json"),
        ("", "application/vnd.example+json", "application/json"),
        (None, "application/x-www-form-urlencoded", None),
        ("*/*", None, "*/*"),
        ("text/html", "application/json", "text/html"),
        ("application/json; version=1", "application/json", "application/json; version=1"),
    ],
)
def test_a_json_body_with_no_preference_is_answered_in_json(
    accept: str | None, content_type: str | None, read: str | None
) -> None:
    assert effective_accept(accept, content_type) == read
