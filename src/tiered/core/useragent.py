"""Say what kind of software sent a request, from its ``User-Agent`` header.

The tier decision needs four answers from the User-Agent and nothing more: is this a text
browser (no script will ever run), a crawler, a browser (and which version of which family, to
compare with the oldest one the enhancement script supports), or something else? The maintained
`ua-parser <https://github.com/ua-parser/uap-python>`_ rules (uap-core) do the identifying, with
the Rust ``regex`` resolver that ``ua-parser[regex]`` installs, the fastest one it offers.

Kinds:

``text-browser``
    Lynx, Links, ELinks, w3m.
``crawler``
    Anything uap-core files under the device family ``Spider``: Googlebot, Bingbot, … except an
    HTTP library or tool (below), which uap-core sometimes files there too (``Python-urllib``,
    ``Java``, ``WinHttp``): a script is not a search engine.
``browser``
    A family uap-core recognises in a string that starts with a browser product token
    (``Mozilla/`` or ``Opera/``), which every graphical browser sends.
``other``
    Software that is not a browser: an HTTP library or command-line tool, named by the first
    product token (:data:`HTTP_LIBRARY_TOKENS`: curl, Wget, HTTPie, python-requests, httpx, Go's
    net/http, okhttp, Node's fetch, …), or other software uap-core recognises.
``unknown``
    An empty header, or nothing uap-core recognises. Unknown is never treated as old or limited:
    a client that sends garbage gets the same tier as one that sends nothing.

Parsing never raises, whatever the header holds, and is cached by the raw string, because a
site sees the same few hundred User-Agent strings again and again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

import ua_parser
import ua_parser.regex
from ua_parser.loaders import load_lazy_builtins

__all__ = [
    "HTTP_LIBRARY_TOKENS",
    "MAX_USER_AGENT_LENGTH",
    "UserAgent",
    "UserAgentKind",
    "parse_user_agent",
]

UserAgentKind = Literal["browser", "text-browser", "crawler", "other", "unknown"]

# Only this many leading characters are parsed. Every product token that identifies a real client
# comes well before it (the longest in-app browser strings are about 350 characters), and the
# parser's cost grows with the length: a hostile 8 KB header costs over a millisecond.
MAX_USER_AGENT_LENGTH = 512

_TEXT_BROWSER_FAMILIES = frozenset({"Lynx", "Links", "ELinks", "w3m"})
# uap-core puts every crawler it knows, whatever its product name, under this device family.
_CRAWLER_DEVICE_FAMILY = "Spider"
# Every graphical browser since Netscape starts its User-Agent with one of these for
# compatibility; libraries and tools (curl/8.5.0, python-requests/2.32) do not.
_BROWSER_PREFIXES = ("Mozilla/", "Opera/")
# What ua-parser reports as the family when no rule matched.
_UNRECOGNISED_FAMILY = "Other"

HTTP_LIBRARY_TOKENS = frozenset(
    {
        # Command-line tools and API workbenches.
        "curl",
        "wget",
        "httpie",
        "postmanruntime",
        "insomnia",
        "powershell",
        # Libraries, by language: Python, Go, Java/Kotlin, JavaScript runtimes, PHP, Ruby, Perl,
        # .NET, Dart, Rust.
        "python-requests",
        "python-urllib",
        "python-httpx",
        "python",
        "go-http-client",
        "java",
        "java-http-client",
        "apache-httpclient",
        "okhttp",
        "axios",
        "node-fetch",
        "node",
        "undici",
        "deno",
        "bun",
        "guzzlehttp",
        "ruby",
        "faraday",
        "libwww-perl",
        "restsharp",
        "winhttp",
        "dart",
        "reqwest",
    }
)
"""The first product tokens (lower-case) of HTTP libraries and tools: kind ``other``, never
``crawler``, whatever uap-core says. uap-core misses some (``python-httpx``, ``node-fetch``) and
files others as crawlers (``Python-urllib``, ``Java``); each of these is a program someone wrote
against the site, not a search engine's robot."""

