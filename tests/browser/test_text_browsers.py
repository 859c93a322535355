"""The core journey in lynx: sign up, log in, add a task, mark it done; asserting on the text lynx
shows (saved with its Print command) and on what the database holds."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import Suite
from tests.browser.live_server import PASSWORD, LiveServer
from tests.browser.text_browsers import Lynx, moves, position, typed
from tests.browser.tools import Tools

CORE_TASKS = [("Buy milk", "", True, None)]
"""What the core journey leaves in the database, in any client."""


def test_lynx_journey(tools: Tools, live_server: LiveServer, tmp_path: Path, suite: Suite) -> None:
    email = "lynx@example.org"
    lynx = Lynx(live_server.url, tmp_path)

    stops = lynx.page("/signup")
    field, secret = position(stops, id="field-email"), position(stops, id="field-password")
    button = position(stops, text="Create account")
    shown = lynx.run(
        "/signup",
        [
            *moves(0, field),
            *typed(email),
            *moves(field, secret),
            *typed(PASSWORD),
            *moves(secret, button),
            "^J",
        ],
    )
    assert "your account is ready" in shown, shown

    lynx.cookies.unlink()  # a new visit, logged out
    stops = lynx.page("/login")
    field, secret = position(stops, id="field-email"), position(stops, id="field-password")
    button = position(stops[field:], text="Log in") + field
    shown = lynx.run(
        "/login",
        [
            *moves(0, field),
            *typed(email),
            *moves(field, secret),
            *typed(PASSWORD),
            *moves(secret, button),
            "^J",
        ],
    )
    assert f"You are logged in as {email}" in shown, shown
    assert "No tasks yet" in shown

    stops = lynx.page("/tasks")
    field, button = position(stops, id="field-title"), position(stops, text="Add task")
    shown = lynx.run("/tasks", [*moves(0, field), *typed("Buy milk"), *moves(field, button), "^J"])
    assert "Added the task" in shown, shown
    assert "Buy milk" in shown

    task_path = f"/tasks/{live_server.task_id(email, 'Buy milk')}"
    stops = lynx.page(task_path)
    button = position(stops, text="Mark done")
    shown = lynx.run(task_path, [*moves(0, button), "^J"])
    assert "as done." in shown, shown
    assert "Mark not done" in shown

    stored = live_server.tasks_of(email)
    suite.snapshots["lynx"] = stored
    assert stored == CORE_TASKS
