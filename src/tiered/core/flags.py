"""Feature-flag rules: who gets an enhancement, decided from plain data.

A flag is declared once (in a TOML file or in Python) and may be overridden at run time. Each flag
is a master switch plus an ordered list of rules; the first rule whose conditions all hold
decides, serving its value to a percentage of the matching subjects; no matching rule serves the
flag's default.

Rollouts are sticky: a subject's bucket is a hash of the flag's key and the subject's key, so the
same user (or anonymous visitor) always gets the same answer, and raising a rule's percentage from
10 to 20 keeps everyone who was in the first 10 and adds others.

Conditions compare the subject's attributes (tiered fills ``tier``, ``reasons``, ``save_data``,
``network``, ``js_confirmed``, ``mobile``; the app adds its own, like ``is_admin``):

==========================  ===================================================================
``tier = ["full"]``         the attribute is one of the listed values (for a list attribute such
                            as ``reasons``: shares at least one value with the list)
``save_data = false``       the attribute equals the value
==========================  ===================================================================

A subject without the attribute does not match. Example (TOML)::

    [flags.search_as_you_type]
    description = "Search updates the list while the user types"
    default = false

    [[flags.search_as_you_type.rules]]
    when = { tier = ["full"] }
    rollout = 25
    value = true
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tiered.core.errors import ImproperlyConfigured

AttributeValue = str | bool | int | float | tuple[str, ...]
Condition = str | bool | int | float | tuple[str | bool | int | float, ...]
EvaluationReason = Literal["disabled", "targeting-match", "split", "default"]

_BUCKETS = 10_000
"""Rollouts are decided in hundredths of a percent."""


@dataclass(frozen=True, slots=True)
class Rule:
    """Serve ``value`` to ``rollout`` percent of the subjects that match every condition."""

    when: Mapping[str, Condition] = field(default_factory=dict)
    value: bool = True
    rollout: float = 100.0

    def __post_init__(self) -> None:
        if not isinstance(self.rollout, int | float) or not 0 <= self.rollout <= 100:
            raise ImproperlyConfigured(
                f"rollout {self.rollout!r} is not a percentage; expected a number from 0 to 100."
            )

    def matches(self, attributes: Mapping[str, AttributeValue]) -> bool:
        for name, expected in self.when.items():
            if name not in attributes:
                return False
            actual = attributes[name]
            if isinstance(expected, tuple):
                if isinstance(actual, tuple):
                    if not set(actual) & set(expected):
                        return False
                elif actual not in expected:
                    return False
            elif actual != expected or isinstance(actual, bool) != isinstance(expected, bool):
                return False  # True == 1 in Python; a flag condition must not think so
        return True


@dataclass(frozen=True, slots=True)
class FlagDefinition:
    """One boolean flag: a master switch, rules, and the value when no rule matches."""

    key: str
    description: str = ""
    enabled: bool = True
    default: bool = False
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        if not self.key or not self.key.replace("_", "").replace("-", "").isalnum():
            raise ImproperlyConfigured(
                f"Flag key {self.key!r} is not valid; use letters, digits, '_' and '-' only."
            )


@dataclass(frozen=True, slots=True)
class Evaluation:
    value: bool
    reason: EvaluationReason
    rule: int | None = None
    """Index of the deciding rule, or ``None``."""

    @property
    def variant(self) -> str:
        return "on" if self.value else "off"


def bucket(flag_key: str, subject_key: str) -> int:
    """The subject's sticky bucket for this flag, from 0 to 9,999."""
    digest = hashlib.sha256(f"{flag_key}\x00{subject_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def evaluate(
    flag: FlagDefinition, subject_key: str, attributes: Mapping[str, AttributeValue]
) -> Evaluation:
    """Decide ``flag`` for one subject.

    Example::

        evaluate(flag, "user:42", {"tier": "full", "save_data": False}).value
    """
    if not flag.enabled:
        return Evaluation(False, "disabled")
    for index, rule in enumerate(flag.rules):
        if not rule.matches(attributes):
            continue
        if rule.rollout >= 100:
            return Evaluation(rule.value, "targeting-match", index)
        inside = bucket(flag.key, subject_key) < math.floor(rule.rollout * _BUCKETS / 100)
        return Evaluation(rule.value if inside else not rule.value, "split", index)
    return Evaluation(flag.default, "default")


