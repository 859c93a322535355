"""Tests for tiered.core.tiers: the tier precedence and the policy that tunes it."""

from __future__ import annotations

import doctest
from dataclasses import replace
from typing import Any

import pytest

from tests.tiered.core.test_useragent import (
    BINGBOT,
    CHROME_49_ANDROID,
    CHROME_ANDROID,
    CHROME_WINDOWS,
    CURL,
    EDGE_WINDOWS,
    ELINKS,
    FIREFOX_ANDROID,
    FIREFOX_WINDOWS,
    GOOGLEBOT,
    IE11,
    LINKS,
    LYNX,
    OPERA_MINI,
    SAFARI_12_IPHONE,
    SAFARI_IPHONE,
    SAFARI_MAC,
    SAMSUNG_INTERNET,
    W3M,
)
from tiered.core import tiers
from tiered.core.errors import ImproperlyConfigured
from tiered.core.tiers import (
    ALWAYS_LEGACY,
    DEFAULT_LEGACY_BASELINE,
    DEFAULT_POLICY,
    REASONS,
    TIERS,
    TierDecision,
    TierPolicy,
    decide_tier,
)
from tiered.core.useragent import UserAgent, parse_user_agent

CHOICE_READ = ("Cookie",)
USER_AGENT_READ = ("Cookie", "User-Agent")
ALL_READ = ("Cookie", "User-Agent", "Save-Data", "ECT", "RTT", "Downlink", "Device-Memory")

CHROME = parse_user_agent(CHROME_WINDOWS)


def test_tiers_and_reasons_are_listed_in_precedence_order() -> None:
    assert TIERS == ("core", "lite", "full")
    assert REASONS == (
        "user-choice",
        "text-browser",
        "crawler",
        "legacy-browser",
        "save-data",
        "slow-network",
        "low-memory",
        "default",
    )


# --- precedence ---------------------------------------------------------------------------------


def test_modern_browser_without_signals_gets_full_by_default() -> None:
    assert decide_tier(CHROME) == TierDecision("full", ("default",), ALL_READ)


def test_user_choice_basic_wins_over_everything() -> None:
    for raw in (CHROME_WINDOWS, LYNX, GOOGLEBOT, IE11, ""):
        decision = decide_tier(
            parse_user_agent(raw),
            choice="basic",
            save_data=True,
            ect="slow-2g",
            rtt_ms=3000,
            downlink_mbps=0.05,
            device_memory_gb=0.25,
            policy=TierPolicy(crawler_tier="full"),
        )
        assert decision == TierDecision("core", ("user-choice",), CHOICE_READ)


def test_user_choice_full_wins_over_text_browser_legacy_and_lite_signals() -> None:
    for raw in (LYNX, IE11, CHROME_WINDOWS):
        decision = decide_tier(parse_user_agent(raw), choice="full", save_data=True, ect="2g")
        assert decision == TierDecision("full", ("user-choice",), CHOICE_READ)


@pytest.mark.parametrize("raw", [LYNX, W3M, LINKS, ELINKS])
def test_text_browser_is_core_even_without_other_signals(raw: str) -> None:
    decision = decide_tier(parse_user_agent(raw))
    assert decision == TierDecision("core", ("text-browser",), USER_AGENT_READ)


def test_lynx_is_core_text_browser_whatever_the_hints_say() -> None:
    decision = decide_tier(parse_user_agent(LYNX), save_data=True, device_memory_gb=0.5)
    assert decision == TierDecision("core", ("text-browser",), USER_AGENT_READ)


@pytest.mark.parametrize("raw", [GOOGLEBOT, BINGBOT])
def test_crawler_gets_the_core_tier_by_default(raw: str) -> None:
    decision = decide_tier(parse_user_agent(raw), save_data=True)
    assert decision == TierDecision("core", ("crawler",), USER_AGENT_READ)


def test_crawler_gets_the_policy_crawler_tier() -> None:
    decision = decide_tier(parse_user_agent(GOOGLEBOT), policy=TierPolicy(crawler_tier="full"))
    assert decision == TierDecision("full", ("crawler",), USER_AGENT_READ)


@pytest.mark.parametrize("raw", [IE11, OPERA_MINI, CHROME_49_ANDROID, SAFARI_12_IPHONE])
def test_browser_older_than_baseline_is_core_legacy(raw: str) -> None:
    decision = decide_tier(parse_user_agent(raw))
    assert decision == TierDecision("core", ("legacy-browser",), USER_AGENT_READ)


