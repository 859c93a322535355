"""The whole Taskboard journey in Debian's Chromium, once per profile (see journeys.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.audits import Audits
from tests.browser.conftest import Suite
from tests.browser.journeys import PROFILES, Profile, run_and_record
from tests.browser.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_journey(
    profile: Profile, browser: Browser, live_server: LiveServer, audits: Audits, suite: Suite
) -> None:
    run_and_record(browser, live_server, profile, audits, suite)
