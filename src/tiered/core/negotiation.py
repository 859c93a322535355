"""Choose a response's representation from ``Accept`` and the htmx request headers.

A handler returns data; this module decides whether the client gets a full HTML ``page``, an HTML
``fragment`` to swap in place, ``json``, or, for errors, an RFC 9457 ``problem`` document.

The rules, from RFC 9110:

- ``Accept`` is a list of media ranges with optional weights (§12.5.1, §12.4.2). ``q`` is 0 to 1
  with at most three decimals; ``q=0`` means "not acceptable". A range whose ``q`` breaks that
  grammar is ignored rather than guessed at.
- For each thing we can send, the *most specific* range that matches it sets its weight (§12.5.1:
  ``text/*;q=0, text/html`` still accepts HTML). Among equally specific ranges the highest weight
  wins, so a client listing both ``text/html`` and ``application/xhtml+xml`` gets the better one.
- HTML is ``text/html`` or ``application/xhtml+xml`` (we send ``text/html``, which every client
  that accepts XHTML also reads); JSON is ``application/json`` or any ``application/*+json``
  structured-syntax-suffix type (RFC 6839 §3.1), such as ``application/vnd.example+json``.
- A missing, empty or entirely unreadable ``Accept`` means ``*/*`` (§12.5.1: no field means any
  media type; unreadable values are treated as absent, never as an error).
- Equal weights go to the server's preference, HTML before JSON, so ``*/*`` (curl) gets a page.
- HTML becomes a ``fragment`` when htmx asked for a partial update (``HX-Request-Type: partial``)
  and the request is not a history restore, which needs the whole page.

Parameters other than ``q`` do not decide whether a range matches: we serve UTF-8 whatever
``charset`` says, and the ``version`` parameter of the winning JSON range is passed on in
:attr:`Negotiated.version` for :mod:`tiered.core.versions` to honour or refuse.

Parsing and the whole decision are cached by the raw header string, because the same few
``Accept`` values (one per browser engine, htmx, the API clients) arrive again and again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from tiered.core.errors import ImproperlyConfigured, NotAcceptable

if TYPE_CHECKING:
    from tiered.core.capabilities import HtmxRequest

__all__ = [
    "HTML_MEDIA_TYPE",
    "JSON_MEDIA_TYPE",
    "NOT_ACCEPTABLE_DETAIL",
    "PROBLEM_MEDIA_TYPE",
    "MediaRange",
    "Negotiated",
    "Representation",
    "negotiate",
    "negotiate_error",
    "parse_accept",
]

Representation = Literal["page", "fragment", "json", "problem"]

HTML_MEDIA_TYPE = "text/html"
JSON_MEDIA_TYPE = "application/json"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# The detail of the 406 we raise; tests assert on it.
NOT_ACCEPTABLE_DETAIL = (
    "Accept {accept} matches none of the media types on offer here: {offers}. "
    "Send an Accept header that includes one of them, or */*."
)

# Header values longer than this are parsed but not cached: a hostile client could otherwise pin
# 1024 huge strings in memory. Real Accept values are under 250 characters.
_MAX_CACHED_LENGTH = 512
# How much of a bad Accept value an error message quotes back.
_MAX_QUOTED_LENGTH = 100

_OWS = " \t"
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# What the decision read, for Vary. When HTML could become a fragment, all three htmx headers
# that decide it are listed every time, not only those present: a cache keys a stored response
# on the listed headers' values, and a Vary that changes from one response of a URL to the next
# is handled badly by some shared caches. The extra names cost nothing in hit rate, because
# browsers send none of them on a navigation.
_READ_ACCEPT: tuple[str, ...] = ("Accept",)
_READ_ACCEPT_AND_HTMX: tuple[str, ...] = (
    "Accept",
    "HX-Request",
    "HX-Request-Type",
    "HX-History-Restore-Request",
)


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One element of an ``Accept`` header, lower-cased, with its weight.

    Example::

        >>> parse_accept("text/html;q=0.9")[0]
        MediaRange(type='text', subtype='html', params=(), q=0.9)
    """

    type: str
    """Top-level type, or ``"*"``."""
    subtype: str
    """Subtype, or ``"*"``; always ``"*"`` when :attr:`type` is."""
    params: tuple[tuple[str, str], ...]
    """Parameters other than ``q``, in order; names lower-cased, quoted values unquoted."""
    q: float
    """Weight from 0.0 (not acceptable) to 1.0, the default."""


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The outcome of negotiation: what to send and what the choice depended on.

    Example::

        >>> chosen = negotiate("application/json; version=2", None)
        >>> chosen.representation, chosen.media_type, chosen.version, chosen.headers_read
        ('json', 'application/json', '2', ('Accept',))
    """

    representation: Representation
    media_type: str
    """``text/html`` (page, fragment), ``application/json`` or ``application/problem+json``."""
    version: str | None
    """The ``version`` parameter of the JSON range that won, if it had one."""
    headers_read: tuple[str, ...]
    """Canonical names of the request headers the decision depended on, for ``Vary``."""


def parse_accept(value: str) -> tuple[MediaRange, ...]:
    """Parse an ``Accept`` header value (RFC 9110 §12.5.1) into its media ranges, in order.

    Never raises: an element that is not a media range, or whose ``q`` is not a valid weight, is
    dropped; a malformed parameter is skipped. An empty result means "treat as absent".

    Example::

        >>> [(r.type, r.subtype, r.q) for r in parse_accept("text/html, */*;q=0.8, nonsense")]
        [('text', 'html', 1.0), ('*', '*', 0.8)]
    """
    if len(value) <= _MAX_CACHED_LENGTH:
        return _parse_accept_cached(value)
    return _parse_accept(value)


def negotiate(
    accept: str | None,
    client_htmx: HtmxRequest | None,
    *,
    html: bool = True,
    json: bool = True,
    fragment: bool = True,
) -> Negotiated:
    """Choose the representation of a successful response.

    ``html``, ``json`` and ``fragment`` say what this endpoint can produce; at least one of
    ``html`` and ``json`` must be true. Raises :class:`~tiered.core.errors.NotAcceptable` when
    the client accepts none of them.

    Example::

        >>> negotiate("text/html,application/xhtml+xml,*/*;q=0.8", None).representation
        'page'
        >>> negotiate("*/*", None, html=False).media_type
        'application/json'
    """
    wants_fragment = client_htmx is not None and client_htmx.wants_fragment
    value = accept or ""
    if len(value) <= _MAX_CACHED_LENGTH:
        result = _negotiate_cached(value, wants_fragment, html, json, fragment)
    else:
        result = _negotiate(value, wants_fragment, html, json, fragment)
    if result is None:
        raise _not_acceptable(value, html=html, json=json)
    return result


def effective_accept(accept: str | None, content_type: str | None) -> str | None:
    """The ``Accept`` negotiation reads: a client that sends a JSON body and accepts anything
    (``curl -d '{…}'``, a script) is an API client, so it is read as accepting JSON; a browser's
    form never sends JSON.

    Example::

        >>> effective_accept(None, "application/json")
        'application/json'
        >>> effective_accept("text/html", "application/json")
        'text/html'
    """
    if accept is not None and accept.strip() not in ("", "*/*"):
        return accept
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return JSON_MEDIA_TYPE
    return accept


def negotiate_error(accept: str | None, client_htmx: HtmxRequest | None) -> Negotiated:
    """Choose the representation of an error response; never raises.

    An error is shown as HTML (a page, or a fragment for an htmx partial request) whenever the
    client accepts HTML at all, even at a low weight, because a person is probably reading it;
    otherwise it is an ``application/problem+json`` document (RFC 9457), also when the client
    accepts nothing we have: a 406 about a 404 would help no one.

    Example::

        >>> negotiate_error("application/json", None).media_type
        'application/problem+json'
    """
    wants_fragment = client_htmx is not None and client_htmx.wants_fragment
    value = accept or ""
    if len(value) <= _MAX_CACHED_LENGTH:
        return _negotiate_error_cached(value, wants_fragment)
    return _negotiate_error(value, wants_fragment)


# --- parsing ---------------------------------------------------------------------------------


def _parse_accept(value: str) -> tuple[MediaRange, ...]:
    ranges: list[MediaRange] = []
    for element in _split(value, ","):
        media_range = _parse_element(element)
        if media_range is not None:
            ranges.append(media_range)
    return tuple(ranges)


_parse_accept_cached = lru_cache(maxsize=1024)(_parse_accept)


def _parse_element(element: str) -> MediaRange | None:
    pieces = _split(element, ";")
    media_type = pieces[0].strip(_OWS)
    if not media_type:
        return None  # an empty list element, which RFC 9110 §5.6.1 says to ignore
    if media_type == "*":
        # Not RFC grammar, but old Java clients send a bare "*" meaning "*/*".
        type_, subtype = "*", "*"
    else:
        type_, slash, subtype = media_type.lower().partition("/")
        if not slash or not _is_token(type_) or not _is_token(subtype):
            return None
        if type_ == "*" and subtype != "*":
            return None
    q = 1.0
    seen_q = False
    params: list[tuple[str, str]] = []
    for piece in pieces[1:]:
        name, equals, raw = piece.partition("=")
        name = name.strip(_OWS).lower()
        raw = raw.strip(_OWS)
        if name == "q":
            parsed_q = _parse_q(raw) if equals else None
            if parsed_q is None or seen_q:
                # An unreadable or repeated weight leaves the client's intent unknown; guessing
                # could serve what they excluded, so the whole range is ignored.
                return None
            q = parsed_q
            seen_q = True
        elif equals and _is_token(name):
            param_value = _parse_param_value(raw)
            if param_value is not None:
                params.append((name, param_value))
        # else: an empty or malformed parameter; the range itself is still clear, so keep it.
    return MediaRange(type_, subtype, tuple(params), q)


def _parse_q(value: str) -> float | None:
    """``qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`` (RFC 9110 §12.4.2)."""
    if not 1 <= len(value) <= 5 or value[0] not in "01":
        return None
    if len(value) == 1:
        return float(value)
    if value[1] != ".":
        return None
    decimals = value[2:]
    # isascii() first: str.isdigit() alone accepts digits such as "²" that float() rejects.
    if decimals and not (decimals.isascii() and decimals.isdigit()):
        return None
    if value[0] == "1" and decimals.strip("0"):
        return None
    return float(value)


def _parse_param_value(raw: str) -> str | None:
    """``parameter-value = token / quoted-string`` (RFC 9110 §5.6.6); None when it is neither."""
    if _is_token(raw):
        return raw
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        return None
    inner = raw[1:-1]
    if "\\" not in inner:
        return None if '"' in inner else inner
    chars: list[str] = []
    escaped = False
    for char in inner:
        if escaped:
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            chars.append(char)
    return None if escaped else "".join(chars)


def _split(value: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside quoted strings (RFC 9110 §5.6.4)."""
    if '"' not in value:
        return value.split(separator)
    parts: list[str] = []
    start = 0
    in_quotes = escaped = False
    for index, char in enumerate(value):
        if in_quotes:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == separator:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def _is_token(value: str) -> bool:
    return bool(value) and _TCHARS.issuperset(value)