@pytest.mark.parametrize(
    "raw",
    [
        CHROME_WINDOWS,
        CHROME_ANDROID,
        FIREFOX_WINDOWS,
        FIREFOX_ANDROID,
        SAFARI_MAC,
        SAFARI_IPHONE,
        EDGE_WINDOWS,
        SAMSUNG_INTERNET,
    ],
)
def test_current_browsers_are_not_legacy(raw: str) -> None:
    assert decide_tier(parse_user_agent(raw)).reasons == ("default",)


@pytest.mark.parametrize("raw", ["", "garbage ???", "Mozilla/5.0 (compatible)", CURL])
def test_unknown_garbled_or_non_browser_user_agent_is_never_legacy(raw: str) -> None:
    assert decide_tier(parse_user_agent(raw)) == TierDecision("full", ("default",), ALL_READ)


def test_baseline_minimum_itself_is_supported_and_one_below_is_legacy() -> None:
    chrome_90 = UserAgent(raw="", family="Chrome", major=90, kind="browser")
    chrome_89 = replace(chrome_90, major=89)
    assert decide_tier(chrome_90).tier == "full"
    assert decide_tier(chrome_89).reasons == ("legacy-browser",)


def test_listed_family_without_a_readable_major_is_not_legacy() -> None:
    assert not DEFAULT_POLICY.is_legacy(UserAgent("", "Chrome", None, "browser"))


def test_always_legacy_family_is_legacy_whatever_its_version() -> None:
    for major in (None, 0, 11, 10_000):
        assert DEFAULT_POLICY.is_legacy(UserAgent("", "IE", major, "browser"))


def test_only_browsers_can_be_legacy() -> None:
    assert not DEFAULT_POLICY.is_legacy(UserAgent("", "IE", 6, "other"))


def test_custom_baseline_adds_a_family() -> None:
    policy = TierPolicy(legacy_baseline={**DEFAULT_LEGACY_BASELINE, "Yandex Browser": 21})
    yandex_20 = UserAgent(raw="", family="Yandex Browser", major=20, kind="browser")
    assert decide_tier(yandex_20, policy=policy).reasons == ("legacy-browser",)
    assert decide_tier(yandex_20).reasons == ("default",)


# --- lite signals -------------------------------------------------------------------------------


def test_save_data_selects_lite_tier() -> None:
    assert decide_tier(CHROME, save_data=True) == TierDecision("lite", ("save-data",), ALL_READ)


@pytest.mark.parametrize("ect", ["slow-2g", "2g", "3g"])
def test_slow_ect_selects_lite_tier(ect: Any) -> None:
    assert decide_tier(CHROME, ect=ect).reasons == ("slow-network",)


def test_4g_ect_is_not_slow() -> None:
    assert decide_tier(CHROME, ect="4g").tier == "full"


def test_rtt_at_the_threshold_is_slow_and_just_below_is_not() -> None:
    assert decide_tier(CHROME, rtt_ms=270).reasons == ("slow-network",)
    assert decide_tier(CHROME, rtt_ms=269).tier == "full"


def test_downlink_below_the_threshold_is_slow_and_at_it_is_not() -> None:
    assert decide_tier(CHROME, downlink_mbps=0.65).reasons == ("slow-network",)
    assert decide_tier(CHROME, downlink_mbps=0.7).tier == "full"


def test_device_memory_at_the_threshold_is_low_and_above_is_not() -> None:
    assert decide_tier(CHROME, device_memory_gb=1.0).reasons == ("low-memory",)
    assert decide_tier(CHROME, device_memory_gb=2.0).tier == "full"


def test_lite_reasons_accumulate_in_reasons_order() -> None:
    decision = decide_tier(
        CHROME, device_memory_gb=0.5, rtt_ms=2000, ect="2g", downlink_mbps=0.1, save_data=True
    )
    # Three slow-network signals still give one reason.
    assert decision == TierDecision("lite", ("save-data", "slow-network", "low-memory"), ALL_READ)


def test_policy_thresholds_are_used() -> None:
    policy = TierPolicy(slow_ect=frozenset({"slow-2g"}), slow_rtt_ms=1000, low_memory_gb=0)
    assert decide_tier(CHROME, ect="2g", rtt_ms=999, device_memory_gb=0.25, policy=policy) == (
        TierDecision("full", ("default",), ALL_READ)
    )


# --- TierPolicy ---------------------------------------------------------------------------------


