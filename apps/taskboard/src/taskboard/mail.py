"""Sending email: over SMTP when ``SMTP_URL`` names a server, else into an outbox folder.

A :class:`Mailer` sends one ``email.message.EmailMessage``. :func:`build_mailer` picks the kind:

- ``smtp://host:port`` talks plain SMTP (port 25 by default); ``smtp+starttls://host:port``
  upgrades the connection with STARTTLS and refuses a server that cannot (port 587);
  ``smtps://host:port`` speaks TLS from the first byte (port 465). ``user:password@`` before the
  host logs in (percent-encode ``@`` or ``:`` inside them). Certificates are checked against the
  system's authorities.
- without ``SMTP_URL``, each message is written as an ``.eml`` file (RFC 5322, what any mail
  program opens) into the outbox folder, and nothing leaves the machine: the embedded default,
  which needs no mail server to try the app.

Sending may fail for a while (the server restarts, the network drops): :func:`send_with_retries`
tries again with exponential backoff. Mail is sent by jobs (:mod:`taskboard.jobs`), in the
workers, so that no request waits for a mail server; a job whose retries all failed is tried
again later by the queue. :func:`mail_lifespan` says at start where mail goes.

Example::

    mailer = build_mailer(settings)          # SMTP_URL's server, or the outbox folder
    await send_with_retries(mailer, message, first_delay=settings.mail_retry_seconds)
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

import anyio
from starlette.applications import Starlette

from taskboard.settings import Settings
from tiered import ImproperlyConfigured

logger = logging.getLogger("taskboard.mail")

Security = Literal["none", "starttls", "tls"]
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
"""``SMTP_URL``'s schemes: how each secures the connection, and its default port."""
SMTP_TIMEOUT_SECONDS = 10.0
"""How long one connection waits on the server (connecting, or any answer) before it gives up."""
RETRIES = 3
"""How often a message that could not be sent is tried again, after the first attempt."""
OUTBOX_NOTICE = "Mail is not sent: messages are written to {path}"


class Mailer(Protocol):
    """Sends one message, or raises ``OSError`` or ``smtplib.SMTPException``."""

    def describe(self) -> str:
        """Where this mailer's messages go, for the log (never with a password)."""
        ...

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """An SMTP server, as ``SMTP_URL`` names it."""

    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """From ``smtp://host:port``, ``smtp+starttls://user:pass@host`` or ``smtps://…``."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ImproperlyConfigured(
                f"SMTP_URL {_hide_password(url)!r} has the scheme {parts.scheme!r}; expected "
                f"one of {', '.join(map(repr, SCHEMES))}, as in smtp://127.0.0.1:1025."
            )
        security, default_port = SCHEMES[scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            port = 0
        if not parts.hostname or not 0 < port < 65536 or parts.path.strip("/") or parts.query:
            raise ImproperlyConfigured(
                f"SMTP_URL {_hide_password(url)!r} does not name a server; write it like "
                f"{scheme}://mail.example.org:{default_port} (a host, an optional port, nothing "
                "after them)."
            )
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port, security, username, password)

    def __str__(self) -> str:
        scheme = next(name for name, (kind, _) in SCHEMES.items() if kind == self.security)
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class SmtpMailer:
    """Sends each message over a connection of its own, with the standard library's smtplib
    (in a worker thread, so the event loop never waits on the server).

    ``tls``: how certificates are checked; by default against the system's authorities."""

    def __init__(
        self,
        server: SmtpServer,
        *,
        timeout: float = SMTP_TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.tls = tls or ssl.create_default_context()

    def describe(self) -> str:
        return f"Mail goes over SMTP to {self.server}"

    async def send(self, message: EmailMessage) -> None:
        await anyio.to_thread.run_sync(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        server = self.server
        context = self.tls
        client: smtplib.SMTP
        if server.security == "tls":
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        with client:
            if server.security == "starttls":
                client.starttls(context=context)
            if server.username is not None:
                client.login(server.username, server.password or "")
            client.send_message(message)


class OutboxMailer:
    """Writes each message as an ``.eml`` file into ``directory`` (made on first use).

    A file appears whole or not at all (written aside, then renamed), and only its owner may read
    it: messages can hold links that log people in."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return OUTBOX_NOTICE.format(path=self.directory.resolve())

    async def send(self, message: EmailMessage) -> None:
        await anyio.to_thread.run_sync(self._write, message)

    def _write(self, message: EmailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Named by the time it was written (to the microsecond), so that names sort in order.
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}.eml"
        path = self.directory / name
        partial = self.directory / f".{name}.partial"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes())
        partial.replace(path)
        return path


def build_mailer(settings: Settings) -> Mailer:
    """The SMTP mailer for ``settings.smtp_url``, or without one the outbox in the data
    directory."""
    if settings.smtp_url:
        return SmtpMailer(SmtpServer.parse(settings.smtp_url))
    return OutboxMailer(outbox_of(settings))


def outbox_of(settings: Settings) -> Path:
    """Where messages are written when no SMTP server is set: ``outbox/`` in the data directory."""
    return settings.data_dir / "outbox"


@asynccontextmanager
async def mail_lifespan(app: Starlette) -> AsyncIterator[None]:
    """Say once, at start, where mail goes (the workers send it: taskboard.jobs)."""
    logger.info("%s.", build_mailer(app.state.settings).describe())
    yield


def _permanent(exc: Exception) -> bool:
    """Whether the server refused for good (a 5xx answer): trying again would not help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


async def send_with_retries(
    mailer: Mailer, message: EmailMessage, *, retries: int = RETRIES, first_delay: float = 2.0
) -> bool:
    """Send ``message``, trying again up to ``retries`` times after a failure, waiting
    ``first_delay`` seconds before the first retry and twice as long before each next one.

    Every failure is logged at WARNING with the message's ``Message-ID`` and the reason (never
    the message's content, which may hold a token). A refusal the server says is permanent (a
    5xx answer) is not retried. Returns whether the message was sent.
    """
    label = message.get("Message-ID", "(no Message-ID)")
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            await mailer.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if attempt == attempts or _permanent(exc):
                logger.warning(
                    "Mail %s was not sent (attempt %d of %d, %s); giving up.",
                    label,
                    attempt,
                    attempts,
                    reason,
                )
                return False
            delay = first_delay * 2 ** (attempt - 1)
            logger.warning(
                "Mail %s was not sent (attempt %d of %d, %s); trying again in %g s.",
                label,
                attempt,
                attempts,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
        else:
            if attempt > 1:
                logger.info("Mail %s was sent at attempt %d of %d.", label, attempt, attempts)
            return True
    return False  # not reached: the loop returns at its last attempt
