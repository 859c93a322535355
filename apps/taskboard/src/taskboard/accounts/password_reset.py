"""Password reset by email: the links, the message that carries one, and its delivery.

A link holds a token of 256 random bits (``secrets.token_urlsafe(32)``). Only its SHA-256 is
stored (a random token needs no slow hash), in ``password_resets``, beside its user, when it was
made, when it expires (``Settings.password_reset_max_age``, an hour by default) and when it was
used.

- **Only the newest link works.** Asking again deletes the user's earlier links: one live link
  per person is simpler to reason about than several, and a link forwarded or left in an old
  message stops working as soon as a new one is asked for.
- **A link sets a password once.** The UPDATE that marks it used counts only a row whose
  ``used_at`` is still empty, so of two requests racing with one link exactly one wins.
- **Setting the password locks out whoever had the old one**, as changing it does: every session
  of the user ends and every API token is revoked, in the same transaction. The caller then logs
  the person in with a fresh session.

Whether an email has an account is never told: the request for a link gets the same answer
either way, and the lookup, the new link and the mail all happen off the request, in
:func:`send_password_reset` (the one seam a job queue replaces).
"""

from __future__ import annotations

import email.utils
import html
import re
import secrets
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import anyio
from sqlalchemy import delete, select, update
from starlette.applications import Starlette

from taskboard.accounts.models import ApiToken, PasswordReset, StoredSession, User
from taskboard.accounts.service import (
    aware,
    hash_password,
    password_problem,
    token_digest,
    user_by_email,
)
from taskboard.db import Database
from taskboard.jobs import service as jobs
from taskboard.jobs.queue import JobQueue
from taskboard.mail import build_mailer, send_with_retries
from taskboard.settings import Settings
from tiered import HTTPProblem, ValidationFailed

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(32)`` makes: anything else is no token of ours, unlooked-up."""
SUBJECT = "Choose a new password for Taskboard"


class ResetLinkGone(HTTPProblem):
    """The link is unknown, used, expired, or replaced by a newer one: all look alike, so a
    guessed token learns nothing. 410 Gone rather than 404: no such link will work again here,
    so there is nothing to retry, and caches and crawlers may forget the address."""

    status = 410
    code = "reset-link-gone"
    title = "This link has expired or was already used"
    next_step = "Ask for a new link to choose a new password: only the newest link works."


LINK_GONE = (
    "This password-reset link cannot be used: it has expired, it was used already, or a newer "
    "link was sent since. Ask for a new one at /password-reset."
)


def valid_for(seconds: int) -> str:
    """How long a link works, in words: ``3600`` → ``"1 hour"``, ``900`` → ``"15 minutes"``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


# --- the links ----------------------------------------------------------------------------------


