"""Client profiles: the kinds of client a tiered app must serve, as the headers each one sends.

Each :class:`Profile` carries what tiered itself decides for those headers (its tier, and the
representation a view with a template, a block and JSON gives it), read with
:func:`tiered.read_client` and :func:`tiered.negotiate`, so the expectations cannot drift from
tiered's rules:

===================  ========================================================  =====  =========
profile              sends                                                     tier   a view
===================  ========================================================  =====  =========
``no_js_browser``    desktop Chrome, a navigation's ``Accept``, no cookie      full   page
``enhanced_browser`` Chrome, htmx 4's request headers, the JavaScript cookie   full   fragment
``api_client``       ``Accept: application/json`` from curl                    full   json
``save_data_2g``     Chrome on Android with ``Save-Data: on`` and ``ECT: 2g``  lite   page
``legacy_browser``   Internet Explorer 11                                      core   page
``text_browser``     Lynx                                                      core   page
``crawler``          Googlebot                                                 core   page
===================  ========================================================  =====  =========

Example::

    >>> from tiered.testing import PROFILES, TEXT_BROWSER
    >>> TEXT_BROWSER.tier, TEXT_BROWSER.representation, TEXT_BROWSER.script
    ('core', 'page', False)
    >>> [p.name for p in PROFILES if p.tier == "core"]
    ['legacy_browser', 'text_browser', 'crawler']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from tiered.core.capabilities import JS_COOKIE, Client, read_client
from tiered.core.errors import NotAcceptable
from tiered.core.negotiation import Representation, negotiate
from tiered.core.tiers import DEFAULT_POLICY, Tier, TierPolicy

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "API_CLIENT",
    "BROWSER_ACCEPT",
    "CHROME_USER_AGENT",
    "CRAWLER",
    "ENHANCED_BROWSER",
    "LEGACY_BROWSER",
    "NO_JS_BROWSER",
    "PROFILES",
    "SAVE_DATA_2G",
    "TEXT_BROWSER",
    "Profile",
    "profile_named",
]

CHROME_USER_AGENT: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
"""A current desktop Chrome: a browser tiered gives the full tier."""

CHROME_ANDROID_USER_AGENT: Final = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Mobile Safari/537.36"
)
IE11_USER_AGENT: Final = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
LYNX_USER_AGENT: Final = "Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.8"
GOOGLEBOT_USER_AGENT: Final = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
CURL_USER_AGENT: Final = "curl/8.5.0"

BROWSER_ACCEPT: Final = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
"""The ``Accept`` Chrome sends when it navigates to a page."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One kind of client: the headers and cookies it sends, and what tiered gives it.

    Build one with :meth:`Profile.of`, which works the expectations out with tiered's own rules.

    Example::

        >>> phone = Profile.of("phone_3g", {"User-Agent": CHROME_ANDROID_USER_AGENT, "ECT": "3g"})
        >>> phone.tier, phone.reasons, phone.representation
        ('lite', ('slow-network',), 'page')
    """

    name: str
    headers: Mapping[str, str]
    """What the client sends, canonical case; ``Accept`` and ``User-Agent`` always."""
    cookies: Mapping[str, str]
    """Cookies it holds before the app sets any (``tiered_js`` once JavaScript ran)."""
    tier: Tier
    """The tier tiered's default policy gives it."""
    reasons: tuple[str, ...]
    representation: Representation
    """What a successful GET of a view with a template, a block and JSON answers it."""
    script: bool
    """Whether its HTML may carry ``<script>``: every tier but ``core``."""
    client: Client = field(repr=False, compare=False)
    """The :class:`tiered.Client` tiered reads from these headers and cookies."""

    @classmethod
    def of(
        cls,
        name: str,
        headers: Mapping[str, str],
        cookies: Mapping[str, str] | None = None,
        *,
        policy: TierPolicy = DEFAULT_POLICY,
    ) -> Profile:
        """A profile named ``name`` for these headers, its expectations read by tiered."""
        headers = {"Accept": BROWSER_ACCEPT, **headers}
        cookies = dict(cookies or {})
        client = read_client({k.lower(): v for k, v in headers.items()}, cookies, policy)
        representation = _representation(headers["Accept"], client)
        if representation is None:
            raise ValueError(
                f"Profile {name!r} accepts neither HTML nor JSON (Accept "
                f"{headers['Accept']!r}); give it an Accept that includes text/html or "
                "application/json."
            )
        return cls(
            name=name,
            headers=MappingProxyType(headers),
            cookies=MappingProxyType(cookies),
            tier=client.tier,
            reasons=client.reasons,
            representation=representation,
            script=client.tier != "core",
            client=client,
        )

    def representation_for(
        self,
        *,
        html: bool = True,
        json: bool = True,
        fragment: bool = True,
        policy: TierPolicy = DEFAULT_POLICY,
    ) -> Representation | None:
        """What a view that offers these answers this client with; None when it answers 406.

        ``fragment`` is whether the view has a block an enhanced request gets.

        Example::

            >>> ENHANCED_BROWSER.representation_for(fragment=False)
            'page'
            >>> API_CLIENT.representation_for(json=False) is None
            True
        """
        client = self.client if policy is DEFAULT_POLICY else self.client_for(policy)
        return _representation(self.headers["Accept"], client, html, json, fragment)

    def client_for(self, policy: TierPolicy) -> Client:
        """The :class:`tiered.Client` an app with this tier policy reads for this profile."""
        return read_client({k.lower(): v for k, v in self.headers.items()}, self.cookies, policy)

    def request(
        self,
        client: httpx2.Client,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> httpx2.Response:
        """Send a request as this client: its headers, plus ``headers``, and its cookies.

        The profile's cookies join those the client already holds (a session, the CSRF
        cookie) for this one request; the client's own cookie jar is left as it was, apart
        from what the response sets. ``data`` is sent as a form, ``json`` as JSON.

        Example::

            response = TEXT_BROWSER.request(client, "GET", "/tasks")
        """
        request = client.build_request(
            method,
            url,
            headers={**self.headers, **(headers or {})},
            data=data,
            json=json,
            params=params,
        )
        if self.cookies:
            kept = [
                pair
                for pair in request.headers.get("cookie", "").split(";")
                if pair.strip() and pair.split("=", 1)[0].strip() not in self.cookies
            ]
            ours = [f"{name}={value}" for name, value in self.cookies.items()]
            request.headers["Cookie"] = "; ".join([p.strip() for p in kept] + ours)
        return client.send(request, follow_redirects=follow_redirects)


def _representation(
    accept: str,
    client: Client,
    html: bool = True,
    json: bool = True,
    fragment: bool = True,
) -> Representation | None:
    try:
        return negotiate(
            accept, client.htmx, html=html, json=json, fragment=fragment
        ).representation
    except NotAcceptable:
        return None


NO_JS_BROWSER: Final = Profile.of("no_js_browser", {"User-Agent": CHROME_USER_AGENT})
"""Chrome on its first visit, or with JavaScript off: nothing says a script ever ran."""

ENHANCED_BROWSER: Final = Profile.of(
    "enhanced_browser",
    {
        "User-Agent": CHROME_USER_AGENT,
        # What htmx 4 sends with every request it makes.
        "Accept": "text/html",
        "HX-Request": "true",
        "HX-Request-Type": "partial",
        "HX-Current-URL": "http://testserver/",
    },
    {JS_COOKIE: "1"},
)
"""Chrome where tiered's bootstrap script ran, making an htmx request."""

API_CLIENT: Final = Profile.of(
    "api_client", {"User-Agent": CURL_USER_AGENT, "Accept": "application/json"}
)
"""A program asking for JSON."""

SAVE_DATA_2G: Final = Profile.of(
    "save_data_2g",
    {"User-Agent": CHROME_ANDROID_USER_AGENT, "Save-Data": "on", "ECT": "2g"},
)
"""Chrome on a phone with Save-Data on, on a 2G connection."""

LEGACY_BROWSER: Final = Profile.of(
    "legacy_browser",
    {"User-Agent": IE11_USER_AGENT, "Accept": "text/html, application/xhtml+xml, */*"},
)
"""Internet Explorer 11, too old for the enhancement script."""

TEXT_BROWSER: Final = Profile.of(
    "text_browser",
    {"User-Agent": LYNX_USER_AGENT, "Accept": "text/html, text/plain, text/sgml, */*;q=0.01"},
)
"""Lynx, which never runs a script."""

CRAWLER: Final = Profile.of("crawler", {"User-Agent": GOOGLEBOT_USER_AGENT})
"""Googlebot."""

PROFILES: Final[tuple[Profile, ...]] = (
    NO_JS_BROWSER,
    ENHANCED_BROWSER,
    API_CLIENT,
    SAVE_DATA_2G,
    LEGACY_BROWSER,
    TEXT_BROWSER,
    CRAWLER,
)
"""Every profile above, in that order."""

_BY_NAME: Final = {profile.name: profile for profile in PROFILES}


def profile_named(name: str) -> Profile:
    """The profile called ``name``.

    Example::

        >>> profile_named("crawler").reasons
        ('crawler',)
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"Unknown profile {name!r}; expected one of {', '.join(map(repr, _BY_NAME))}."
        ) from None