_DOMAINS = ua_parser.Domain.USER_AGENT | ua_parser.Domain.DEVICE


@dataclass(frozen=True, slots=True)
class UserAgent:
    """What a ``User-Agent`` header says about the client.

    ``family`` is the name uap-core gives (``"Chrome"``, ``"Mobile Safari"``, ``"Googlebot"``),
    ``"Other"`` when it recognised nothing, and ``""`` for an empty header. ``major`` is the
    major version, or ``None`` when there is none or it is not a number.

    Example::

        >>> ua = parse_user_agent("Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.8")
        >>> ua.family, ua.major, ua.kind
        ('Lynx', 2, 'text-browser')
    """

    raw: str
    family: str
    major: int | None
    kind: UserAgentKind


def prepare_user_agent_parser() -> None:
    """Build the parser now (about 0.2 s, once per process): tiered's lifespan does it at start,
    so no request waits for it."""
    _parser()


@cache
def _parser() -> ua_parser.Parser:
    # Built on first use (or by prepare_user_agent_parser at an app's start), not at import:
    # compiling uap-core's rules takes about 0.2 s, which a command or a test need not pay. No cache
    # inside the parser, since parse_user_agent's lru_cache already holds the results we keep.
    # Only the rules of the domains parse_user_agent asks for (_DOMAINS): the operating-system
    # rules would take another ~2.5 MiB compiled, in every process, and never be used.
    user_agents, _operating_systems, devices = load_lazy_builtins()
    return ua_parser.Parser(ua_parser.regex.Resolver((user_agents, [], devices)))


@lru_cache(maxsize=4096)
def parse_user_agent(raw: str) -> UserAgent:
    """Parse a ``User-Agent`` value; never raises.

    Example::

        >>> ua = parse_user_agent(
        ...     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        ...     "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        ... )
        >>> ua.family, ua.major, ua.kind
        ('Chrome', 131, 'browser')
    """
    text = raw[:MAX_USER_AGENT_LENGTH].strip()
    if not text:
        return UserAgent(raw=raw, family="", major=None, kind="unknown")
    name, _, version = text.partition("/")
    if name.lower() == "w3m":
        # uap-core has no rule for w3m, a text browser every Linux distribution still ships, so
        # it would come out as "unknown" and get the full tier. Its product token is always first.
        return UserAgent(
            raw=raw, family="w3m", major=_major(version.partition(".")[0]), kind="text-browser"
        )

    result = _parser()(text, _DOMAINS)
    found = result.user_agent
    family = found.family if found is not None else _UNRECOGNISED_FAMILY
    major = _major(found.major if found is not None else None)
    kind: UserAgentKind
    product = _first_product(text)
    if family in _TEXT_BROWSER_FAMILIES:
        kind = "text-browser"
    elif product.lower() in HTTP_LIBRARY_TOKENS:
        kind = "other"
        if family == _UNRECOGNISED_FAMILY:
            family = product
            major = _major(version.partition(".")[0]) if name == product else None
    elif result.device is not None and result.device.family == _CRAWLER_DEVICE_FAMILY:
        kind = "crawler"
    elif found is None or family == _UNRECOGNISED_FAMILY:
        kind = "unknown"
    elif text.startswith(_BROWSER_PREFIXES):
        kind = "browser"
    else:
        kind = "other"
    return UserAgent(raw=raw, family=family, major=major, kind=kind)


def _first_product(text: str) -> str:
    """The name of the first product token (``python-httpx`` in ``python-httpx/0.28.1``)."""
    end = len(text)
    for separator in "/ ;(":
        found = text.find(separator)
        if 0 <= found < end:
            end = found
    return text[:end]


def _major(version: str | None) -> int | None:
    # isascii: str.isdigit() also accepts digits like "²" and "٣", which int() then rejects or
    # reads as a surprising number.
    if version and version.isascii() and version.isdigit():
        return int(version)
    return None