async def issue(database: Database, user_id: int, max_age: int) -> str:
    """A new link's token for the user, valid for ``max_age`` seconds; the user's earlier links
    stop working."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with database.sessionmaker() as db:
        await db.execute(delete(PasswordReset).where(PasswordReset.user_id == user_id))
        db.add(
            PasswordReset(
                user_id=user_id,
                token_hash=token_digest(token),
                created_at=now,
                expires_at=now + timedelta(seconds=max_age),
            )
        )
        await db.commit()
    return token


async def usable(database: Database, token: str) -> tuple[PasswordReset, User] | None:
    """The link for ``token`` and its user, while the link may still set a password."""
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    async with database.sessionmaker() as db:
        found = (
            await db.execute(
                select(PasswordReset, User)
                .join(User, User.id == PasswordReset.user_id)
                .where(PasswordReset.token_hash == token_digest(token))
            )
        ).one_or_none()
    if found is None:
        return None
    reset, user = found
    if reset.used_at is not None or aware(reset.expires_at) <= datetime.now(UTC):
        return None
    return reset, user


async def reset_password(database: Database, token: str, password: str) -> User:
    """Set the password of the link's user, once; end their sessions and revoke their tokens.

    Raises :class:`ResetLinkGone` for a link that cannot be used (also when another request used
    it a moment ago), and :class:`tiered.ValidationFailed` on ``password`` for a password the
    sign-up form would refuse; the link then stays usable.
    """
    found = await usable(database, token)
    if found is None:
        raise ResetLinkGone(LINK_GONE)
    reset, user = found
    problem = password_problem(password)
    if problem is not None:
        raise ValidationFailed.for_field("password", *problem)
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    async with database.sessionmaker() as db:
        claimed = await db.execute(
            update(PasswordReset)
            .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
            .values(used_at=datetime.now(UTC))
        )
        if getattr(claimed, "rowcount", 0) != 1:
            await db.rollback()
            raise ResetLinkGone(LINK_GONE)
        await db.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
        await db.execute(delete(StoredSession).where(StoredSession.user_id == user.id))
        await db.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        await db.commit()
    user.password_hash = password_hash
    return user


# --- the message --------------------------------------------------------------------------------


def reset_message(*, to: str, link: str, sender: str, max_age: int) -> EmailMessage:
    """The mail that carries a password-reset ``link`` to ``to``: plain text, and the same as
    simple HTML. Builds only; sends nothing.

    Example::

        message = reset_message(to="ada@example.org", link="https://…/password-reset/…",
                                sender="Taskboard <taskboard@example.org>", max_age=3600)
    """
    lasting = valid_for(max_age)
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "taskboard.invalid"
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = sender
    message["To"] = to
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid("password-reset", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    message.set_content(
        "Hello,\n\n"
        f"Someone, we hope you, asked to choose a new password for the Taskboard account {to}.\n"
        "To choose it, open this link:\n\n"
        f"{link}\n\n"
        f"The link works once, for {lasting}. If you did not ask for it, you can ignore this "
        "message: your password stays as it is.\n\n"
        "Taskboard\n"
    )
    message.add_alternative(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(SUBJECT)}</title></head><body>\n"
        "<p>Hello,</p>\n"
        "<p>Someone, we hope you, asked to choose a new password for the Taskboard account "
        f"{html.escape(to)}.</p>\n"
        f'<p><a href="{html.escape(link)}">Choose a new password</a></p>\n'
        f"<p>The link works once, for {lasting}. If you did not ask for it, you can ignore this "
        "message: your password stays as it is.</p>\n"
        "<p>Taskboard</p>\n</body></html>\n",
        subtype="html",
    )
    return message


async def prepare_reset_mail(
    database: Database, settings: Settings, email: str, origin: str
) -> EmailMessage | None:
    """The mail with a new link for ``email``'s account (``origin``: the site's public origin,
    like ``https://tasks.example.org``), or ``None`` when the email has no account."""
    user = await user_by_email(database, email)
    if user is None:
        return None
    token = await issue(database, user.id, settings.password_reset_max_age)
    return reset_message(
        to=user.email,
        link=f"{origin}/password-reset/{token}",
        sender=settings.mail_from,
        max_age=settings.password_reset_max_age,
    )


RESET_MAIL_KIND = "password-reset-mail"


async def send_password_reset(app: Starlette, email: str, origin: str) -> None:
    """Queue a job that sends ``email`` a password-reset link (if it has an account), and
    return at once.

    The request only stores the job (the same work whatever the email: no lookup, no mail), so it
    answers the same, as fast, whether or not the account exists. The job looks the account up,
    makes the link and sends it (:func:`mail_job`); what it keeps is the email and the origin,
    never a token, and those only until the job ends.
    """
    job = await jobs.create(
        app.state.database, None, RESET_MAIL_KIND, {"email": email, "origin": origin}
    )
    queue: JobQueue = app.state.jobs
    await queue.send(job.id)


def mail_job(settings: Settings) -> jobs.Body:
    """The job that sends a password-reset mail: a few quick retries within it
    (:func:`taskboard.mail.send_with_retries`), then, while the server keeps failing, the job is
    tried again later with the queue's backoff (up to :data:`taskboard.jobs.service.MAX_ATTEMPTS`
    tries), each with a fresh link."""
    mailer = build_mailer(settings)

    async def send_reset_mail(run: jobs.JobRun) -> dict[str, Any]:
        email, origin = str(run.params.get("email", "")), str(run.params.get("origin", ""))
        message = await prepare_reset_mail(run.database, settings, email, origin)
        if message is None:
            return {"sent": False}
        if not await send_with_retries(mailer, message, first_delay=settings.mail_retry_seconds):
            raise jobs.TransientJobError("The mail server did not take the message.")
        return {"sent": True}

    return send_reset_mail
