"""Cross-site request forgery protection that works without JavaScript.

Two independent checks guard every unsafe request (POST, PUT, PATCH, DELETE) that relies on the
session cookie:

1. **Fetch Metadata and Origin.** Browsers say where a request comes from. ``Sec-Fetch-Site:
   cross-site`` or an ``Origin`` that is neither this site nor a trusted origin is refused outright.
2. **A token bound to the visitor**, in the hidden form field ``csrf_token`` or, for enhanced
   requests, a header. Each visitor gets a random CSRF secret in its own signed, HttpOnly cookie;
   a token is a random nonce signed with the app's secret *and* that secret, plus a timestamp, so
   it proves the form was served to this browser recently. A new nonce per form keeps the page's
   bytes changing, so compression cannot leak the secret (BREACH). The secret lives in a cookie
   rather than the session so that showing a form to an anonymous visitor (every page of a full
   tier carries a token for htmx) never creates a server-side session.

Requests that carry ``Authorization: Bearer`` are exempt: a browser never adds that header by
itself, so a forged request cannot carry it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from tiered.asgi.cookies import SignedCookie

CSRF_FIELD = "csrf_token"
"""The hidden form field that carries the token."""

CSRF_CROSS_SITE = "cross-site-request"
CSRF_UNTRUSTED_ORIGIN = "untrusted-origin"
CSRF_TOKEN_MISSING = "token-missing"  # noqa: S105 (a reason code, not a secret)
CSRF_TOKEN_INVALID = "token-invalid"  # noqa: S105
CSRF_TOKEN_EXPIRED = "token-expired"  # noqa: S105

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

MESSAGES: dict[str, str] = {
    CSRF_CROSS_SITE: "The request came from another site, so it was refused.",
    CSRF_UNTRUSTED_ORIGIN: "The request came from a page that is not part of this site.",
    CSRF_TOKEN_MISSING: (
        "The form's security token is missing. Reload the page with the form and submit it again."
    ),
    CSRF_TOKEN_INVALID: (
        "The form's security token does not match this browser (perhaps its cookies were cleared "
        "or the form came from another browser). Nothing was lost: submit it again."
    ),
    CSRF_TOKEN_EXPIRED: (
        "The form was open for too long, so it was not sent. Nothing was lost: submit it again."
    ),
}


def is_bearer(headers: Mapping[str, str]) -> bool:
    return headers.get("authorization", "")[:7].lower() == "bearer "


def check_origin(
    headers: Mapping[str, str], own_origin: str, trusted: tuple[str, ...]
) -> str | None:
    """The failure reason for an unsafe request's provenance, or ``None`` when it is acceptable.

    Clients that send neither header (text browsers, old browsers, scripts) pass this check and
    rely on the token.
    """
    origin = headers.get("origin")
    if origin is not None:
        if origin == own_origin or origin in trusted:
            return None
        return CSRF_UNTRUSTED_ORIGIN
    site = headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return CSRF_CROSS_SITE
    return None


class CsrfTokens:
    """Issues and verifies tokens bound to a visitor's CSRF secret."""

    def __init__(self, secret_key: str, max_age: int) -> None:
        self._secret_key = secret_key
        self._max_age = max_age
        self._cookie = SignedCookie(secret_key, salt="tiered.csrf-cookie")

    def _signer(self, visitor_secret: str) -> TimestampSigner:
        return TimestampSigner(self._secret_key + visitor_secret, salt="tiered.csrf")

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(24)

    def read_cookie(self, value: str) -> str | None:
        """The visitor's secret from its cookie, or ``None`` when the signature does not hold."""
        return self._cookie.read(value)

    def cookie_header(
        self, name: str, visitor_secret: str, max_age: int, secure: bool
    ) -> tuple[bytes, bytes]:
        """``Set-Cookie`` for the visitor's secret, signed, as cookie ``name``."""
        return self._cookie.header(name, visitor_secret, max_age, secure)

    def issue(self, visitor_secret: str) -> str:
        """A fresh token for a form shown to the visitor with this secret."""
        return self._signer(visitor_secret).sign(secrets.token_urlsafe(12)).decode("ascii")

    def verify(self, visitor_secret: str | None, token: str | None) -> str | None:
        """The failure reason, or ``None`` when the token is good for this visitor."""
        if not token:
            return CSRF_TOKEN_MISSING
        secret = visitor_secret
        if secret is None:
            return CSRF_TOKEN_INVALID
        try:
            self._signer(secret).unsign(token, max_age=self._max_age)
        except SignatureExpired:
            return CSRF_TOKEN_EXPIRED
        except BadSignature:
            return CSRF_TOKEN_INVALID
        return None
