"""Versions of a JSON API, chosen by a media type parameter, with deprecation headers.

A client asks for a version with a parameter on the media type it accepts,
``Accept: application/json; version=2`` (RFC 9110 §8.3.1 and §12.5.1 allow parameters on media
ranges; :func:`tiered.core.negotiation.negotiate` hands the value on). No version means the
current one. An unknown version is refused with 406 :class:`~tiered.core.errors.UnknownVersion`,
because silently serving another shape would break the client later and more quietly.

The response says which version it is in its ``Content-Type`` (``application/json; version=2``),
and an old version announces its retirement with:

- ``Deprecation: @1735689600``: when it was or will be deprecated, a Structured Field Date of Unix
  seconds (RFC 9745 §2, RFC 9651 §3.3.7); a future date announces a coming deprecation;
- ``Sunset: Wed, 31 Dec 2025 23:59:59 GMT``: when it may stop answering, an HTTP-date in
  IMF-fixdate form (RFC 8594 §3, RFC 9110 §5.6.7);
- ``Link: <https://example.com/api/v1-deprecation>; rel="deprecation"``: where to read more
  (RFC 9745 §3, RFC 8288).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from tiered.core.errors import ImproperlyConfigured, UnknownVersion

__all__ = ["UNKNOWN_VERSION_DETAIL", "ApiVersion", "JsonVersions"]

# The detail of the 406 for a version we do not have; tests assert on it.
UNKNOWN_VERSION_DETAIL = (
    "Unknown API version {requested}; this API offers versions {versions} (current {current!r}). "
    "Ask for one of them, as in 'Accept: application/json; version={current}', "
    "or leave the version out to get the current one."
)

# How much of a requested version an error message quotes back: it comes from the client.
_MAX_QUOTED_LENGTH = 40

_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Characters that would end the URI reference in a Link header or split the header itself.
_LINK_FORBIDDEN = frozenset('<>" \t\r\n') | {chr(code) for code in range(0x20)} | {"\x7f"}


@dataclass(frozen=True, slots=True)
class ApiVersion:
    """One version of a JSON API, and its deprecation schedule if it has one.

    Datetimes must be timezone-aware, so the headers cannot depend on the server's local zone;
    a sunset may not come before the deprecation (RFC 9745 §3). Mistakes raise
    :class:`~tiered.core.errors.ImproperlyConfigured`.

    Example::

        >>> from datetime import datetime, UTC
        >>> v1 = ApiVersion("1", deprecated_at=datetime(2025, 1, 1, tzinfo=UTC),
        ...                 sunset_at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        ...                 link="https://example.com/api/v1-deprecation")
        >>> JsonVersions((v1, ApiVersion("2")), current="2").response_headers(v1)[0]
        ('Deprecation', '@1735689600')
    """

    name: str
    """The value of the ``version`` media type parameter, e.g. ``"2"``; an RFC 9110 token."""
    deprecated_at: datetime | None = None
    """When the version was or will be deprecated; sent as ``Deprecation: @<unix seconds>``."""
    sunset_at: datetime | None = None
    """When the version may stop answering; sent as ``Sunset: <IMF-fixdate>``."""
    link: str | None = None
    """A URI reference to read more at; sent as ``Link: <link>; rel="deprecation"``."""
    _headers: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not _TCHARS.issuperset(self.name):
            raise ImproperlyConfigured(
                f"API version name {self.name!r} is not allowed; use a non-empty name of letters, "
                "digits and !#$%&'*+-.^_`|~ only (an RFC 9110 token), such as '2' or '2025-06'."
            )
        for label, moment in (("deprecated_at", self.deprecated_at), ("sunset_at", self.sunset_at)):
            if moment is not None and moment.utcoffset() is None:
                raise ImproperlyConfigured(
                    f"API version {self.name!r}: {label}={moment!r} has no time zone; "
                    "pass an aware datetime, e.g. datetime(2026, 1, 1, tzinfo=UTC)."
                )
        if self.link is not None and (not self.link or not _LINK_FORBIDDEN.isdisjoint(self.link)):
            raise ImproperlyConfigured(
                f"API version {self.name!r}: link {self.link!r} is not a usable URI reference; "
                "it must be non-empty, without spaces, quotes, angle brackets or control "
                "characters (percent-encode them)."
            )
        headers: list[tuple[str, str]] = []
        deprecated_at, sunset_at = self.deprecated_at, self.sunset_at
        if deprecated_at is not None:
            # Structured Field Dates are whole seconds; floor, so a deprecation is never
            # announced as later than it is.
            headers.append(("Deprecation", f"@{math.floor(deprecated_at.timestamp())}"))
        if sunset_at is not None:
            # Compared at the headers' one-second resolution, which is what clients see.
            if deprecated_at is not None and math.floor(sunset_at.timestamp()) < math.floor(
                deprecated_at.timestamp()
            ):
                raise ImproperlyConfigured(
                    f"API version {self.name!r}: sunset_at {sunset_at.isoformat()} is before "
                    f"deprecated_at {deprecated_at.isoformat()}; RFC 9745 §3 does not allow a "
                    "sunset before the deprecation, so move one of them."
                )
            headers.append(("Sunset", format_datetime(sunset_at.astimezone(UTC), usegmt=True)))
        if self.link is not None:
            headers.append(("Link", f'<{self.link}>; rel="deprecation"'))
        object.__setattr__(self, "_headers", tuple(headers))


@dataclass(frozen=True, slots=True)
class JsonVersions:
    """The versions a JSON API offers, and which one a client gets by default.

    Example::

        >>> versions = JsonVersions((ApiVersion("1"), ApiVersion("2")), current="2")
        >>> versions.select(None).name, versions.select("1").name
        ('2', '1')
        >>> versions.content_type(versions.select("1"))
        'application/json; version=1'
    """

    versions: tuple[ApiVersion, ...]
    """Every version still served, at least one, with unique names."""
    current: str
    """The name of the version a client gets when it does not ask for one."""
    _by_name: Mapping[str, ApiVersion] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept a list too; the field stays a tuple so the object remains hashable.
        object.__setattr__(self, "versions", tuple(self.versions))
        if not self.versions:
            raise ImproperlyConfigured(
                "JsonVersions needs at least one ApiVersion, e.g. JsonVersions((ApiVersion('1'),), "
                "current='1')."
            )
        by_name: dict[str, ApiVersion] = {}
        for version in self.versions:
            if version.name in by_name:
                raise ImproperlyConfigured(
                    f"API version {version.name!r} is listed twice; give each version its own name."
                )
            by_name[version.name] = version
        if self.current not in by_name:
            raise ImproperlyConfigured(
                f"Current API version {self.current!r} is not one of the versions offered, "
                f"{_quoted_list(by_name)}; set current to one of them."
            )
        object.__setattr__(self, "_by_name", by_name)

    def select(self, requested: str | None) -> ApiVersion:
        """The version a client asked for, or the current one when it asked for none.

        Raises :class:`~tiered.core.errors.UnknownVersion` (406) for a version not offered; its
        ``extra`` carries ``{"versions": [...names]}`` so clients can pick another.
        """
        if requested is None:
            return self._by_name[self.current]
        version = self._by_name.get(requested)
        if version is None:
            raise self._unknown(requested)
        return version

    def response_headers(self, version: ApiVersion) -> tuple[tuple[str, str], ...]:
        """``Deprecation``, ``Sunset`` and ``Link`` headers for a response in ``version``.

        Empty for a version with no deprecation schedule.
        """
        return version._headers

    def content_type(self, version: ApiVersion, media_type: str = "application/json") -> str:
        """The ``Content-Type`` of a response in ``version``, e.g. ``application/json; version=2``.

        The name is a token (checked in :class:`ApiVersion`), so it needs no quoting.
        """
        return f"{media_type}; version={version.name}"

    def _unknown(self, requested: str) -> UnknownVersion:
        quoted = requested
        if len(quoted) > _MAX_QUOTED_LENGTH:
            quoted = quoted[:_MAX_QUOTED_LENGTH] + "…"
        names = [version.name for version in self.versions]
        detail = UNKNOWN_VERSION_DETAIL.format(
            requested=repr(quoted), versions=_quoted_list(names), current=self.current
        )
        return UnknownVersion(detail, extra={"versions": names})


def _quoted_list(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)
