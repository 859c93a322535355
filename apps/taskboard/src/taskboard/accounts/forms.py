"""What people submit to the accounts pages and endpoints.

These models only check shapes (present, not absurdly long); the rules (a valid email, a password
that is long enough and not common) are the service's, so the command line gets them too.
Passwords are never stripped: spaces are part of a passphrase.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_MAX_PASSWORD = 4096
"""A body-size guard only; the service's own limit (with its message) is lower."""

LABELS = {
    "email": "your email",
    "password": "your password",
    "current_password": "your current password",
    "new_password": "a new password",
    "name": "a name for the token",
}
"""How messages name each field ("Enter your email.")."""


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupForm(_Form):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


class LoginForm(_Form):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    next: str = Field(default="", max_length=2000)
    """Where to go after logging in: a local path, else ``/tasks``."""


class TokenRequest(_Form):
    """``POST /api/tokens``: credentials, and optionally what to call the token."""

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    name: str = Field(default="API token", max_length=100)


class PasswordForm(_Form):
    current_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    new_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


class TokenForm(_Form):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)


class ResetRequestForm(_Form):
    """``POST /password-reset``: the email to send a link to."""

    email: str = Field(min_length=1, max_length=320)


class NewPasswordForm(_Form):
    """``POST /password-reset/{token}``: the password the mailed link sets."""

    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


RESET_LABELS = {**LABELS, "password": "a new password"}
"""The new-password form's field names in messages ("Enter a new password.")."""
