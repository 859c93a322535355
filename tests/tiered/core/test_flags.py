"""Flag rules: sticky rollouts, targeting, and declarations that say what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered.core.errors import ImproperlyConfigured
from tiered.core.flags import FlagDefinition, Rule, bucket, evaluate, flag_to_data, parse_flag

SUBJECTS = [f"user:{n}" for n in range(2000)]


def rollout(percent: float) -> FlagDefinition:
    return FlagDefinition("inline_edit", rules=(Rule(rollout=percent),))


def test_the_same_subject_always_gets_the_same_answer() -> None:
    flag = rollout(50)
    first = [evaluate(flag, s, {}).value for s in SUBJECTS]
    again = [evaluate(flag, s, {}).value for s in SUBJECTS]

    assert first == again


def test_raising_a_rollout_keeps_everyone_who_had_it() -> None:
    at_10 = {s for s in SUBJECTS if evaluate(rollout(10), s, {}).value}
    at_20 = {s for s in SUBJECTS if evaluate(rollout(20), s, {}).value}

    assert at_10 <= at_20
    assert len(at_20) > len(at_10)


def test_a_rollout_serves_about_its_percentage() -> None:
    share = sum(evaluate(rollout(25), s, {}).value for s in SUBJECTS) / len(SUBJECTS)

    assert 0.21 < share < 0.29


def test_rollouts_of_different_flags_are_independent() -> None:
    a = FlagDefinition("a", rules=(Rule(rollout=50),))
    b = FlagDefinition("b", rules=(Rule(rollout=50),))
    same = sum(evaluate(a, s, {}).value == evaluate(b, s, {}).value for s in SUBJECTS)

    assert 0.4 < same / len(SUBJECTS) < 0.6


@given(st.text(), st.text())
def test_buckets_are_in_range(flag_key: str, subject: str) -> None:
    assert 0 <= bucket(flag_key, subject) < 10_000


def test_targeting_by_tier() -> None:
    flag = FlagDefinition("search", rules=(Rule(when={"tier": ("full",)}),))

    assert evaluate(flag, "v", {"tier": "full"}).value is True
    assert evaluate(flag, "v", {"tier": "lite"}).value is False
    assert evaluate(flag, "v", {}).reason == "default"


def test_targeting_save_data_turns_an_enhancement_off() -> None:
    flag = FlagDefinition(
        "prefetch", default=True, rules=(Rule(when={"save_data": True}, value=False),)
    )

    assert evaluate(flag, "v", {"save_data": True}).value is False
    assert evaluate(flag, "v", {"save_data": False}).value is True


def test_a_list_attribute_matches_when_it_shares_a_value() -> None:
    flag = FlagDefinition("x", rules=(Rule(when={"reasons": ("slow-network", "save-data")}),))

    assert evaluate(flag, "v", {"reasons": ("save-data",)}).value is True
    assert evaluate(flag, "v", {"reasons": ("default",)}).value is False


def test_a_boolean_condition_is_not_met_by_a_number() -> None:
    flag = FlagDefinition("admin_only", rules=(Rule(when={"is_admin": True}),))

    assert evaluate(flag, "v", {"is_admin": 1}).value is False
    assert evaluate(flag, "v", {"is_admin": True}).value is True


def test_a_disabled_flag_is_off_whatever_its_rules() -> None:
    flag = FlagDefinition("x", enabled=False, default=True, rules=(Rule(),))

    result = evaluate(flag, "v", {})
    assert (result.value, result.reason, result.variant) == (False, "disabled", "off")


def test_the_first_matching_rule_decides() -> None:
    flag = FlagDefinition(
        "x",
        rules=(Rule(when={"tier": ("core",)}, value=False), Rule(value=True)),
    )

    assert evaluate(flag, "v", {"tier": "core"}).value is False
    assert evaluate(flag, "v", {"tier": "full"}).rule == 1


def test_a_declaration_round_trips_through_plain_data() -> None:
    raw = {
        "description": "Edit in place",
        "default": False,
        "rules": [{"when": {"tier": ["full", "lite"]}, "rollout": 12.5, "value": True}],
    }

    flag = parse_flag("inline_edit", raw)

    assert flag.rules[0].when == {"tier": ("full", "lite")}
    assert parse_flag("inline_edit", flag_to_data(flag)) == flag


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"colour": "red"}, "unknown settings ['colour']"),
        ({"rules": [{"rollout": 150}]}, "rollout 150"),
        ({"rules": [{"rollout": "half"}]}, "rollout 'half'"),
        ({"rules": [{"when": {"tier": {"a": 1}}}]}, "condition 'tier'"),
        ({"rules": [{"value": "on"}]}, "value must be a boolean"),
        ({"rules": ["on"]}, "rule 1"),
    ],
)
def test_a_bad_declaration_says_what_is_wrong(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_flag("x", raw)


def test_a_bad_flag_key_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="letters, digits"):
        FlagDefinition("no spaces")
