"""Flag overrides in the database, every change on record, and flags explained in words.

Flags are declared in ``taskboard/flags.toml``. An admin's change stores the flag's whole new
definition in ``flag_overrides`` (it replaces the declaration until reset) and a row in
``flag_changes`` saying what was in force before, what is after, who and when.
:class:`SqlFlagOverrideStore` is what tiered's provider reloads overrides from.

The admin page edits a flag through :class:`SimpleRules`, a shape every Taskboard flag has:

1. the core tier never gets the enhancement (its pages carry no script);
2. optionally, neither does a visitor with Save-Data on;
3. the chosen tiers get it, all of them or a sticky percentage;
4. everyone else gets the default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import delete, select

from taskboard.accounts.models import User
from taskboard.accounts.service import aware
from taskboard.admin.models import FlagChange, FlagOverride
from taskboard.db import Database
from tiered import Condition, FlagDefinition, ImproperlyConfigured, Rule, flag_to_data, parse_flag

logger = logging.getLogger("taskboard.admin")

TIERS: Final = ("core", "lite", "full")
TARGETABLE_TIERS: Final = ("lite", "full")
"""The tiers an enhancement can be turned on for: the core tier never runs script."""
HISTORY_LIMIT: Final = 50

_NEVER_CORE = Rule(when={"tier": ("core",)}, value=False)
_NO_SAVE_DATA = Rule(when={"save_data": True}, value=False)


class UnknownFlag(LookupError):
    """No flag of that key is declared."""


# --- the store tiered's provider reads -----------------------------------------------------------


def _stored(flag: FlagDefinition) -> dict[str, Any]:
    data = flag_to_data(flag)
    del data["description"]  # the declaration's description stays the one shown
    return data


class SqlFlagOverrideStore:
    """Overrides from ``flag_overrides``: tiered's ``FlagOverrideStore`` for Taskboard."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self) -> Mapping[str, FlagDefinition]:
        async with self._database.sessionmaker() as db:
            rows = (await db.execute(select(FlagOverride))).scalars().all()
        result: dict[str, FlagDefinition] = {}
        for row in rows:
            try:
                result[row.key] = parse_flag(row.key, row.definition)
            except ImproperlyConfigured:
                # A stored override the current code cannot read must not take the flags down:
                # the declaration stays in force until an admin saves the flag again.
                logger.exception("Ignoring the stored override of flag %r", row.key)
        return result


# --- reading and changing flags -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlagState:
    """One flag as the admin page shows it: its declaration and the definition in force."""

    declared: FlagDefinition
    current: FlagDefinition
    overridden_at: datetime | None = None
    overridden_by: str | None = None
    """The email of the admin who last changed it (``None`` for a deleted account)."""

    @property
    def key(self) -> str:
        return self.declared.key

    @property
    def overridden(self) -> bool:
        return self.overridden_at is not None


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    before: FlagDefinition
    after: FlagDefinition | None
    """``None``: reset to the declaration."""
    changed_by: str | None
    changed_at: datetime


def _with_description(
    key: str, data: Mapping[str, Any], declared: FlagDefinition
) -> FlagDefinition:
    return parse_flag(key, {**data, "description": declared.description})


def _declared(declarations: Mapping[str, FlagDefinition], key: str) -> FlagDefinition:
    try:
        return declarations[key]
    except KeyError:
        raise UnknownFlag(key) from None


async def flag_states(
    database: Database, declarations: Mapping[str, FlagDefinition]
) -> list[FlagState]:
    """Every declared flag, with its override if it has one, in declaration order."""
    async with database.sessionmaker() as db:
        rows = (
            await db.execute(
                select(FlagOverride, User.email).outerjoin(User, User.id == FlagOverride.updated_by)
            )
        ).all()
    overrides = {row.key: (row, email) for row, email in rows}
    states = []
    for key, declared in declarations.items():
        if key not in overrides:
            states.append(FlagState(declared, declared))
            continue
        row, email = overrides[key]
        try:
            current = _with_description(key, row.definition, declared)
        except ImproperlyConfigured:
            current = declared  # unreadable: the provider ignores it too (see the store)
        states.append(FlagState(declared, current, aware(row.updated_at), email))
    return states


async def flag_state(
    database: Database, declarations: Mapping[str, FlagDefinition], key: str
) -> FlagState:
    _declared(declarations, key)
    (state,) = [s for s in await flag_states(database, declarations) if s.key == key]
    return state


async def set_flag(
    database: Database,
    declarations: Mapping[str, FlagDefinition],
    flag: FlagDefinition,
    *,
    changed_by: int | None,
) -> FlagDefinition:
    """Store ``flag`` as the override of its declaration and record the change."""
    declared = _declared(declarations, flag.key)
    async with database.sessionmaker() as db, db.begin():
        row = await db.get(FlagOverride, flag.key, with_for_update=not database.is_sqlite)
        before = row.definition if row is not None else _stored(declared)
        after = _stored(flag)
        if row is None:
            row = FlagOverride(key=flag.key, definition=after, updated_by=changed_by)
            db.add(row)
        else:
            row.definition = after
            row.updated_by = changed_by
            row.updated_at = _now()
        db.add(FlagChange(key=flag.key, before=before, after=after, changed_by=changed_by))
    return _with_description(flag.key, after, declared)


async def reset_flag(
    database: Database,
    declarations: Mapping[str, FlagDefinition],
    key: str,
    *,
    changed_by: int | None,
) -> bool:
    """Drop ``key``'s override, so its declaration is in force again; ``False`` if it had none."""
    _declared(declarations, key)
    async with database.sessionmaker() as db, db.begin():
        row = await db.get(FlagOverride, key, with_for_update=not database.is_sqlite)
        if row is None:
            return False
        before = row.definition
        await db.execute(delete(FlagOverride).where(FlagOverride.key == key))
        db.add(FlagChange(key=key, before=before, after=None, changed_by=changed_by))
    return True


