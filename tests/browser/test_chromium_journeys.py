"""The whole Taskboard journey in Debian's Chromium, once per profile (see journeys.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.audits import Audits
from tests.browser.conftest import Suite
from tests.browser.journeys import FINAL_TASKS, PROFILES, Journey, Profile
from tests.browser.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_journey(
    profile: Profile, browser: Browser, live_server: LiveServer, audits: Audits, suite: Suite
) -> None:
    email = f"{profile.name}@example.org"
    journey = Journey(browser, live_server, profile, audits, email)
    journey.run()

    for name, seconds in journey.timings.items():
        suite.timings[f"{profile.name}: {name}"] = seconds
    violations = [v for v in audits.violations if v.profile == profile.name]
    assert not violations, "axe found:\n" + "\n".join(map(str, violations))
    stored = live_server.tasks_of(email)
    suite.snapshots[profile.name] = stored
    assert stored == FINAL_TASKS
