"""Choose a client's tier, and say why.

Every tier gets HTML that works without JavaScript; the tiers differ in what is added on top:

``core``
    HTML and CSS only; no script is sent.
``lite``
    The enhancement script, but nothing heavy: no live updates, no prefetch of other pages, no
    decorative images or web fonts.
``full``
    Every enhancement whose feature flag is on for this client.

Precedence, first match wins; each step names its reasons (codes from :data:`REASONS`):

1. The user's explicit choice (the ``tiered_version`` cookie): ``basic`` gives ``core`` and
   ``full`` gives ``full``, reason ``user-choice``. A person's choice beats every guess we make.
2. The User-Agent: a text browser gives ``core`` (``text-browser``); a crawler gives
   :attr:`TierPolicy.crawler_tier` (``crawler``); a browser family older than its entry in
   :attr:`TierPolicy.legacy_baseline` gives ``core`` (``legacy-browser``).
3. The lite signals, all checked, reasons in :data:`REASONS` order: ``Save-Data: on``
   (``save-data``); a slow ``ECT``, ``RTT`` or ``Downlink`` hint (``slow-network``); a small
   ``Device-Memory`` hint (``low-memory``). Any of them gives ``lite``.
4. Otherwise ``full``, reason ``default``.

An absent, unknown or garbled User-Agent is never taken as legacy, and a garbled hint counts as
absent: the tier is only lowered on evidence.

Example::

    >>> from tiered.core.useragent import parse_user_agent
    >>> decide_tier(parse_user_agent("w3m/0.5.3"))
    TierDecision(tier='core', reasons=('text-browser',), headers_read=('Cookie', 'User-Agent'))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, get_args

from tiered.core.errors import ImproperlyConfigured
from tiered.core.useragent import UserAgent

if TYPE_CHECKING:
    from tiered.core.capabilities import Choice, Ect

__all__ = [
    "ALWAYS_LEGACY",
    "DEFAULT_LEGACY_BASELINE",
    "DEFAULT_POLICY",
    "REASONS",
    "TIERS",
    "Reason",
    "Tier",
    "TierDecision",
    "TierPolicy",
    "decide_tier",
]

Tier = Literal["core", "lite", "full"]
TIERS: Final[tuple[Tier, ...]] = ("core", "lite", "full")

Reason = Literal[
    "user-choice",
    "text-browser",
    "crawler",
    "legacy-browser",
    "save-data",
    "slow-network",
    "low-memory",
    "default",
]
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)

ALWAYS_LEGACY: Final = 1_000_000
"""A :attr:`TierPolicy.legacy_baseline` minimum that no version reaches: the family is always
legacy."""

# The enhancement script (htmx 4) needs ES2020 and fetch. The minimums are the spring 2021
# releases (Chromium 90 and the browsers built on it: Edge 90, Opera 76, Samsung Internet 15;
# Firefox 90; Safari 15), a margin past the first versions with all of ES2020, so that an older
# browser gets the core tier instead of a script that fails on load. Other iOS browsers (Chrome
# Mobile iOS, Firefox iOS) are left out: they all run Apple's WebKit, and their own version
# number does not say which.
DEFAULT_LEGACY_BASELINE: Final[Mapping[str, int]] = MappingProxyType(
    {
        "Chrome": 90,
        "Chromium": 90,
        "Chrome Mobile": 90,
        "Chrome Mobile WebView": 90,
        "HeadlessChrome": 90,
        "Edge": 90,
        "Edge Mobile": 90,
        "Firefox": 90,
        "Firefox Mobile": 90,
        "Safari": 15,
        "Mobile Safari": 15,
        "Opera": 76,
        "Opera Mobile": 64,
        "Samsung Internet": 15,
        # Never: Internet Explorer has no fetch; Opera Mini renders on Opera's servers and runs
        # scripts only there; the stock Android browser stopped at an Android 4 WebKit.
        "IE": ALWAYS_LEGACY,
        "IE Mobile": ALWAYS_LEGACY,
        "Opera Mini": ALWAYS_LEGACY,
        "Android": ALWAYS_LEGACY,
    }
)

_ECT_VALUES: Final = ("slow-2g", "2g", "3g", "4g")

# The canonical names of the request headers each outcome depended on, for Vary. Built once:
# a decision is made on every request.
_CHOICE_HEADERS: Final = ("Cookie",)
_USER_AGENT_HEADERS: Final = ("Cookie", "User-Agent")
_ALL_HEADERS: Final = (
    "Cookie",
    "User-Agent",
    "Save-Data",
    "ECT",
    "RTT",
    "Downlink",
    "Device-Memory",
)


def _check_number(name: str, value: object, *, whole: bool, minimum: int) -> None:
    # bool is an int subclass, and True as a threshold is always a mistake.
    if (
        isinstance(value, bool)
        or not isinstance(value, int if whole else (int, float))
        or not math.isfinite(value)
        or value < minimum
    ):
        noun = "a whole number" if whole else "a number"
        raise ImproperlyConfigured(f"TierPolicy.{name} is {value!r}; expected {noun} >= {minimum}.")


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(repr(value) for value in values)


class TierDecision(NamedTuple):
    """A tier, the reasons for it, and the request headers the decision read (for ``Vary``)."""

    tier: Tier
    reasons: tuple[Reason, ...]
    headers_read: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """The thresholds that turn a client's signals into a tier; validated when built.

    Example::

        >>> policy = TierPolicy(slow_ect=frozenset({"slow-2g", "2g"}), crawler_tier="full")
        >>> TierPolicy(crawler_tier="ful")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tiered.core.errors.ImproperlyConfigured: TierPolicy.crawler_tier is 'ful'; expected one ...
    """

    slow_ect: frozenset[str] = frozenset({"slow-2g", "2g", "3g"})
    """``ECT`` hint values that count as a slow network: any of ``slow-2g``, ``2g``, ``3g`` and
    ``4g``."""

    slow_rtt_ms: int = 270
    """An ``RTT`` hint of at least this many milliseconds counts as a slow network. Chrome's
    "3g" class starts near 270 ms."""

    slow_downlink_mbps: float = 0.7
    """A ``Downlink`` hint below this many megabits per second counts as a slow network; 0
    turns the check off."""

    low_memory_gb: float = 1.0
    """A ``Device-Memory`` hint of at most this many gigabytes counts as low memory; 0 turns the
    check off (browsers report 0.25 to 8)."""

    legacy_baseline: Mapping[str, int] = field(
        default_factory=lambda: DEFAULT_LEGACY_BASELINE, hash=False
    )
    """For each browser family, by the name ua-parser gives it (``"Chrome"``, ``"Mobile
    Safari"``), the oldest major version that runs the enhancement script. Older versions get
    the ``core`` tier; :data:`ALWAYS_LEGACY` marks a family that never runs it. Families not
    listed are never taken as legacy. Extend the default with
    ``{**DEFAULT_LEGACY_BASELINE, "Yandex Browser": 21}``."""

    crawler_tier: Tier = "core"
    """The tier crawlers get. ``core`` serves them the same HTML every other client starts from,
    without the script they would not run anyway."""

    # lru_caches key on the policy, and hashing the fields (a frozenset, a mapping) on every
    # request would cost more than the cache saves, so the hash is computed once.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_slow_ect()
        _check_number("slow_rtt_ms", self.slow_rtt_ms, whole=True, minimum=1)
        _check_number("slow_downlink_mbps", self.slow_downlink_mbps, whole=False, minimum=0)
        _check_number("low_memory_gb", self.low_memory_gb, whole=False, minimum=0)
        self._check_legacy_baseline()
        if self.crawler_tier not in TIERS:
            raise ImproperlyConfigured(
                f"TierPolicy.crawler_tier is {self.crawler_tier!r}; "
                f"expected one of {_listed(TIERS)}."
            )
        # Copies, so that changing the set or dict passed in cannot change a built policy.
        object.__setattr__(self, "slow_ect", frozenset(self.slow_ect))
        object.__setattr__(self, "legacy_baseline", MappingProxyType(dict(self.legacy_baseline)))
        fields = (
            self.slow_ect,
            self.slow_rtt_ms,
            self.slow_downlink_mbps,
            self.low_memory_gb,
            frozenset(self.legacy_baseline.items()),
            self.crawler_tier,
        )
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    def is_legacy(self, user_agent: UserAgent) -> bool:
        """Whether this browser is too old to run the enhancement script.

        Only browsers whose family is listed in :attr:`legacy_baseline` can be legacy, and only
        with a readable major version below the minimum (or a family marked
        :data:`ALWAYS_LEGACY`).

        Example::

            >>> from tiered.core.useragent import parse_user_agent
            >>> ie11 = parse_user_agent("Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0)")
            >>> DEFAULT_POLICY.is_legacy(ie11)
            True
        """
        if user_agent.kind != "browser":
            return False
        minimum = self.legacy_baseline.get(user_agent.family)
        if minimum is None:
            return False
        if minimum >= ALWAYS_LEGACY:
            return True
        return user_agent.major is not None and user_agent.major < minimum

    def _check_slow_ect(self) -> None:
        if not isinstance(self.slow_ect, (set, frozenset, list, tuple)):
            raise ImproperlyConfigured(
                f"TierPolicy.slow_ect is {self.slow_ect!r}; expected a set of ECT values, "
                f"such as frozenset({{'slow-2g', '2g'}})."
            )
        for value in sorted(self.slow_ect, key=repr):
            if value not in _ECT_VALUES:
                raise ImproperlyConfigured(
                    f"TierPolicy.slow_ect holds {value!r}; expected any of {_listed(_ECT_VALUES)}."
                )

    def _check_legacy_baseline(self) -> None:
        if not isinstance(self.legacy_baseline, Mapping):
            raise ImproperlyConfigured(
                f"TierPolicy.legacy_baseline is {self.legacy_baseline!r}; expected a mapping of "
                f"browser family to minimum major version, such as {{'Chrome': 90}}."
            )
        for family, minimum in self.legacy_baseline.items():
            if not isinstance(family, str) or not family:
                raise ImproperlyConfigured(
                    f"TierPolicy.legacy_baseline has the key {family!r}; expected a browser "
                    f"family name as ua-parser reports it, such as 'Chrome' or 'Mobile Safari'."
                )
            if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
                raise ImproperlyConfigured(
                    f"TierPolicy.legacy_baseline[{family!r}] is {minimum!r}; expected a whole "
                    f"number >= 0 (the oldest major version that runs the script), or "
                    f"ALWAYS_LEGACY."
                )


DEFAULT_POLICY: Final = TierPolicy()
"""The policy :func:`decide_tier` and :func:`~tiered.core.capabilities.read_client` use unless
given another."""


def decide_tier(
    user_agent: UserAgent,
    *,
    choice: Choice | None = None,
    save_data: bool = False,
    ect: Ect | None = None,
    rtt_ms: int | None = None,
    downlink_mbps: float | None = None,
    device_memory_gb: float | None = None,
    policy: TierPolicy = DEFAULT_POLICY,
) -> TierDecision:
    """Apply the precedence in this module's docstring to signals already parsed.

    Most code wants :func:`tiered.core.capabilities.read_client`, which parses the headers and
    calls this.

    Example::

        >>> from tiered.core.useragent import parse_user_agent
        >>> chrome = parse_user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0")
        >>> decide_tier(chrome, save_data=True, ect="2g").reasons
        ('save-data', 'slow-network')
    """
    if choice == "basic":
        return TierDecision("core", ("user-choice",), _CHOICE_HEADERS)
    if choice == "full":
        return TierDecision("full", ("user-choice",), _CHOICE_HEADERS)

    if user_agent.kind == "text-browser":
        return TierDecision("core", ("text-browser",), _USER_AGENT_HEADERS)
    if user_agent.kind == "crawler":
        return TierDecision(policy.crawler_tier, ("crawler",), _USER_AGENT_HEADERS)
    if policy.is_legacy(user_agent):
        return TierDecision("core", ("legacy-browser",), _USER_AGENT_HEADERS)

    reasons: list[Reason] = []
    if save_data:
        reasons.append("save-data")
    if (
        (ect is not None and ect in policy.slow_ect)
        or (rtt_ms is not None and rtt_ms >= policy.slow_rtt_ms)
        or (downlink_mbps is not None and downlink_mbps < policy.slow_downlink_mbps)
    ):
        reasons.append("slow-network")
    if device_memory_gb is not None and device_memory_gb <= policy.low_memory_gb:
        reasons.append("low-memory")
    if reasons:
        return TierDecision("lite", tuple(reasons), _ALL_HEADERS)
    return TierDecision("full", ("default",), _ALL_HEADERS)