def test_default_policy_has_the_documented_thresholds() -> None:
    policy = DEFAULT_POLICY
    assert policy.slow_ect == {"slow-2g", "2g", "3g"}
    assert (policy.slow_rtt_ms, policy.slow_downlink_mbps, policy.low_memory_gb) == (270, 0.7, 1.0)
    assert policy.crawler_tier == "core"
    assert policy.legacy_baseline == DEFAULT_LEGACY_BASELINE
    baseline = DEFAULT_POLICY.legacy_baseline
    assert (baseline["Chrome"], baseline["Firefox"], baseline["Mobile Safari"]) == (90, 90, 15)
    assert baseline["IE"] == baseline["Opera Mini"] == ALWAYS_LEGACY


def test_equal_policies_are_equal_and_hash_alike() -> None:
    one = TierPolicy(legacy_baseline={"Chrome": 100}, slow_ect={"2g"})  # type: ignore[arg-type]
    two = TierPolicy(legacy_baseline={"Chrome": 100}, slow_ect=frozenset({"2g"}))
    assert one == two
    assert hash(one) == hash(two)
    assert {one: "x"}[two] == "x"
    assert one != TierPolicy(legacy_baseline={"Chrome": 101}, slow_ect=frozenset({"2g"}))


def test_policy_keeps_its_own_copy_of_the_baseline() -> None:
    baseline = {"Chrome": 90}
    policy = TierPolicy(legacy_baseline=baseline)
    baseline["Chrome"] = 200
    assert policy.legacy_baseline == {"Chrome": 90}
    with pytest.raises(TypeError):
        policy.legacy_baseline["Chrome"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"crawler_tier": "ful"},
            "TierPolicy.crawler_tier is 'ful'; expected one of 'core', 'lite', 'full'.",
        ),
        (
            {"slow_ect": frozenset({"3g", "5g"})},
            "TierPolicy.slow_ect holds '5g'; expected any of 'slow-2g', '2g', '3g', '4g'.",
        ),
        (
            {"slow_ect": "3g"},
            "TierPolicy.slow_ect is '3g'; expected a set of ECT values, such as "
            "frozenset({'slow-2g', '2g'}).",
        ),
        ({"slow_rtt_ms": 0}, "TierPolicy.slow_rtt_ms is 0; expected a whole number >= 1."),
        ({"slow_rtt_ms": 270.5}, "TierPolicy.slow_rtt_ms is 270.5; expected a whole number >= 1."),
        ({"slow_rtt_ms": True}, "TierPolicy.slow_rtt_ms is True; expected a whole number >= 1."),
        (
            {"slow_downlink_mbps": -1},
            "TierPolicy.slow_downlink_mbps is -1; expected a number >= 0.",
        ),
        (
            {"slow_downlink_mbps": float("nan")},
            "TierPolicy.slow_downlink_mbps is nan; expected a number >= 0.",
        ),
        ({"low_memory_gb": "1"}, "TierPolicy.low_memory_gb is '1'; expected a number >= 0."),
        (
            {"low_memory_gb": float("inf")},
            "TierPolicy.low_memory_gb is inf; expected a number >= 0.",
        ),
        (
            {"legacy_baseline": [("Chrome", 90)]},
            "TierPolicy.legacy_baseline is [('Chrome', 90)]; expected a mapping of browser "
            "family to minimum major version, such as {'Chrome': 90}.",
        ),
        (
            {"legacy_baseline": {"": 90}},
            "TierPolicy.legacy_baseline has the key ''; expected a browser family name as "
            "ua-parser reports it, such as 'Chrome' or 'Mobile Safari'.",
        ),
        (
            {"legacy_baseline": {"Chrome": "90"}},
            "TierPolicy.legacy_baseline['Chrome'] is '90'; expected a whole number >= 0 (the "
            "oldest major version that runs the script), or ALWAYS_LEGACY.",
        ),
        (
            {"legacy_baseline": {"Chrome": -1}},
            "TierPolicy.legacy_baseline['Chrome'] is -1; expected a whole number >= 0 (the "
            "oldest major version that runs the script), or ALWAYS_LEGACY.",
        ),
    ],
)
def test_bad_policy_raises_improperly_configured_naming_value_and_allowed(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        TierPolicy(**kwargs)
    assert str(raised.value) == message


def test_replace_validates_the_new_policy() -> None:
    with pytest.raises(ImproperlyConfigured, match="crawler_tier is 'none'"):
        replace(DEFAULT_POLICY, crawler_tier="none")  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    results = doctest.testmod(tiers)
    assert results.attempted > 0
    assert results.failed == 0
