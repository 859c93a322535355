"""Read who is asking from a request's headers and cookies: one immutable :class:`Client`.

Sources, most trusted first: the user's explicit choice (the :data:`CHOICE_COOKIE` cookie, set by
a "basic version" switch), what the client told us it can do (the :data:`JS_COOKIE` cookie, which
tiered's bootstrap script sets once JavaScript ran, and the htmx ``HX-*`` headers), Client Hints,
then the User-Agent. The tier and its reasons come from :func:`tiered.core.tiers.decide_tier`.

The client's :attr:`Client.kind` (browser, text browser, crawler, API client or unknown) is read
too, for the access log and telemetry; see :data:`ClientKind`. No response is chosen by it, so it
adds nothing to ``Vary``.

Header names are looked up lower-case; values are ``str`` (latin-1 decoded bytes). A value that
breaks its grammar is treated as absent, never as an error:

=================================  ===========================================================
``Save-Data``                      ``on``, in any case; anything else is off
``ECT``                            ``slow-2g``, ``2g``, ``3g`` or ``4g``, in any case
``RTT``                            whole milliseconds, ASCII digits (``50``), at most 1 000 000
``Downlink``                       megabits per second, ``10`` or ``1.45`` (up to three
                                   decimals), at most 1 000 000
``Device-Memory``                  gigabytes, as ``Downlink`` (``0.5``, ``8``), more than 0
``Sec-CH-UA-Mobile``               ``?1`` (true) or ``?0`` (false)
``Sec-CH-Prefers-Reduced-Motion``  ``"reduce"`` or ``"no-preference"``
``Sec-CH-Prefers-Color-Scheme``    ``"light"`` or ``"dark"``
=================================  ===========================================================

The numbers follow RFC 8941's integers and decimals (no sign, no exponent, no ``_``, no
``nan``); the two ``Prefers`` hints are RFC 8941 strings, and the bare token without quotes is
accepted too, as are upper-case letters. Spaces and tabs around any value are ignored, and a
value longer than 64 characters is garbage (no valid hint or cookie comes close). The cookies:
:data:`CHOICE_COOKIE` is ``basic`` or ``full`` in any case, and :data:`JS_COOKIE` counts only
as ``1``.

Reading a client is on every request's path, so the whole result is cached by the raw values it
was read from: a site sees the same few hundred combinations of browser and hints again and
again, and a hit costs a microsecond or two where building the objects costs several.

Example::

    >>> client = read_client(
    ...     {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0", "save-data": "on"},
    ...     {},
    ... )
    >>> client.tier, client.reasons
    ('lite', ('save-data',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from tiered.core.errors import NotAcceptable
from tiered.core.negotiation import negotiate
from tiered.core.tiers import DEFAULT_POLICY, Reason, Tier, TierPolicy, decide_tier
from tiered.core.useragent import MAX_USER_AGENT_LENGTH, UserAgent, parse_user_agent

__all__ = [
    "CHOICE_COOKIE",
    "CLIENT_KINDS",
    "DEFAULT_POLICY",
    "JS_COOKIE",
    "Choice",
    "Client",
    "ClientKind",
    "ColorScheme",
    "Ect",
    "HtmxRequest",
    "read_client",
]

Ect = Literal["slow-2g", "2g", "3g", "4g"]
ColorScheme = Literal["light", "dark"]
Choice = Literal["basic", "full"]

ClientKind = Literal["browser", "text-browser", "crawler", "api", "unknown"]
"""What kind of client sent a request, first match wins:

``api``
    An API or script client: the request carries ``Authorization: Bearer`` (no crawler or browser
    navigation holds one of the app's tokens), or the User-Agent names an HTTP library or tool
    (kind ``other``: curl, python-requests, httpx, Go-http-client, …), or it names no known
    software and ``Accept`` prefers JSON to HTML.
``crawler``
    A robot uap-core knows (Googlebot, bingbot, …; User-Agent kind ``crawler``).
``text-browser``
    Lynx, Links, ELinks, w3m.
``browser``
    A graphical browser, whatever it accepts (a page's own ``fetch`` of JSON is still a browser).
``unknown``
    Anything else: an empty or unrecognised User-Agent that did not ask for JSON.
"""
CLIENT_KINDS: Final[tuple[ClientKind, ...]] = (
    "browser",
    "text-browser",
    "crawler",
    "api",
    "unknown",
)

JS_COOKIE: Final = "tiered_js"
"""Set to ``"1"`` by tiered's bootstrap script once JavaScript ran in this browser."""

CHOICE_COOKIE: Final = "tiered_version"
"""The user's explicit choice of version: ``"basic"`` or ``"full"``."""

_OWS: Final = " \t"
# Longer hint and cookie values are garbage, which keeps cache keys small (see _short).
_MAX_VALUE_LENGTH: Final = 64
_MAX_CACHED_HTMX_LENGTH: Final = 1024
_MAX_CACHED_ACCEPT_LENGTH: Final = 512
# Beyond these a hint is a lie or a bug, not a network or a device (browsers cap RTT at 3000 ms,
# Downlink at 10 Mbps, Device-Memory at 8 GB); reading it as "very fast" would be a guess.
_MAX_RTT_MS: Final = 1_000_000
_MAX_DOWNLINK_MBPS: Final = 1_000_000.0
_MAX_DEVICE_MEMORY_GB: Final = 1_000_000.0

_ECTS: Final[Mapping[str, Ect]] = {"slow-2g": "slow-2g", "2g": "2g", "3g": "3g", "4g": "4g"}
_CHOICES: Final[Mapping[str, Choice]] = {"basic": "basic", "full": "full"}
_MOBILE: Final[Mapping[str, bool]] = {"?1": True, "?0": False}
_REDUCED_MOTION: Final[Mapping[str, bool]] = {"reduce": True, "no-preference": False}
_COLOR_SCHEMES: Final[Mapping[str, ColorScheme]] = {"light": "light", "dark": "dark"}
_REQUEST_TYPES: Final[Mapping[str, Literal["partial", "full"]]] = {
    "partial": "partial",
    "full": "full",
}


@dataclass(frozen=True, slots=True)
class HtmxRequest:
    """What the htmx headers of a request (``HX-Request: true``) say.

    Example::

        >>> htmx = read_client({"hx-request": "true", "hx-target": "div#results"}, {}).htmx
        >>> htmx.target, htmx.wants_fragment
        ('div#results', True)
    """

    request_type: Literal["partial", "full"]
    """``HX-Request-Type``: ``partial`` when htmx swaps part of the page, ``full`` when it
    replaces the whole body. ``partial`` when absent or unreadable, as htmx 2 sent no such
    header and always swapped a part."""
    target: str | None
    """``HX-Target``, the element to be swapped, such as ``"div#results"``."""
    source: str | None
    """``HX-Source``, the element that made the request, such as ``"button#save"`` (htmx 4's
    replacement for ``HX-Trigger``)."""
    current_url: str | None
    """``HX-Current-URL``, the browser's URL when the request was made."""
    boosted: bool
    """``HX-Boosted: true``: an ordinary link or form that htmx took over."""
    history_restore: bool
    """``HX-History-Restore-Request: true``: the back or forward button, and htmx needs the whole
    page to put back. htmx 4 sends this header and ``HX-Request-Type: full`` alone, without
    ``HX-Request``, and tiered reads it as an htmx request all the same."""

    @property
    def wants_fragment(self) -> bool:
        """Whether the response should be the part of the page that changed, not the page."""
        return self.request_type == "partial" and not self.history_restore


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking: the tier chosen for this request, the reasons, and every signal read.

    Example::

        >>> client = read_client({"user-agent": "Lynx/2.9.0 libwww-FM/2.14"}, {})
        >>> client.tier, client.reasons, client.tier_headers
        ('core', ('text-browser',), ('Cookie', 'User-Agent'))
    """

    tier: Tier
    reasons: tuple[Reason, ...]
    """Why the tier is what it is, codes from :data:`tiered.core.tiers.REASONS`, in that order."""
    user_agent: UserAgent
    save_data: bool
    """``Save-Data: on``: the user asked for less data to be used."""
    ect: Ect | None
    """The ``ECT`` hint, the browser's estimate of the connection's class."""
    rtt_ms: int | None
    """The ``RTT`` hint, in milliseconds."""
    downlink_mbps: float | None
    """The ``Downlink`` hint, in megabits per second."""
    device_memory_gb: float | None
    """The ``Device-Memory`` hint, in gigabytes."""
    mobile: bool | None
    """``Sec-CH-UA-Mobile``: ``?1`` is True, ``?0`` is False."""
    prefers_reduced_motion: bool | None
    """``Sec-CH-Prefers-Reduced-Motion``: ``"reduce"`` is True, ``"no-preference"`` is False."""
    prefers_color_scheme: ColorScheme | None
    """``Sec-CH-Prefers-Color-Scheme``."""
    htmx: HtmxRequest | None
    """The htmx headers, or None unless ``HX-Request: true`` or ``HX-History-Restore-Request:
    true`` (htmx made the request, so JavaScript is running in the page that asked)."""
    js_confirmed: bool
    """The :data:`JS_COOKIE` cookie is ``"1"``: JavaScript has run in this browser before."""
    choice: Choice | None
    """The user's explicit choice from the :data:`CHOICE_COOKIE` cookie."""
    tier_headers: tuple[str, ...]
    """The request headers the tier decision read, canonical case, in the order read; for
    ``Vary``. Only ``("Cookie",)`` when the user's choice decided."""
    kind: ClientKind
    """What kind of client this is (see :data:`ClientKind`), for the access log and telemetry."""
    bearer: bool
    """The request carries ``Authorization: Bearer …`` (the token itself is never kept here)."""

    @property
    def wants_fragment(self) -> bool:
        """Whether this is an htmx request for the part of the page that changed."""
        return self.htmx is not None and self.htmx.wants_fragment


def read_client(
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    policy: TierPolicy = DEFAULT_POLICY,
) -> Client:
    """Read a request's :class:`Client`; never raises, whatever the headers hold.

    ``headers`` has lower-case names. Pass a ``dict``: this reads up to 16 names, and a mapping
    that scans a list on each lookup costs more than the whole decision.

    Example::

        >>> read_client({"user-agent": "curl/8.5.0"}, {"tiered_version": "basic"}).reasons
        ('user-choice',)
    """
    get = headers.get
    htmx: tuple[str | None, ...] | None = None
    cacheable = True
    if get("hx-request") is not None or get("hx-history-restore-request") is not None:
        htmx = (
            get("hx-request"),
            get("hx-request-type"),
            get("hx-target"),
            get("hx-source"),
            get("hx-current-url"),
            get("hx-boosted"),
            get("hx-history-restore-request"),
        )
        # HX-Current-URL can be long and differs on every page; such a key is not worth keeping.
        cacheable = sum(len(value) for value in htmx if value) <= _MAX_CACHED_HTMX_LENGTH
    signals = (
        # The slice bounds what the cache holds, and only this much is ever parsed anyway.
        (get("user-agent") or "")[:MAX_USER_AGENT_LENGTH],
        _short(cookies.get(CHOICE_COOKIE)),
        _short(cookies.get(JS_COOKIE)),
        _short(get("save-data")),
        _short(get("ect")),
        _short(get("rtt")),
        _short(get("downlink")),
        _short(get("device-memory")),
        _short(get("sec-ch-ua-mobile")),
        _short(get("sec-ch-prefers-reduced-motion")),
        _short(get("sec-ch-prefers-color-scheme")),
        htmx,
        # Booleans, not the values: the cache holds no token, and every Accept of a kind reads
        # the same.
        get("authorization", "")[:7].lower() == "bearer ",
        _prefers_json(get("accept")),
        policy,
    )
    if cacheable:
        return _cached_client(*signals)
    return _build_client(*signals)


def _prefers_json(accept: str | None) -> bool:
    """Whether ``Accept`` puts JSON above HTML (``application/json``; not ``*/*``)."""
    if not accept:
        return False
    if len(accept) > _MAX_CACHED_ACCEPT_LENGTH:
        return _accept_prefers_json(accept)
    return _accept_prefers_json_cached(accept)


def _accept_prefers_json(accept: str) -> bool:
    try:
        return negotiate(accept, None).representation == "json"
    except NotAcceptable:
        return False


# Keyed by the one string, cheaper than negotiate()'s own cache, which keys on five values.
_accept_prefers_json_cached = lru_cache(maxsize=512)(_accept_prefers_json)


def _short(value: str | None) -> str | None:
    # Keeps the cache key small whatever a client sends; no valid value is this long, so an
    # empty string, which is garbage too, reads the same.
    if value is not None and len(value) > _MAX_VALUE_LENGTH:
        return ""
    return value


def _build_client(
    user_agent_header: str,
    choice_cookie: str | None,
    js_cookie: str | None,
    save_data_header: str | None,
    ect_header: str | None,
    rtt_header: str | None,
    downlink_header: str | None,
    device_memory_header: str | None,
    mobile_header: str | None,
    reduced_motion_header: str | None,
    color_scheme_header: str | None,
    htmx_headers: tuple[str | None, ...] | None,
    bearer: bool,
    prefers_json: bool,
    policy: TierPolicy,
) -> Client:
    user_agent = parse_user_agent(user_agent_header)
    choice = _CHOICES.get(_clean(choice_cookie).lower())
    save_data = _clean(save_data_header).lower() == "on"
    ect = _ECTS.get(_clean(ect_header).lower())
    rtt_ms = _integer(rtt_header, _MAX_RTT_MS)
    downlink_mbps = _decimal(downlink_header, _MAX_DOWNLINK_MBPS)
    device_memory_gb = _decimal(device_memory_header, _MAX_DEVICE_MEMORY_GB)
    if device_memory_gb == 0:
        device_memory_gb = None
    decision = decide_tier(
        user_agent,
        choice=choice,
        save_data=save_data,
        ect=ect,
        rtt_ms=rtt_ms,
        downlink_mbps=downlink_mbps,
        device_memory_gb=device_memory_gb,
        policy=policy,
    )
    return Client(
        tier=decision.tier,
        reasons=decision.reasons,
        user_agent=user_agent,
        save_data=save_data,
        ect=ect,
        rtt_ms=rtt_ms,
        downlink_mbps=downlink_mbps,
        device_memory_gb=device_memory_gb,
        mobile=_MOBILE.get(_clean(mobile_header)),
        prefers_reduced_motion=_REDUCED_MOTION.get(_sf_string(reduced_motion_header).lower()),
        prefers_color_scheme=_COLOR_SCHEMES.get(_sf_string(color_scheme_header).lower()),
        htmx=_htmx(htmx_headers) if htmx_headers is not None else None,
        js_confirmed=_clean(js_cookie) == "1",
        choice=choice,
        tier_headers=decision.headers_read,
        kind=_kind(user_agent, bearer, prefers_json),
        bearer=bearer,
    )


def _kind(user_agent: UserAgent, bearer: bool, prefers_json: bool) -> ClientKind:
    """The :data:`ClientKind`, in the order its docstring gives."""
    if bearer:
        return "api"
    kind = user_agent.kind
    if kind == "other":
        return "api"
    if kind == "unknown":
        return "api" if prefers_json else "unknown"
    return kind


_cached_client = lru_cache(maxsize=4096)(_build_client)


def _htmx(headers: tuple[str | None, ...]) -> HtmxRequest | None:
    request, request_type, target, source, current_url, boosted, history_restore = headers
    if not (_is_true(request) or _is_true(history_restore)):
        return None
    return HtmxRequest(
        request_type=_REQUEST_TYPES.get(_clean(request_type).lower(), "partial"),
        target=_clean(target) or None,
        source=_clean(source) or None,
        current_url=_clean(current_url) or None,
        boosted=_is_true(boosted),
        history_restore=_is_true(history_restore),
    )


def _clean(value: str | None) -> str:
    return value.strip(_OWS) if value is not None else ""


def _is_true(value: str | None) -> bool:
    return _clean(value).lower() == "true"


def _integer(value: str | None, maximum: int) -> int | None:
    """An RFC 8941 integer >= 0 (at most 15 digits) no larger than ``maximum``, else None."""
    text = _clean(value)
    # isascii: str.isdigit() also accepts "²" and "٣", and int() accepts "1_000".
    if not (0 < len(text) <= 15 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= maximum else None


def _decimal(value: str | None, maximum: float) -> float | None:
    """An RFC 8941 integer or decimal >= 0 (``8``, ``1.45``) no larger than ``maximum``."""
    text = _clean(value)
    whole, dot, fraction = text.partition(".")
    if not (0 < len(whole) <= 12 and whole.isascii() and whole.isdigit()):
        return None
    if dot and not (0 < len(fraction) <= 3 and fraction.isascii() and fraction.isdigit()):
        return None
    number = float(text)
    return number if number <= maximum else None


def _sf_string(value: str | None) -> str:
    """The content of an RFC 8941 string (``"dark"``), or the value itself if it is unquoted."""
    text = _clean(value)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text