def _condition(flag: str, name: str, raw: Any) -> Condition:
    if isinstance(raw, str | bool | int | float):
        return raw
    if isinstance(raw, Sequence) and all(isinstance(v, str | bool | int | float) for v in raw):
        return tuple(raw)
    raise ImproperlyConfigured(
        f"Flag {flag!r}: condition {name!r} is {raw!r}; expected a value or a list of values."
    )


def parse_flags(document: Mapping[str, Any]) -> dict[str, FlagDefinition]:
    """Flag definitions from a parsed TOML document (its ``[flags.*]`` tables), validated."""
    raw_flags = document.get("flags", document)
    if not isinstance(raw_flags, Mapping):
        raise ImproperlyConfigured("The flags file needs [flags.NAME] tables.")
    result: dict[str, FlagDefinition] = {}
    for key, raw in raw_flags.items():
        result[key] = parse_flag(key, raw)
    return result


_FLAG_FIELDS = frozenset({"description", "enabled", "default", "rules"})
_RULE_FIELDS = frozenset({"when", "value", "rollout"})


def parse_flag(key: str, raw: Any) -> FlagDefinition:
    """One flag definition from plain data (TOML, JSON, or a stored override)."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"Flag {key!r} must be a table of settings, got {raw!r}.")
    unknown = set(raw) - _FLAG_FIELDS
    if unknown:
        raise ImproperlyConfigured(
            f"Flag {key!r} has unknown settings {sorted(unknown)}; expected some of "
            f"{sorted(_FLAG_FIELDS)}."
        )
    for name in ("enabled", "default"):
        if name in raw and not isinstance(raw[name], bool):
            raise ImproperlyConfigured(f"Flag {key!r}: {name} must be true or false.")
    rules: list[Rule] = []
    for position, rule in enumerate(raw.get("rules", ())):
        if not isinstance(rule, Mapping) or set(rule) - _RULE_FIELDS:
            raise ImproperlyConfigured(
                f"Flag {key!r}, rule {position + 1}: expected a table with some of "
                f"{sorted(_RULE_FIELDS)}, got {rule!r}."
            )
        when = rule.get("when", {})
        if not isinstance(when, Mapping):
            raise ImproperlyConfigured(
                f"Flag {key!r}, rule {position + 1}: 'when' must be a table."
            )
        value = rule.get("value", True)
        if not isinstance(value, bool):
            raise ImproperlyConfigured(
                f"Flag {key!r}, rule {position + 1}: value must be a boolean."
            )
        rollout = rule.get("rollout", 100)
        if isinstance(rollout, bool) or not isinstance(rollout, int | float):
            raise ImproperlyConfigured(
                f"Flag {key!r}, rule {position + 1}: rollout {rollout!r} is not a number from 0 "
                "to 100."
            )
        conditions = {name: _condition(key, name, v) for name, v in when.items()}
        rules.append(Rule(when=conditions, value=value, rollout=float(rollout)))
    return FlagDefinition(
        key=key,
        description=str(raw.get("description", "")),
        enabled=raw.get("enabled", True),
        default=raw.get("default", False),
        rules=tuple(rules),
    )


def flag_to_data(flag: FlagDefinition) -> dict[str, Any]:
    """The plain-data form :func:`parse_flag` reads, for storing an override."""
    return {
        "description": flag.description,
        "enabled": flag.enabled,
        "default": flag.default,
        "rules": [
            {
                "when": {k: list(v) if isinstance(v, tuple) else v for k, v in rule.when.items()},
                "value": rule.value,
                "rollout": rule.rollout,
            }
            for rule in flag.rules
        ],
    }
