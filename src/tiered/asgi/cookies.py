"""tiered's cookies: what they are called, the attributes every one carries, and the signature
on those whose value must come back unaltered. Every ``Set-Cookie`` tiered writes (the session,
the CSRF secret, an app's own through :func:`tiered.set_cookie`) is made by
:func:`set_cookie_header`.
"""

from __future__ import annotations

from itsdangerous import BadSignature, Signer

HOST_PREFIX = "__Host-"
"""Before the names of cookies tiered sets over https: browsers then accept them only from this
very host over https, with ``Path=/`` and no ``Domain``, so neither a sibling subdomain nor a
plain-http page can plant or overwrite them."""


def cookie_name(name: str, secure: bool) -> str:
    """The name a cookie goes by on a request whose cookies are ``Secure`` or not."""
    return HOST_PREFIX + name if secure else name


def set_cookie_header(name: str, value: str, max_age: int, secure: bool) -> tuple[bytes, bytes]:
    """``Set-Cookie`` for cookie ``name`` (its ``__Host-`` name when ``secure``): HttpOnly,
    SameSite=Lax, ``Path=/``, ``Secure`` when ``secure``. A ``max_age`` of 0 removes it."""
    attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    text = f"{cookie_name(name, secure)}={value}; Max-Age={max_age}{attributes}"
    return (b"set-cookie", text.encode("latin-1"))


class SignedCookie:
    """A cookie value signed with the app's secret, read back only if the signature holds."""

    def __init__(self, secret_key: str, salt: str) -> None:
        self._signer = Signer(secret_key, salt=salt)

    def read(self, value: str) -> str | None:
        """The value a cookie carries, or ``None`` if the signature does not hold."""
        try:
            return self._signer.unsign(value).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None

    def write(self, value: str) -> str:
        return self._signer.sign(value).decode("ascii")

    def header(self, name: str, value: str, max_age: int, secure: bool) -> tuple[bytes, bytes]:
        """``Set-Cookie`` for cookie ``name`` carrying ``value`` signed."""
        return set_cookie_header(name, self.write(value), max_age, secure)