async def history(
    database: Database, declarations: Mapping[str, FlagDefinition], limit: int = HISTORY_LIMIT
) -> list[Change]:
    """The latest changes to declared flags, newest first."""
    async with database.sessionmaker() as db:
        rows = (
            await db.execute(
                select(FlagChange, User.email)
                .outerjoin(User, User.id == FlagChange.changed_by)
                .where(FlagChange.key.in_(list(declarations)))
                .order_by(FlagChange.changed_at.desc(), FlagChange.id.desc())
                .limit(limit)
            )
        ).all()
    changes = []
    for row, email in rows:
        declared = declarations[row.key]
        try:
            before = _with_description(row.key, row.before, declared)
            after = None if row.after is None else _with_description(row.key, row.after, declared)
        except ImproperlyConfigured:
            continue  # written by an older version in a form no longer read; not worth a 500
        changes.append(Change(row.key, before, after, email, aware(row.changed_at)))
    return changes


def _now() -> datetime:
    return datetime.now(UTC)


# --- the admin page's editor --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimpleRules:
    """A flag in the admin editor's terms (see the module docstring)."""

    enabled: bool
    default: bool
    tiers: tuple[str, ...]
    """Which of ``TARGETABLE_TIERS`` get the enhancement (in that order)."""
    exclude_save_data: bool
    rollout: float
    """The percentage of the targeted visitors who get it; sticky per person."""

    @classmethod
    def of(cls, flag: FlagDefinition) -> SimpleRules | None:
        """``flag`` in these terms, or ``None`` when its rules say more than the editor can."""
        rules = list(flag.rules)
        if rules and _same(rules[0], _NEVER_CORE):
            rules.pop(0)
        exclude = bool(rules) and _same(rules[0], _NO_SAVE_DATA)
        if exclude:
            rules.pop(0)
        if not rules:
            return cls(flag.enabled, flag.default, (), exclude, 100.0)
        (rule, *rest) = rules
        tiers = _tiers(rule.when)
        if rest or tiers is None or rule.value is not True or set(rule.when) != {"tier"}:
            return None
        if not set(tiers) <= set(TARGETABLE_TIERS):
            return None
        ordered = tuple(t for t in TARGETABLE_TIERS if t in tiers)
        return cls(flag.enabled, flag.default, ordered, exclude, rule.rollout)

    def definition(self, key: str, description: str = "") -> FlagDefinition:
        rules = [_NEVER_CORE]
        if self.exclude_save_data:
            rules.append(_NO_SAVE_DATA)
        tiers = tuple(t for t in TARGETABLE_TIERS if t in self.tiers)
        if tiers:
            rules.append(Rule(when={"tier": tiers}, value=True, rollout=self.rollout))
        return FlagDefinition(key, description, self.enabled, self.default, tuple(rules))


def _same(rule: Rule, expected: Rule) -> bool:
    return (
        _normalised(rule.when) == _normalised(expected.when)
        and rule.value is expected.value
        and rule.rollout >= 100
    )


def _normalised(when: Mapping[str, Condition]) -> dict[str, Any]:
    return {k: frozenset(v) if isinstance(v, tuple) else v for k, v in when.items()}


def _tiers(when: Mapping[str, Condition]) -> tuple[str, ...] | None:
    raw = when.get("tier")
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, tuple) and all(isinstance(t, str) for t in raw):
        return tuple(str(t) for t in raw)
    return None


# --- flags in words -----------------------------------------------------------------------------


def _either(values: Iterable[Any]) -> str:
    words = [str(v) for v in values]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _condition_words(name: str, expected: Condition) -> str:
    if name == "save_data" and isinstance(expected, bool):
        return "Save-Data is on" if expected else "Save-Data is off"
    if name == "js_confirmed" and isinstance(expected, bool):
        return "JavaScript has run" if expected else "JavaScript has not run yet"
    if name == "is_admin" and isinstance(expected, bool):
        return "the person is an admin" if expected else "the person is not an admin"
    label = {"tier": "the tier", "network": "the network", "reasons": "a reason for the tier"}.get(
        name, name.replace("_", " ")
    )
    if isinstance(expected, tuple):
        return f"{label} is {_either(expected)}"
    if isinstance(expected, bool):
        return f"{label} is {'true' if expected else 'false'}"
    return f"{label} is {expected}"


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _percent(rollout: float) -> str:
    return f"{rollout:g}%"


def rule_words(rule: Rule) -> str:
    """One rule as a sentence, like ``If the tier is lite or full: on.``"""
    conditions = [_condition_words(n, v) for n, v in rule.when.items()]
    head = f"If {' and '.join(conditions)}" if conditions else "For everyone"
    if rule.rollout >= 100:
        return f"{head}: {_on_off(rule.value)}."
    return (
        f"{head}: {_on_off(rule.value)} for {_percent(rule.rollout)} of them (the same people "
        f"every time), {_on_off(not rule.value)} for the rest."
    )


def flag_words(flag: FlagDefinition) -> list[str]:
    """The flag's rules as sentences, in the order they are tried."""
    if not flag.enabled:
        return ["Switched off: everyone gets the baseline, whatever the rules say."]
    sentences = [rule_words(rule) for rule in flag.rules]
    if flag.rules:
        sentences.append(f"Anyone else: {_on_off(flag.default)}.")
    else:
        sentences.append(f"Everyone: {_on_off(flag.default)}.")
    return sentences


def summary(flag: FlagDefinition) -> str:
    """A flag in one line, for the history list."""
    return " ".join(flag_words(flag))
