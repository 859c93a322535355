"""A forgotten password, reset by email in real Chromium, with JavaScript off and on: from the
log-in page's link to the mail in the outbox, the new password, and the link refused once used
and once expired. Every page state on the way is audited (axe now, vnu at the end)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.audits import Audits
from tests.browser.journeys import JS, NO_JS, TIMEOUT_MS, Journey, Profile
from tests.browser.live_server import PASSWORD, LiveServer
from tests.smtp_server import LINK, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser

NEW_PASSWORD = "a brand new passphrase"
MAIL_TIMEOUT = 10.0


def _links_for(outbox: Path, email: str, count: int) -> list[str]:
    """The reset links mailed to ``email``, oldest first, once ``count`` have arrived."""
    deadline = time.monotonic() + MAIL_TIMEOUT
    while True:
        links = []
        for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if message["To"] == email:
                found = LINK.search(text_of(message))
                assert found, text_of(message)
                links.append(found.group(0))
        if len(links) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling for the file the server's background work writes
    assert len(links) >= count, f"{len(links)} links mailed to {email}, expected {count}"
    return links


def _expire_links(database: Path, email: str) -> None:
    """Move the clock past the user's links, as an hour going by would."""
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE password_resets SET expires_at = '2000-01-01 00:00:00.000000' "
            "WHERE user_id = (SELECT id FROM users WHERE email = ?)",
            (email,),
        )


PROFILES = [replace(NO_JS, name="chromium-no-js-reset"), replace(JS, name="chromium-js-reset")]
"""The journeys' profiles, named apart: their audits and the run's summary stay their own."""


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_a_forgotten_password_is_reset_by_email(
    profile: Profile, browser: Browser, live_server: LiveServer, audits: Audits
) -> None:
    email = f"reset-{profile.name}@example.org"
    outbox = live_server.database.parent / "outbox"
    journey = Journey(browser, live_server, profile, audits, email)
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        journey.page = page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        journey.scripts_off = None
        if not profile.javascript:
            cdp = context.new_cdp_session(page)
            cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
            journey.scripts_off = cdp
        page.on("request", journey._count_page_load)
        page.on("response", journey._keep_fragment)

        # An account whose password its owner then forgets.
        page.goto("/signup")
        journey.fill(page.get_by_label("Email"), email)
        journey.fill(page.get_by_label("Password"), PASSWORD)
        journey.activate(page.get_by_role("button", name="Create account"))
        journey.expect_heading("Your tasks")
        journey.activate(page.get_by_role("button", name="Log out"))
        journey.expect_heading("Log in")

        # The log-in page's link, then the request for a mail.
        journey.activate(page.get_by_role("link", name="Forgot your password?"))
        journey.expect_heading("Reset your password")
        journey.check("reset-request")
        journey.fill(page.get_by_label("Email"), email)
        with journey.in_place():
            journey.activate(page.get_by_role("button", name="Send me a link"))
            journey.expect_flash("If an account exists for that address, we have sent it a link")
        journey.check("reset-requested")
        (link,) = _links_for(outbox, email, 1)

        # The mailed link: a weak password first, refused with the form kept, then a good one.
        page.goto(link)  # what clicking the link in the mail does
        journey.expect_heading("Choose a new password")
        page.get_by_text(f"For the account {email}.").wait_for()
        journey.check("reset-form")
        journey.fill(page.get_by_label("New password"), "short")
        with journey.in_place():
            journey.activate(page.get_by_role("button", name="Set my new password"))
            journey.expect_error_summary("at least 8 characters")
        journey.check("reset-form-error")
        journey.fill(page.get_by_label("New password"), NEW_PASSWORD)
        journey.activate(page.get_by_role("button", name="Set my new password"))
        journey.expect_heading("Your tasks")
        journey.expect_flash("Your new password is set and you are logged in.")
        journey.check("reset-done")

        # The link again: refused, with the way to a new one.
        used = page.goto(link)
        assert used is not None
        assert used.status == 410
        journey.expect_heading("This link has expired or was already used")
        journey.check("reset-link-used")

        # A new link, left until it expires: refused too.
        journey.activate(page.get_by_role("link", name="Ask for a new link"))
        journey.expect_heading("Reset your password")
        journey.fill(page.get_by_label("Email"), email)
        journey.activate(page.get_by_role("button", name="Send me a link"))
        journey.expect_flash("If an account exists for that address")
        _, second = _links_for(outbox, email, 2)
        _expire_links(live_server.database, email)
        expired = page.goto(second)
        assert expired is not None
        assert expired.status == 410
        journey.expect_heading("This link has expired or was already used")

        # Only the new password logs in.
        journey.activate(page.get_by_role("button", name="Log out"))
        journey.expect_heading("Log in")
        journey.fill(page.get_by_label("Email"), email)
        journey.fill(page.get_by_label("Password"), NEW_PASSWORD)
        journey.activate(page.get_by_role("button", name="Log in"))
        journey.expect_heading("Your tasks")
    finally:
        context.close()

    violations = [v for v in audits.violations if v.profile == profile.name]
    assert not violations, "axe found:\n" + "\n".join(map(str, violations))