# --- choosing ----------------------------------------------------------------------------------

# Specificity of a range for what it matches: exact type > type/* > */* (RFC 9110 §12.5.1).
_EXACT, _TYPE_WILDCARD, _ANY, _NO_MATCH = 2, 1, 0, -1


@dataclass(frozen=True, slots=True)
class _Weights:
    """The weight Accept gives our HTML and our JSON, and the JSON range that set it."""

    html_q: float
    json_q: float
    json_range: MediaRange | None


# What an absent, empty or unreadable Accept means: */*.
_ANYTHING = _Weights(html_q=1.0, json_q=1.0, json_range=None)


def _weigh(value: str) -> _Weights:
    ranges = parse_accept(value)
    if not ranges:
        return _ANYTHING
    html_level = json_level = _NO_MATCH
    html_q = json_q = 0.0
    json_range: MediaRange | None = None
    for media_range in ranges:
        html_match, json_match = _specificity(media_range)
        q = media_range.q
        if html_match > html_level or (html_match == html_level != _NO_MATCH and q > html_q):
            html_level, html_q = html_match, q
        if json_match > json_level or (json_match == json_level != _NO_MATCH and q > json_q):
            json_level, json_q, json_range = json_match, q, media_range
    return _Weights(html_q, json_q, json_range)


