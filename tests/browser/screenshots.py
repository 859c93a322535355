"""``make screenshots``: Taskboard's key pages with JavaScript on and off, as PNG files.

    python -m tests.browser.screenshots [docs/screenshots]

Serves Taskboard on a temporary database, signs up a demo user in Debian's Chromium, adds a few
tasks through the JSON API and photographs each page in each mode (``<page>-js.png``,
``<page>-no-js.png``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.browser.live_server import PASSWORD, serve_taskboard
from tests.browser.tools import INSTALL_HINT, find_tools

EMAIL = "demo@example.org"
TASKS = ["Water the plants", "Call the plumber about the leak", "Buy milk", "Book the dentist"]
PAGES = {
    "signup-error": None,  # filled in by the journey below
    "tasks": "/tasks",
    "search": "/tasks?q=the",
    "task": "/tasks/2",
    "delete-confirm": "/tasks/3/delete",
}
MODES = {"js": True, "no-js": False}


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots")
    tools, missing = find_tools()
    if tools is None:
        print(f"screenshots need {', '.join(missing)}; install them with `{INSTALL_HINT}`")
        return 1
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as data,
        serve_taskboard(Path(data)) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=tools.chromium)
        for mode, javascript in MODES.items():
            context = browser.new_context(
                base_url=server.url, viewport={"width": 1000, "height": 760}, locale="en-US"
            )
            page = context.new_page()
            if not javascript:
                cdp = context.new_cdp_session(page)
                cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
            email = f"{mode}-{EMAIL}"
            page.goto("/signup")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill("short")
            page.get_by_role("button", name="Create account").click()
            page.locator("#error-summary").wait_for()
            shoot(page, out / f"signup-error-{mode}.png")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Create account").click()
            page.get_by_role("heading", name="Your tasks", level=1).wait_for()
            server.seed_tasks(email, PASSWORD, TASKS)
            first = server.task_id(email, TASKS[0])
            for name, path in PAGES.items():
                if path is None:
                    continue
                path = path.replace("/tasks/2", f"/tasks/{first + 1}")
                path = path.replace("/tasks/3", f"/tasks/{first + 2}")
                page.goto(path)
                page.locator("main h1").wait_for()
                shoot(page, out / f"{name}-{mode}.png")
            context.close()
        browser.close()
    print(f"Screenshots in {out}/: " + ", ".join(f"{n}-{m}.png" for n in PAGES for m in MODES))
    return 0


def shoot(page: object, path: Path) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.wait_for_load_state("load")
    page.screenshot(path=str(path), full_page=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
