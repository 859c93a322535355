"""taskboard.mail: SMTP_URL's forms, a real SMTP server over STARTTLS with a log-in, the outbox,
and the settings that choose between them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from taskboard.mail import (
    OUTBOX_NOTICE,
    OutboxMailer,
    SmtpMailer,
    SmtpServer,
    build_mailer,
    send_with_retries,
)
from taskboard.settings import Settings
from tests.smtp_server import Inbox, free_port, smtp_server
from tiered import ImproperlyConfigured


def _message(to: str = "ada@example.org") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Hello"
    message["From"] = "Taskboard <taskboard@example.org>"
    message["To"] = to
    message["Message-ID"] = "<test@example.org>"
    message.set_content("Hello, Ada.\n")
    return message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:1025", SmtpServer("127.0.0.1", 1025, "none")),
        ("smtp://mail.example.org", SmtpServer("mail.example.org", 25, "none")),
        ("smtp+starttls://mail.example.org", SmtpServer("mail.example.org", 587, "starttls")),
        (
            "smtps://ada%40example.org:p%3Ass@mail.example.org:465",
            SmtpServer("mail.example.org", 465, "tls", "ada@example.org", "p:ss"),
        ),
        ("SMTP://[::1]:2525/", SmtpServer("::1", 2525, "none")),
    ],
)
def test_smtp_urls_name_the_server_and_how_to_reach_it(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example.org", "has the scheme 'http'; expected one of 'smtp'"),
        ("smtp://", "does not name a server"),
        ("smtp://mail.example.org:99999", "does not name a server"),
        ("smtp://mail.example.org:port", "does not name a server"),
        ("smtp://mail.example.org/inbox", "does not name a server"),
        ("smtps://ada:secret@mail.example.org/x", "'smtps://ada:***@mail.example.org/x'"),
    ],
)
def test_a_wrong_smtp_url_stops_start_up_saying_how_to_write_it(url: str, says: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="SMTP_URL") as raised:
        Settings.from_environ(
            {"SMTP_URL": url, "SECRET_KEY": "x" * 40, "DATABASE_URL": "sqlite:///x.db"}
        )

    assert says in str(raised.value)
    assert "secret" not in str(raised.value)


def test_the_mail_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {
            "TASKBOARD_DATA": str(tmp_path),
            "SECRET_KEY": "x" * 40,
            "SMTP_URL": "smtp+starttls://mail.example.org",
            "MAIL_FROM": "Tasks <tasks@example.org>",
            "PUBLIC_URL": "https://tasks.example.org/",
            "PASSWORD_RESET_MAX_AGE": "900",
        }
    )
    default = Settings.from_environ({"TASKBOARD_DATA": str(tmp_path), "SECRET_KEY": "x" * 40})

    assert settings.smtp_url == "smtp+starttls://mail.example.org"
    assert settings.mail_from == "Tasks <tasks@example.org>"
    assert settings.public_url == "https://tasks.example.org"
    assert settings.password_reset_max_age == 900
    assert isinstance(build_mailer(settings), SmtpMailer)
    assert (default.smtp_url, default.public_url, default.password_reset_max_age) == (
        None,
        None,
        3600,
    )
    assert default.mail_from == "Taskboard <taskboard@localhost>"
    outbox = build_mailer(default)
    assert isinstance(outbox, OutboxMailer)
    assert outbox.describe() == OUTBOX_NOTICE.format(path=(tmp_path / "outbox").resolve())


@pytest.mark.parametrize("url", ["tasks.example.org", "ftp://tasks.example.org", "https://a?b"])
def test_a_public_url_must_be_a_site_address(url: str, tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"PUBLIC_URL .* is not a site address"):
        Settings.from_environ(
            {"TASKBOARD_DATA": str(tmp_path), "SECRET_KEY": "x" * 40, "PUBLIC_URL": url}
        )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def starttls_server(ca: trustme.CA) -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server that wants STARTTLS, then the log-in ada / secret."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"ada",
            b"secret",
        )
        return AuthResult(success=good)

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_starttls_and_a_log_in_deliver_to_a_real_server(
    starttls_server: tuple[int, Inbox], ca: trustme.CA
) -> None:
    port, inbox = starttls_server
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    mailer = SmtpMailer(
        SmtpServer.parse(f"smtp+starttls://ada:secret@127.0.0.1:{port}"), tls=trusting
    )

    asyncio.run(mailer.send(_message()))

    (received,) = inbox.wait_for(1)
    assert received.recipients == ["ada@example.org"]
    assert received.message["Subject"] == "Hello"
    assert mailer.describe() == f"Mail goes over SMTP to smtp+starttls://ada@127.0.0.1:{port}"


def test_a_certificate_no_authority_vouches_for_is_refused(
    starttls_server: tuple[int, Inbox],
) -> None:
    port, inbox = starttls_server
    mailer = SmtpMailer(SmtpServer.parse(f"smtp+starttls://ada:secret@127.0.0.1:{port}"))

    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(mailer.send(_message()))
    assert inbox.received == []


def test_a_permanent_refusal_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(Inbox):
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            return "550 5.1.1 No such mailbox"

    with smtp_server(Refusing()) as (url, inbox):
        sent = asyncio.run(
            send_with_retries(SmtpMailer(SmtpServer.parse(url)), _message(), first_delay=0.01)
        )

    assert sent is False
    assert inbox.attempts == 0
    (record,) = [r for r in caplog.records if r.name == "taskboard.mail"]
    assert "attempt 1 of 4" in record.getMessage()
    assert "giving up" in record.getMessage()