def _specificity(media_range: MediaRange) -> tuple[int, int]:
    """How specifically this range matches our HTML and our JSON."""
    type_, subtype = media_range.type, media_range.subtype
    if type_ == "*":
        return _ANY, _ANY
    if type_ == "text":
        if subtype == "html":
            return _EXACT, _NO_MATCH
        return (_TYPE_WILDCARD if subtype == "*" else _NO_MATCH), _NO_MATCH
    if type_ == "application":
        if subtype == "json" or subtype.endswith("+json"):
            return _NO_MATCH, _EXACT
        if subtype == "*":
            # application/* does match application/xhtml+xml, but what we send is text/html.
            return _NO_MATCH, _TYPE_WILDCARD
        if subtype == "xhtml+xml":
            return _EXACT, _NO_MATCH
    return _NO_MATCH, _NO_MATCH


def _html(wants_fragment: bool) -> Negotiated:
    if wants_fragment:
        return Negotiated("fragment", HTML_MEDIA_TYPE, None, _READ_ACCEPT_AND_HTMX)
    return Negotiated("page", HTML_MEDIA_TYPE, None, _READ_ACCEPT_AND_HTMX)


def _negotiate(
    value: str, wants_fragment: bool, html: bool, json: bool, fragment: bool
) -> Negotiated | None:
    if not (html or json):
        raise ImproperlyConfigured(
            "negotiate() was called with html=False and json=False, so there is nothing to "
            "offer; allow at least one of them."
        )
    weights = _weigh(value)
    html_q = weights.html_q if html else 0.0
    json_q = weights.json_q if json else 0.0
    if html_q > 0.0 and html_q >= json_q:
        if not fragment:
            return Negotiated("page", HTML_MEDIA_TYPE, None, _READ_ACCEPT)
        return _html(wants_fragment)
    if json_q > 0.0:
        version = None
        if weights.json_range is not None:
            version = dict(weights.json_range.params).get("version")
        return Negotiated("json", JSON_MEDIA_TYPE, version, _READ_ACCEPT)
    return None


_negotiate_cached = lru_cache(maxsize=1024)(_negotiate)


def _negotiate_error(value: str, wants_fragment: bool) -> Negotiated:
    if _weigh(value).html_q > 0.0:
        return _html(wants_fragment)
    return Negotiated("problem", PROBLEM_MEDIA_TYPE, None, _READ_ACCEPT)


_negotiate_error_cached = lru_cache(maxsize=1024)(_negotiate_error)


def _not_acceptable(value: str, *, html: bool, json: bool) -> NotAcceptable:
    offers = [
        media_type for media_type, on in ((HTML_MEDIA_TYPE, html), (JSON_MEDIA_TYPE, json)) if on
    ]
    quoted = value if len(value) <= _MAX_QUOTED_LENGTH else value[:_MAX_QUOTED_LENGTH] + "…"
    detail = NOT_ACCEPTABLE_DETAIL.format(
        accept=repr(quoted), offers=", ".join(repr(offer) for offer in offers)
    )
    return NotAcceptable(detail, extra={"media_types": offers})
