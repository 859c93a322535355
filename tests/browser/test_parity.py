"""Parity: every client that went through the same journey left the same tasks in the database.

Runs after the journeys (conftest orders it last); it compares what each journey stored.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import Suite
from tests.browser.journeys import FINAL_TASKS
from tests.browser.test_text_browsers import CORE_TASKS
from tests.browser.tools import Tools


def test_every_client_left_the_same_tasks(tools: Tools, suite: Suite) -> None:
    full = {name: tasks for name, tasks in suite.snapshots.items() if name.startswith("chromium")}
    core = {name: tasks for name, tasks in suite.snapshots.items() if name not in full}
    if len(full) + len(core) < 2:
        pytest.skip("fewer than two journeys ran before this test: nothing to compare")
    for name, tasks in full.items():
        assert tasks == FINAL_TASKS, f"{name} left different tasks"
    for name, tasks in core.items():
        assert tasks == CORE_TASKS, f"{name} left different tasks"
