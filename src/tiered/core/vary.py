"""The ``Vary`` and ``Accept-CH`` values that keep shared caches honest.

A response must name in ``Vary`` every request header that chose it (RFC 9110 §12.5.5), or a
shared cache may hand a fragment to a page request, JSON to a browser, or the ``core`` tier's page
to a capable browser (RFC 9111 §4.1). Two decisions contribute:

- negotiation (:mod:`tiered.core.negotiation`): ``Accept``, and for HTML the htmx headers;
- the tier (:mod:`tiered.core.capabilities`): the cookie, ``User-Agent`` and Client Hints it read.

Only HTML depends on the tier, so JSON and problem documents vary on ``Accept`` alone and stay
cacheable across every browser and network.

``Accept-CH`` (RFC 8942 §3.1) asks the browser to send the Client Hints the tier decision and the
templates can use on later requests.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tiered.core.capabilities import Client
    from tiered.core.negotiation import Negotiated

__all__ = ["ACCEPT_CH", "vary_value"]

ACCEPT_CH = (
    "ECT, RTT, Downlink, Device-Memory, Sec-CH-UA-Mobile, Sec-CH-Prefers-Reduced-Motion, "
    "Sec-CH-Prefers-Color-Scheme"
)

_TIERED_REPRESENTATIONS = frozenset({"page", "fragment"})


def vary_value(negotiated: Negotiated, client: Client) -> str:
    """The ``Vary`` value for a response: what negotiation read, then what the tier read.

    Names are de-duplicated case-insensitively, keeping the first spelling and the order.

    Example::

        >>> from tiered.core.negotiation import negotiate
        >>> from tiered.core.capabilities import read_client
        >>> client = read_client({"user-agent": "curl/8.5.0"}, {})
        >>> vary_value(negotiate("application/json", None), client)
        'Accept'
    """
    if negotiated.representation in _TIERED_REPRESENTATIONS:
        return _join(negotiated.headers_read, client.tier_headers)
    return _join(negotiated.headers_read, ())


@lru_cache(maxsize=256)
def _join(first: tuple[str, ...], second: tuple[str, ...]) -> str:
    # Both tuples come from small fixed sets of header names, so the cache stays small and warm.
    names: dict[str, str] = {}
    for name in (*first, *second):
        names.setdefault(name.lower(), name)
    return ", ".join(names.values())
