"""tiered's configuration: one frozen dataclass, validated when it is made.

Settings come from arguments or from the environment (:meth:`TieredSettings.from_environ`). A
mistake raises :class:`~tiered.core.errors.ImproperlyConfigured` at start-up with the fix in the
message, never later on a request.

Example::

    settings = TieredSettings(secret_key=os.environ["SECRET_KEY"], max_body_bytes=2_000_000)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tiered.core.errors import ImproperlyConfigured
from tiered.core.forwarding import TrustedProxies
from tiered.core.tiers import DEFAULT_POLICY, TierPolicy
from tiered.core.versions import JsonVersions

PLACEHOLDER_SECRET = "insecure-development-key-change-me"  # noqa: S105 (refused outside debug)
"""The secret used in debug mode when none is given; refused outside debug mode."""

_MIN_SECRET_LENGTH = 32


@dataclass(frozen=True, slots=True)
class TieredSettings:
    """Everything tiered needs to know about the app it is installed on."""

    secret_key: str = PLACEHOLDER_SECRET
    """Signs session cookies and CSRF tokens. At least 32 characters; keep it out of the code."""

    debug: bool = False
    """Show exception details on error pages and reload templates on change. Never in production."""

    tier_policy: TierPolicy = DEFAULT_POLICY
    """Thresholds that decide the tier (see :mod:`tiered.core.tiers`)."""

    json_versions: JsonVersions | None = None
    """The versions of the JSON representation on offer; ``None`` means unversioned JSON."""

    max_body_bytes: int = 1_048_576
    """Requests whose body is larger are refused with 413 before the handler runs."""

    body_limits: Mapping[str, int] = field(default_factory=dict)
    """Paths whose requests may have a larger (or smaller) body than ``max_body_bytes``, by exact
    path: ``{"/tasks/import": 5_000_000}`` lets one upload form take 5 MB while every other
    route keeps the default. Checked like the default: from ``Content-Length`` before reading,
    else as the body arrives."""

    body_timeout_seconds: float = 30.0
    """How long a request's body may take to arrive, all of it; a slower one is answered 408
    and its connection closed, so slow uploads cannot hold connections open for ever."""

    session_cookie: str = "tiered_session"
    """The name of the session cookie (HttpOnly, SameSite=Lax)."""

    csrf_cookie: str = "tiered_csrf"
    """The cookie that holds the visitor's signed CSRF secret (HttpOnly, SameSite=Lax)."""

    session_max_age: int = 14 * 24 * 3600
    """Seconds a session lives without being used."""

    secure_cookies: bool | None = None
    """Mark cookies ``Secure`` (and name them with the ``__Host-`` prefix). ``None``: when the
    request came over https, as the client saw it (see ``trusted_proxies``)."""

    trusted_proxies: tuple[str, ...] = ()
    """Addresses and networks (``127.0.0.1``, ``10.0.0.0/8``, ``*``) of the proxies in front of
    the app. Only a connection from one of them has its ``X-Forwarded-For``, ``-Proto`` and
    ``-Host`` believed, and so decides the client's address, the scheme (``Secure`` cookies,
    HSTS) and the origin the CSRF check expects; from anyone else they are ignored."""

    csrf_max_age: int = 12 * 3600
    """Seconds a form's CSRF token stays valid; an older form is re-shown with its input kept."""

    csrf_header: str = "X-CSRF-Token"
    """The request header enhanced requests carry the CSRF token in."""

    trusted_origins: tuple[str, ...] = ()
    """Other origins (``https://admin.example.org``) allowed to post to this app."""

    static_prefix: str = "/static"
    """URL prefix of the fingerprinted static files."""

    static_dirs: tuple[str, ...] = ()
    """The app's own static directories, served under ``static_prefix`` next to tiered's files."""

    template_dirs: tuple[str, ...] = ()
    """The app's template directories, searched before tiered's own templates."""

    internal_prefix: str = "/_tiered"
    """URL prefix of tiered's own endpoints (the basic-version switch)."""

    content_security_policy: Mapping[str, str] = field(default_factory=dict)
    """Directives to add to or replace in the default CSP (``{"img-src": "'self' data:"}``)."""

    problem_type_base: str = "urn:tiered:problem:"
    """Prefix of a problem document's ``type``; the error code is appended."""

    idempotency_ttl: int = 24 * 3600
    """Seconds a submission's result is remembered, so resubmitting it creates nothing twice."""

    fragment_cache_entries: int = 10_000
    """How many bodies of ``{% cache %}`` blocks a process keeps (see
    :mod:`tiered.jinja.cache`), the least recently used dropped first; 0 renders them every
    time."""

    def __post_init__(self) -> None:
        if not self.debug and self.secret_key == PLACEHOLDER_SECRET:
            raise ImproperlyConfigured(
                "secret_key is the development placeholder; set TIERED_SECRET_KEY (or pass "
                "secret_key=) to a random value of at least 32 characters, for example the output "
                "of: python -c 'import secrets; print(secrets.token_urlsafe(32))'."
            )
        if not self.debug and len(self.secret_key) < _MIN_SECRET_LENGTH:
            raise ImproperlyConfigured(
                f"secret_key is {len(self.secret_key)} characters long; use at least "
                f"{_MIN_SECRET_LENGTH} random characters."
            )
        for path, limit in self.body_limits.items():
            if not path.startswith("/") or not isinstance(limit, int) or limit <= 0:
                raise ImproperlyConfigured(
                    f"body_limits[{path!r}] is {limit!r}; expected a path starting with / and a "
                    "positive whole number of bytes."
                )
        for name in ("max_body_bytes", "session_max_age", "csrf_max_age", "idempotency_ttl"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ImproperlyConfigured(
                    f"{name} is {value!r}; expected a positive whole number."
                )
        if not isinstance(self.fragment_cache_entries, int) or self.fragment_cache_entries < 0:
            raise ImproperlyConfigured(
                f"fragment_cache_entries is {self.fragment_cache_entries!r}; expected a whole "
                "number, 0 to keep nothing."
            )
        if not isinstance(self.body_timeout_seconds, int | float) or self.body_timeout_seconds <= 0:
            raise ImproperlyConfigured(
                f"body_timeout_seconds is {self.body_timeout_seconds!r}; expected a positive "
                "number of seconds, like 30."
            )
        for name in ("static_prefix", "internal_prefix"):
            value = getattr(self, name)
            if not value.startswith("/") or value.endswith("/"):
                raise ImproperlyConfigured(
                    f"{name} is {value!r}; expected a path that starts with '/' and does not end "
                    "with one, like '/static'."
                )
        TrustedProxies.parse(self.trusted_proxies)  # raises ImproperlyConfigured with the fix
        for origin in self.trusted_origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ImproperlyConfigured(
                    f"trusted origin {origin!r} is not an origin; expected scheme and host only, "
                    "like 'https://admin.example.org'."
                )

    def replace(self, **changes: Any) -> TieredSettings:
        """A copy with some fields changed, validated again."""
        return replace(self, **changes)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> TieredSettings:
        """Settings from ``TIERED_*`` environment variables, then ``overrides``.

        Reads ``TIERED_SECRET_KEY``, ``TIERED_DEBUG`` (``1``/``true``/``yes``),
        ``TIERED_MAX_BODY_BYTES``, ``TIERED_TRUSTED_ORIGINS`` and ``TIERED_TRUSTED_PROXIES``
        (both comma-separated).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if "TIERED_SECRET_KEY" in env:
            values["secret_key"] = env["TIERED_SECRET_KEY"]
        if "TIERED_DEBUG" in env:
            values["debug"] = env["TIERED_DEBUG"].strip().lower() in {"1", "true", "yes", "on"}
        if "TIERED_MAX_BODY_BYTES" in env:
            raw = env["TIERED_MAX_BODY_BYTES"]
            try:
                values["max_body_bytes"] = int(raw)
            except ValueError:
                raise ImproperlyConfigured(
                    f"TIERED_MAX_BODY_BYTES is {raw!r}; expected a whole number of bytes, "
                    "like 1048576."
                ) from None
        for name in ("trusted_origins", "trusted_proxies"):
            listed = env.get(f"TIERED_{name.upper()}")
            if listed is not None:
                values[name] = comma_separated(listed)
        values.update(overrides)
        return cls(**values)


def comma_separated(raw: str) -> tuple[str, ...]:
    """``"a, b,,c"`` as ``("a", "b", "c")``: how lists are written in environment variables."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())
