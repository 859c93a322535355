"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, on a free port, in this process.

It keeps what it received, and can refuse the first few messages with a temporary failure (451),
the way a server that is restarting or overloaded does.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://[^\s/]+(?:/[^\s/]+)*/password-reset/([A-Za-z0-9_-]{43})")
"""A password-reset link in a message's text; group 1 is its token."""


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """aiosmtpd's handler: takes each message, unless told to refuse the next ones."""

    refuse: int = 0
    """How many of the next messages to refuse with 451 (try again later)."""
    attempts: int = 0
    received: list[Received] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._arrived:
            self.attempts += 1
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The messages once ``count`` have arrived (or fail after ``timeout`` seconds)."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
        assert arrived, f"{len(self.received)} messages arrived, expected {count}"
        return list(self.received)


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick for a socket that is then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_server(inbox: Inbox | None = None) -> Iterator[tuple[str, Inbox]]:
    """An SMTP server for the block: its ``smtp://`` URL and its inbox."""
    inbox = inbox or Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None, "the message has no text/plain part"
    content: str = body.get_content()
    return content


def token_in(message: EmailMessage) -> str:
    """The password-reset token in a message's text."""
    found = LINK.search(text_of(message))
    assert found, f"no password-reset link in:\n{text_of(message)}"
    return found.group(1)


def outbox_messages(outbox: Path, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
    """The ``.eml`` files in ``outbox``, oldest first, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
        if len(files) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)  # polling for a file another thread writes, not a fixed wait
    assert len(files) >= count, f"{len(files)} messages in {outbox}, expected {count}"
    messages = []
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages
