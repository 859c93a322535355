"""Cross-site request forgery protection that works without JavaScript.

Two independent checks guard every unsafe request (POST, PUT, PATCH, DELETE) that relies on the
session cookie:

1. **Fetch Metadata and Origin.** Browsers say where a request comes from. ``Sec-Fetch-Site:
   cross-site`` or an ``Origin`` that is neither this site nor a trusted origin is refused outright.
2. **A token bound to the session**, in the hidden form field ``csrf_token`` or, for enhanced
   requests, a header. A token is a random nonce signed with the app's secret *and* the session's
   own CSRF secret, plus a timestamp; it proves the form was served to this session recently. A new
   nonce per form keeps the page's bytes changing, so compression cannot leak the secret (BREACH).

Requests that carry ``Authorization: Bearer`` are exempt: a browser never adds that header by
itself, so a forged request cannot carry it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, MutableMapping
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

CSRF_FIELD = "csrf_token"
"""The hidden form field that carries the token."""

CSRF_CROSS_SITE = "cross-site-request"
CSRF_UNTRUSTED_ORIGIN = "untrusted-origin"
CSRF_TOKEN_MISSING = "token-missing"  # noqa: S105 (a reason code, not a secret)
CSRF_TOKEN_INVALID = "token-invalid"  # noqa: S105
CSRF_TOKEN_EXPIRED = "token-expired"  # noqa: S105

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_SESSION_KEY = "_csrf"

MESSAGES: dict[str, str] = {
    CSRF_CROSS_SITE: "The request came from another site, so it was refused.",
    CSRF_UNTRUSTED_ORIGIN: "The request came from a page that is not part of this site.",
    CSRF_TOKEN_MISSING: (
        "The form's security token is missing. Reload the page with the form and submit it again."
    ),
    CSRF_TOKEN_INVALID: (
        "The form's security token does not match your session (perhaps you logged in or out in "
        "another tab). Submit the form again."
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
    """Issues and verifies session-bound tokens."""

    def __init__(self, secret_key: str, max_age: int) -> None:
        self._secret_key = secret_key
        self._max_age = max_age

    def _signer(self, session_secret: str) -> TimestampSigner:
        return TimestampSigner(self._secret_key + session_secret, salt="tiered.csrf")

    def issue(self, session: MutableMapping[str, Any]) -> str:
        """A fresh token for a form shown to this session (creates the session's secret)."""
        secret = session.get(_SESSION_KEY)
        if not isinstance(secret, str):
            secret = secrets.token_urlsafe(24)
            session[_SESSION_KEY] = secret
        return self._signer(secret).sign(secrets.token_urlsafe(12)).decode("ascii")

    def verify(self, session: Mapping[str, Any], token: str | None) -> str | None:
        """The failure reason, or ``None`` when the token is good for this session."""
        if not token:
            return CSRF_TOKEN_MISSING
        secret = session.get(_SESSION_KEY)
        if not isinstance(secret, str):
            return CSRF_TOKEN_INVALID
        try:
            self._signer(secret).unsign(token, max_age=self._max_age)
        except SignatureExpired:
            return CSRF_TOKEN_EXPIRED
        except BadSignature:
            return CSRF_TOKEN_INVALID
        return None
