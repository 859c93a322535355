"""Who really asked, behind a proxy: the client's address, scheme and host from forwarding headers.

A TLS-terminating proxy connects to the app over plain HTTP and says in ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host`` who the client was and how it connected. Anyone can
send those headers, so they are believed only when the connection itself comes from a configured
proxy (:class:`TrustedProxies`); from anyone else they are ignored, and a forged header gains
nothing.

``X-Forwarded-For`` is a list each proxy appends to. The client is its right-most address that is
not itself a trusted proxy: addresses further left were written by the client or an untrusted hop
and prove nothing. Of ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` the last value counts, the
one the nearest proxy wrote.

Example::

    proxies = TrustedProxies.parse(["127.0.0.10", "10.0.0.0/8"])
    forwarded("127.0.0.10", {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"},
              proxies)
    # Forwarded(client="203.0.113.7", scheme="https", host=None)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from tiered.core.errors import ImproperlyConfigured

ANY: Final = "*"
"""Trust every peer: only for an app no one can reach but through its proxy."""

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the trusted proxy said; ``None`` where it said nothing usable."""

    client: str | None
    scheme: str | None
    host: str | None


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The peers whose forwarding headers are believed: addresses and networks."""

    networks: tuple[_Network, ...] = ()
    any: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """From addresses and networks like ``127.0.0.1``, ``10.0.0.0/8``, ``::1`` or ``*``."""
        networks: list[_Network] = []
        trust_any = False
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if entry == ANY:
                trust_any = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ImproperlyConfigured(
                    f"Trusted proxy {entry!r} is not an IP address or network; expected "
                    "addresses like '127.0.0.1' or '::1', networks like '10.0.0.0/8', or '*'."
                ) from None
        return cls(tuple(networks), trust_any)

    def __bool__(self) -> bool:
        return self.any or bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        if address is None:
            return False
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:  # a Unix socket path or a name: not a proxy's address
            return False
        return any(ip in network for network in self.networks)


def forwarded(
    peer: str | None, headers: Mapping[str, str], proxies: TrustedProxies
) -> Forwarded | None:
    """What the forwarding headers say, or ``None`` when ``peer`` is no trusted proxy or they
    say nothing. ``headers`` has lower-case names, repeated fields joined with ``", "``."""
    if not proxies.trusts(peer):
        return None
    chain = headers.get("x-forwarded-for")
    proto = headers.get("x-forwarded-proto")
    host = headers.get("x-forwarded-host")
    if chain is None and proto is None and host is None:
        return None
    client = None
    if chain is not None:
        for hop in reversed(chain.split(",")):
            address = _address(hop)
            if address is None:
                break  # garbage in the chain: nothing to the left of it can be believed either
            client = address
            if not proxies.trusts(address):
                break
    scheme = _last(proto)
    if scheme is not None:
        scheme = scheme.lower()
        if scheme not in _SCHEMES:
            scheme = None
    return Forwarded(client, scheme, _host(_last(host)))


def _last(value: str | None) -> str | None:
    if value is None:
        return None
    last = value.rsplit(",", 1)[-1].strip()
    return last or None


def _address(hop: str) -> str | None:
    """The IP address in one ``X-Forwarded-For`` entry (``[::1]:80`` and ``1.2.3.4:80`` too)."""
    text = hop.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _host(value: str | None) -> str | None:
    """A host[:port] fit for a ``Host`` header, or ``None`` for anything else."""
    if value is None or len(value) > 255:
        return None
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
    return value if set(value) <= allowed else None
