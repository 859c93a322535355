"""Tests for tiered.core.capabilities: reading a Client from headers and cookies."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tiered.core.test_useragent import (
    BINGBOT,
    CHROME_ANDROID,
    CHROME_WINDOWS,
    CURL,
    FIREFOX_WINDOWS,
    GO_HTTP_CLIENT,
    GOOGLEBOT,
    IE11,
    JAVA,
    LYNX,
    PYTHON_HTTPX,
    PYTHON_REQUESTS,
    PYTHON_URLLIB,
    SAFARI_IPHONE,
    W3M,
)
from tiered.core import capabilities
from tiered.core.capabilities import (
    CHOICE_COOKIE,
    CLIENT_KINDS,
    JS_COOKIE,
    Client,
    HtmxRequest,
    read_client,
)
from tiered.core.tiers import REASONS, TIERS, TierPolicy
from tiered.core.useragent import MAX_USER_AGENT_LENGTH

CHOICE_READ = ("Cookie",)
USER_AGENT_READ = ("Cookie", "User-Agent")
ALL_READ = ("Cookie", "User-Agent", "Save-Data", "ECT", "RTT", "Downlink", "Device-Memory")

# What Chrome sends on a navigation once a site asked for every hint with Accept-CH.
CHROME_HEADERS = {
    "host": "tasks.example.com",
    "user-agent": CHROME_WINDOWS,
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "sec-ch-ua": '"Chromium";v="138", "Google Chrome";v="138", "Not)A;Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "ect": "4g",
    "rtt": "50",
    "downlink": "10",
    "device-memory": "8",
    "sec-ch-prefers-reduced-motion": '"no-preference"',
    "sec-ch-prefers-color-scheme": '"dark"',
}
# Chrome on a cheap Android phone on a slow connection, with Data Saver on.
SLOW_ANDROID_HEADERS = {
    "user-agent": CHROME_ANDROID,
    "sec-ch-ua-mobile": "?1",
    "save-data": "on",
    "ect": "2g",
    "rtt": "1800",
    "downlink": "0.25",
    "device-memory": "0.5",
}

HINTS = ("save-data", "ect", "rtt", "downlink", "device-memory")
CLIENT_HINT_FIELDS = {
    "save-data": "save_data",
    "ect": "ect",
    "rtt": "rtt_ms",
    "downlink": "downlink_mbps",
    "device-memory": "device_memory_gb",
    "sec-ch-ua-mobile": "mobile",
    "sec-ch-prefers-reduced-motion": "prefers_reduced_motion",
    "sec-ch-prefers-color-scheme": "prefers_color_scheme",
}
HEADERS_READ = (
    "user-agent",
    "accept",
    "authorization",
    *CLIENT_HINT_FIELDS,
    "hx-request",
    "hx-request-type",
    "hx-target",
    "hx-source",
    "hx-current-url",
    "hx-boosted",
    "hx-history-restore-request",
)
# Values that look like a hint but break its grammar.
GARBAGE = [
    "",
    " ",
    "-5",
    "+5",
    "abc",
    "1e3",
    "1_000",
    "0x10",
    "nan",
    "inf",
    "Infinity",
    "٣",
    "²",
    "1.",
    ".5",
    "1.2345",
    "1..2",
    "50ms",
    "5 0",
    "on;x",
    "?2",
    "'dark'",
    '"dark',
    "9" * 20,
    "1" + " " * 70,
    "\x00",
    "\r\n",
]


def modern_chrome(**headers: str) -> dict[str, str]:
    return {**CHROME_HEADERS, **headers}


# --- the whole client ---------------------------------------------------------------------------


def test_modern_chrome_with_every_hint_gets_full_tier_and_every_signal() -> None:
    client = read_client(CHROME_HEADERS, {JS_COOKIE: "1", "session": "x"})
    assert client.tier == "full"
    assert client.reasons == ("default",)
    assert (client.user_agent.family, client.user_agent.major) == ("Chrome", 138)
    assert client.save_data is False
    assert (client.ect, client.rtt_ms, client.downlink_mbps, client.device_memory_gb) == (
        "4g",
        50,
        10.0,
        8.0,
    )
    assert (client.mobile, client.prefers_reduced_motion, client.prefers_color_scheme) == (
        False,
        False,
        "dark",
    )
    assert client.htmx is None
    assert client.wants_fragment is False
    assert client.js_confirmed is True
    assert client.choice is None
    assert client.tier_headers == ALL_READ


def test_slow_android_with_data_saver_gets_lite_with_every_reason() -> None:
    client = read_client(SLOW_ANDROID_HEADERS, {})
    assert client.tier == "lite"
    assert client.reasons == ("save-data", "slow-network", "low-memory")
    assert (client.save_data, client.ect, client.rtt_ms) == (True, "2g", 1800)
    assert (client.downlink_mbps, client.device_memory_gb, client.mobile) == (0.25, 0.5, True)


def test_no_headers_and_no_cookies_gives_full_default() -> None:
    client = read_client({}, {})
    assert (client.tier, client.reasons, client.tier_headers) == ("full", ("default",), ALL_READ)
    assert (client.user_agent.family, client.user_agent.kind) == ("", "unknown")
    assert client == read_client({"user-agent": ""}, {})


@pytest.mark.parametrize("raw", [LYNX, W3M])
def test_text_browsers_get_core_and_vary_only_on_cookie_and_user_agent(raw: str) -> None:
    client = read_client({"user-agent": raw, "save-data": "on"}, {})
    assert (client.tier, client.reasons) == ("core", ("text-browser",))
    assert client.tier_headers == USER_AGENT_READ
    # The hints are still read for the Client, just not for the tier.
    assert client.save_data is True


def test_legacy_browser_gets_core() -> None:
    client = read_client({"user-agent": IE11}, {})
    assert (client.tier, client.reasons, client.tier_headers) == (
        "core",
        ("legacy-browser",),
        USER_AGENT_READ,
    )


def test_crawler_gets_policy_crawler_tier() -> None:
    headers = {"user-agent": GOOGLEBOT}
    assert read_client(headers, {}).tier == "core"
    full = read_client(headers, {}, TierPolicy(crawler_tier="full"))
    assert (full.tier, full.reasons) == ("full", ("crawler",))


def test_equal_custom_policies_give_the_same_client() -> None:
    one = read_client({"user-agent": GOOGLEBOT}, {}, TierPolicy(crawler_tier="lite"))
    two = read_client({"user-agent": GOOGLEBOT}, {}, TierPolicy(crawler_tier="lite"))
    assert one == two
    assert one.tier == "lite"


# --- the user's choice and the JavaScript cookie ------------------------------------------------


def test_user_choice_basic_wins_over_everything() -> None:
    headers = {**SLOW_ANDROID_HEADERS, "user-agent": GOOGLEBOT, "hx-request": "true"}
    client = read_client(headers, {CHOICE_COOKIE: "basic", JS_COOKIE: "1"})
    assert (client.tier, client.reasons, client.choice) == ("core", ("user-choice",), "basic")


def test_user_choice_full_wins_over_text_browser() -> None:
    client = read_client({"user-agent": LYNX}, {CHOICE_COOKIE: "full"})
    assert (client.tier, client.reasons, client.choice) == ("full", ("user-choice",), "full")


def test_tier_headers_short_circuit_to_cookie_when_the_choice_decides() -> None:
    client = read_client(SLOW_ANDROID_HEADERS, {CHOICE_COOKIE: "basic"})
    assert client.tier_headers == CHOICE_READ


@pytest.mark.parametrize(("value", "choice"), [(" Basic ", "basic"), ("FULL", "full")])
def test_choice_cookie_ignores_case_and_spaces(value: str, choice: str) -> None:
    assert read_client({}, {CHOICE_COOKIE: value}).choice == choice


@pytest.mark.parametrize("value", ["", "lite", "core", "basic;full", "b" * 100])
def test_unknown_choice_is_ignored(value: str) -> None:
    client = read_client({"user-agent": CHROME_WINDOWS}, {CHOICE_COOKIE: value})
    assert (client.choice, client.tier, client.tier_headers) == (None, "full", ALL_READ)


@pytest.mark.parametrize(("value", "confirmed"), [("1", True), (" 1 ", True), ("0", False)])
def test_js_cookie_confirms_javascript_only_when_it_is_one(value: str, confirmed: bool) -> None:
    assert read_client({}, {JS_COOKIE: value}).js_confirmed is confirmed
    assert read_client({}, {}).js_confirmed is False


# --- hint grammar -------------------------------------------------------------------------------


def test_save_data_selects_lite_tier() -> None:
    client = read_client(modern_chrome(**{"save-data": "on"}), {})
    assert (client.tier, client.reasons, client.save_data) == ("lite", ("save-data",), True)


@pytest.mark.parametrize("value", ["on", "ON", " On\t"])
def test_save_data_on_is_read_in_any_case(value: str) -> None:
    assert read_client({"save-data": value}, {}).save_data is True


@pytest.mark.parametrize("value", ["off", "1", "true", "on;x", "onn", ""])
def test_save_data_other_than_on_is_off(value: str) -> None:
    client = read_client(modern_chrome(**{"save-data": value}), {})
    assert (client.save_data, client.tier) == (False, "full")


@pytest.mark.parametrize("value", ["slow-2g", "2g", "3g", "SLOW-2G"])
def test_slow_ect_selects_lite_tier(value: str) -> None:
    client = read_client(modern_chrome(ect=value), {})
    assert (client.ect, client.reasons) == (value.lower(), ("slow-network",))


@pytest.mark.parametrize(("header", "value"), [("rtt", "270"), ("downlink", "0.675")])
def test_slow_rtt_or_downlink_selects_lite_tier(header: str, value: str) -> None:
    assert read_client(modern_chrome(**{header: value}), {}).reasons == ("slow-network",)


@pytest.mark.parametrize("value", ["1", "0.5", "0.25"])
def test_low_device_memory_selects_lite_tier(value: str) -> None:
    client = read_client(modern_chrome(**{"device-memory": value}), {})
    assert (client.device_memory_gb, client.reasons) == (float(value), ("low-memory",))


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("50", 50), (" 3000 ", 3000)])
def test_rtt_is_whole_milliseconds(value: str, expected: int) -> None:
    assert read_client({"rtt": value}, {}).rtt_ms == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("10", 10.0), ("1.45", 1.45), ("0.025", 0.025), ("0", 0.0)]
)
def test_downlink_is_megabits_with_up_to_three_decimals(value: str, expected: float) -> None:
    assert read_client({"downlink": value}, {}).downlink_mbps == expected


@pytest.mark.parametrize("value", GARBAGE)
def test_garbled_rtt_is_ignored(value: str) -> None:
    client = read_client(modern_chrome(rtt=value), {})
    assert (client.rtt_ms, client.tier, client.reasons) == (None, "full", ("default",))


@pytest.mark.parametrize("header", ["ect", "downlink", "device-memory"])
@pytest.mark.parametrize("value", GARBAGE)
def test_garbled_network_and_memory_hints_are_ignored(header: str, value: str) -> None:
    client = read_client({"user-agent": CHROME_WINDOWS, header: value}, {})
    assert getattr(client, CLIENT_HINT_FIELDS[header]) is None
    assert (client.tier, client.reasons) == ("full", ("default",))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("rtt", "1000001"),
        ("rtt", "999999999999999"),
        ("downlink", "1000000.5"),
        ("device-memory", "999999999999"),
    ],
)
def test_absurdly_large_numbers_are_ignored(header: str, value: str) -> None:
    assert getattr(read_client({header: value}, {}), CLIENT_HINT_FIELDS[header]) is None


def test_zero_device_memory_is_ignored() -> None:
    client = read_client(modern_chrome(**{"device-memory": "0"}), {})
    assert (client.device_memory_gb, client.tier) == (None, "full")


@pytest.mark.parametrize(("value", "mobile"), [("?1", True), ("?0", False), (" ?1 ", True)])
def test_mobile_hint_is_a_structured_boolean(value: str, mobile: bool) -> None:
    assert read_client({"sec-ch-ua-mobile": value}, {}).mobile is mobile


@pytest.mark.parametrize(
    ("value", "reduce"), [('"reduce"', True), ('"no-preference"', False), ("reduce", True)]
)
def test_reduced_motion_hint_is_a_string_quoted_or_not(value: str, reduce: bool) -> None:
    client = read_client({"sec-ch-prefers-reduced-motion": value}, {})
    assert client.prefers_reduced_motion is reduce


@pytest.mark.parametrize(("value", "scheme"), [('"light"', "light"), ('"DARK"', "dark")])
def test_color_scheme_hint_is_light_or_dark(value: str, scheme: str) -> None:
    assert read_client({"sec-ch-prefers-color-scheme": value}, {}).prefers_color_scheme == scheme


@pytest.mark.parametrize("header", ["sec-ch-ua-mobile", "sec-ch-prefers-reduced-motion"])
@pytest.mark.parametrize("value", GARBAGE)
def test_garbled_structured_hints_are_none(header: str, value: str) -> None:
    assert getattr(read_client({header: value}, {}), CLIENT_HINT_FIELDS[header]) is None


def test_garbled_color_scheme_is_none() -> None:
    for value in [*GARBAGE, '"blue"', '""', '"']:
        assert read_client({"sec-ch-prefers-color-scheme": value}, {}).prefers_color_scheme is None


def test_overlong_hint_is_garbage_even_if_it_would_strip_to_a_valid_one() -> None:
    client = read_client(modern_chrome(**{"save-data": "on" + " " * 100}), {})
    assert (client.save_data, client.tier) == (False, "full")


def test_user_agent_is_cut_to_the_parsed_length() -> None:
    client = read_client({"user-agent": CHROME_WINDOWS + " x" * 1000}, {})
    assert len(client.user_agent.raw) == MAX_USER_AGENT_LENGTH
    assert client.user_agent.family == "Chrome"


# --- htmx ---------------------------------------------------------------------------------------


def htmx_headers(**headers: str) -> dict[str, str]:
    return {
        "user-agent": FIREFOX_WINDOWS,
        "hx-request": "true",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }


def test_htmx_request_is_read_with_every_header() -> None:
    client = read_client(
        htmx_headers(
            hx_request_type="partial",
            hx_target="div#results",
            hx_source="button#save",
            hx_current_url="https://tasks.example.com/tasks?q=milk",
            hx_boosted="true",
        ),
        {JS_COOKIE: "1"},
    )
    assert client.htmx == HtmxRequest(
        request_type="partial",
        target="div#results",
        source="button#save",
        current_url="https://tasks.example.com/tasks?q=milk",
        boosted=True,
        history_restore=False,
    )
    assert client.wants_fragment is True


def test_htmx_request_without_a_type_is_partial_and_wants_a_fragment() -> None:
    htmx = read_client(htmx_headers(), {}).htmx
    assert htmx == HtmxRequest("partial", None, None, None, False, False)
    assert htmx.wants_fragment is True


@pytest.mark.parametrize("value", ["", "fragment", "PARTIAL ", "\x00"])
def test_garbled_htmx_request_type_is_partial(value: str) -> None:
    htmx = read_client(htmx_headers(hx_request_type=value), {}).htmx
    assert htmx is not None
    assert htmx.request_type == "partial"


def test_htmx_full_request_does_not_want_fragment() -> None:
    client = read_client(htmx_headers(hx_request_type="full"), {})
    assert client.htmx is not None
    assert client.htmx.request_type == "full"
    assert client.wants_fragment is False


def test_htmx_history_restore_does_not_want_fragment() -> None:
    client = read_client(htmx_headers(hx_history_restore_request="true"), {})
    assert client.htmx is not None
    assert client.htmx.history_restore is True
    assert client.wants_fragment is False


def test_htmx_4_history_restore_without_hx_request_is_read_as_htmx() -> None:
    # htmx 4.0.1 builds a restore's headers anew: these two, and no HX-Request.
    headers = {
        "user-agent": FIREFOX_WINDOWS,
        "accept": "*/*",
        "hx-history-restore-request": "true",
        "hx-request-type": "full",
    }
    client = read_client(headers, {JS_COOKIE: "1"})
    assert client.htmx == HtmxRequest("full", None, None, None, False, True)
    assert client.wants_fragment is False


def test_history_restore_header_other_than_true_is_not_htmx() -> None:
    client = read_client({"hx-history-restore-request": "false"}, {})
    assert client.htmx is None


@pytest.mark.parametrize("value", ["false", "", "1", "yes"])
def test_hx_request_other_than_true_is_not_htmx(value: str) -> None:
    client = read_client({"hx-request": value, "hx-target": "#x"}, {})
    assert (client.htmx, client.wants_fragment) == (None, False)


def test_blank_htmx_values_are_none() -> None:
    htmx = read_client(htmx_headers(hx_target="  ", hx_source="", hx_current_url="\t"), {}).htmx
    assert htmx == HtmxRequest("partial", None, None, None, False, False)


def test_htmx_request_with_a_long_url_is_read_in_full() -> None:
    url = "https://tasks.example.com/tasks?q=" + "m" * 5000
    client = read_client(htmx_headers(hx_current_url=url), {})
    assert client.htmx is not None
    assert client.htmx.current_url == url
    assert client == read_client(htmx_headers(hx_current_url=url), {})


def test_htmx_does_not_change_the_tier() -> None:
    with_htmx = read_client({**SLOW_ANDROID_HEADERS, "hx-request": "true"}, {})
    without = read_client(SLOW_ANDROID_HEADERS, {})
    assert (with_htmx.tier, with_htmx.reasons, with_htmx.tier_headers) == (
        without.tier,
        without.reasons,
        without.tier_headers,
    )


# --- the kind of client -------------------------------------------------------------------------

JSON_ACCEPT = "application/json"
BROWSER_ACCEPT = CHROME_HEADERS["accept"]


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"user-agent": CHROME_WINDOWS, "accept": BROWSER_ACCEPT}, "browser"),
        ({"user-agent": SAFARI_IPHONE, "accept": JSON_ACCEPT}, "browser"),  # a page's fetch()
        ({"user-agent": LYNX}, "text-browser"),
        ({"user-agent": W3M}, "text-browser"),
        ({"user-agent": GOOGLEBOT}, "crawler"),
        ({"user-agent": BINGBOT, "accept": JSON_ACCEPT}, "crawler"),
        ({"user-agent": CURL}, "api"),
        ({"user-agent": CURL, "accept": JSON_ACCEPT}, "api"),
        ({"user-agent": PYTHON_REQUESTS}, "api"),
        ({"user-agent": PYTHON_HTTPX}, "api"),
        ({"user-agent": GO_HTTP_CLIENT}, "api"),
        ({"user-agent": PYTHON_URLLIB}, "api"),  # uap-core calls it a Spider
        ({"user-agent": JAVA}, "api"),  # likewise
        ({"accept": JSON_ACCEPT}, "api"),  # no User-Agent, asking for JSON
        ({"user-agent": "my-sync-script/1.0", "accept": JSON_ACCEPT}, "api"),
        ({"user-agent": "my-sync-script/1.0", "accept": "*/*"}, "unknown"),
        ({"user-agent": "", "accept": "application/json;q=0.5, text/html"}, "unknown"),
        ({"user-agent": "", "accept": "image/png"}, "unknown"),
        ({}, "unknown"),
    ],
)
def test_the_kind_of_client_is_read_from_its_user_agent_and_accept(
    headers: dict[str, str], kind: str
) -> None:
    client = read_client(headers, {})
    assert client.kind == kind
    assert client.bearer is False


@pytest.mark.parametrize("user_agent", [CHROME_WINDOWS, "my-sync-script/1.0", GOOGLEBOT, ""])
def test_a_bearer_token_makes_any_client_an_api_client(user_agent: str) -> None:
    client = read_client({"user-agent": user_agent, "authorization": "Bearer tok_123"}, {})
    assert (client.kind, client.bearer) == ("api", True)


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "bearer-ish x", ""])
def test_other_authorization_is_not_a_bearer_token(authorization: str) -> None:
    client = read_client({"user-agent": CHROME_WINDOWS, "authorization": authorization}, {})
    assert (client.kind, client.bearer) == ("browser", False)


def test_the_kind_of_client_changes_neither_tier_nor_vary() -> None:
    as_script = read_client(
        {**CHROME_HEADERS, "authorization": "Bearer tok", "accept": JSON_ACCEPT}, {}
    )
    as_browser = read_client(CHROME_HEADERS, {})
    assert (as_script.tier, as_script.reasons, as_script.tier_headers) == (
        as_browser.tier,
        as_browser.reasons,
        as_browser.tier_headers,
    )


def test_the_cached_client_keeps_no_token() -> None:
    one = read_client({"user-agent": CURL, "authorization": "Bearer first-secret"}, {})
    other = read_client({"user-agent": CURL, "authorization": "Bearer second-secret"}, {})
    assert one is other
    assert "secret" not in repr(one)


# --- properties ---------------------------------------------------------------------------------

# Header and cookie values as a server hands them over: any text, or any bytes read as latin-1.
header_values = st.one_of(
    st.sampled_from(GARBAGE),
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda value: value.decode("latin-1")),
    st.sampled_from(["on", "2g", "4g", "50", "0.5", "?1", '"dark"', "true", "full", "basic", "1"]),
)
user_agents = st.one_of(
    st.sampled_from([CHROME_WINDOWS, SAFARI_IPHONE, IE11, LYNX, W3M, GOOGLEBOT, CURL, ""]),
    st.text(max_size=100),
)
base_headers = st.sampled_from([{}, CHROME_HEADERS, SLOW_ANDROID_HEADERS])
headers = st.builds(
    lambda base, user_agent, read, other: {**base, "user-agent": user_agent, **read, **other},
    base_headers,
    user_agents,
    st.dictionaries(st.sampled_from(HEADERS_READ), header_values),
    st.dictionaries(st.text(max_size=10), header_values, max_size=3),
)
cookies = st.dictionaries(
    st.one_of(st.sampled_from([CHOICE_COOKIE, JS_COOKIE]), st.text(max_size=10)),
    header_values,
    max_size=4,
)
policies = st.sampled_from([TierPolicy(), TierPolicy(crawler_tier="full", slow_rtt_ms=1000)])


def assert_valid(client: Client) -> None:
    assert client.tier in TIERS
    assert client.reasons
    assert all(reason in REASONS for reason in client.reasons)
    assert list(client.reasons) == sorted(client.reasons, key=REASONS.index)
    assert client.tier_headers in (CHOICE_READ, USER_AGENT_READ, ALL_READ)
    assert isinstance(client.wants_fragment, bool)
    assert client.kind in CLIENT_KINDS


@given(headers, cookies, policies)
def test_any_headers_and_cookies_give_a_valid_client(
    headers: dict[str, str], cookies: dict[str, str], policy: TierPolicy
) -> None:
    assert_valid(read_client(headers, cookies, policy))


@given(headers, cookies)
def test_adding_save_data_never_raises_the_tier(
    headers: dict[str, str], cookies: dict[str, str]
) -> None:
    without = read_client({k: v for k, v in headers.items() if k != "save-data"}, cookies)
    with_save_data = read_client({**headers, "save-data": "on"}, cookies)
    assert_valid(with_save_data)
    assert TIERS.index(with_save_data.tier) <= TIERS.index(without.tier)
    if without.tier != "full":
        assert with_save_data.tier != "full"


@given(headers, cookies, st.sampled_from(HINTS), header_values)
def test_garbage_hint_values_never_change_the_tier(
    headers: dict[str, str], cookies: dict[str, str], hint: str, value: str
) -> None:
    absent = {k: v for k, v in headers.items() if k != hint}
    present = read_client({**absent, hint: value}, cookies)
    # Garbage is whatever the hint's grammar does not read; the property is that it then
    # changes nothing.
    if getattr(present, CLIENT_HINT_FIELDS[hint]) in (None, False):
        assert present == read_client(absent, cookies)


# --- the module ---------------------------------------------------------------------------------

FRAMEWORKS = {"starlette", "fastapi", "jinja2", "jinja2_fragments", "pydantic"}


@pytest.mark.parametrize("module", ["capabilities", "tiers", "useragent"])
def test_module_imports_no_framework(module: str) -> None:
    source = Path(capabilities.__file__).with_name(f"{module}.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FRAMEWORKS


def test_docstring_examples_run() -> None:
    results = doctest.testmod(capabilities)
    assert results.attempted > 0
    assert results.failed == 0
