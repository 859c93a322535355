"""``make screenshots``: Taskboard's main screens as PNG files, at a phone's and a desktop's width.

    python -m tests.browser.screenshots [docs/screenshots]

Serves Taskboard on a temporary database and goes through it in Debian's Chromium as a new user
does: the home and log-in pages, a sign-up refused, the empty list, the list with tasks, a task, its
edit form refused, a task that does not exist, and (the user made an admin) the flags page. Each
screen is shot at 375 and 1280 px wide, in the light and the dark colour scheme with JavaScript on,
and in the light scheme with JavaScript off: ``<screen>-<width>-<scheme>[-no-js].png``. With
JavaScript, also the feedback: a toggle waiting on a slow network (``loading``, 1280 px), and an
error shown in place beside the control used (``inplace-error``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.live_server import PASSWORD, LiveServer, serve_taskboard
from tests.browser.tools import INSTALL_HINT, find_tools

if TYPE_CHECKING:
    from playwright.sync_api import Browser

EMAIL = "demo@example.org"
TASKS = [  # (title, notes, due_on, done), added oldest first: the list shows them newest first
    ("Book the dentist", "", "", True),
    ("Water the plants", "The ferns on the balcony need the most.", "", False),
    ("Renew the car insurance", "", "2030-05-01", False),
    ("Call the plumber about the leak", "The kitchen sink drips at night.", "2030-04-12", False),
    ("Buy milk", "Two litres, semi-skimmed", "", False),
]
WIDTHS = (375, 1280)
HEIGHT = 800


@dataclass(frozen=True)
class Mode:
    scheme: str
    javascript: bool
    screens: tuple[str, ...] | None = None
    """Only these screens (``None``: all)."""

    @property
    def suffix(self) -> str:
        return self.scheme + ("" if self.javascript else "-no-js")


NO_JS_SCREENS = (
    "login",
    "signup-error",
    "empty-state",
    "list",
    "task",
    "edit-error",
    "error-404",
    "import-error",
    "job",
)
MODES = (
    Mode("light", javascript=True),
    Mode("dark", javascript=True),
    Mode("light", javascript=False, screens=NO_JS_SCREENS),
)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots")
    tools, missing = find_tools()
    if tools is None:
        print(f"screenshots need {', '.join(missing)}; install them with `{INSTALL_HINT}`")
        return 1
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shot: list[str] = []
    with (
        tempfile.TemporaryDirectory() as data,
        serve_taskboard(Path(data)) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=tools.chromium)
        for number, mode in enumerate(MODES):
            shot += Tour(browser, server, mode, out, f"{number}-{EMAIL}").run()
        browser.close()
    print(f"{len(shot)} screenshots in {out}/")
    return 0


@dataclass
class Tour:
    browser: Browser
    server: LiveServer
    mode: Mode
    out: Path
    email: str

    def run(self) -> list[str]:
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport={"width": WIDTHS[-1], "height": HEIGHT},
            locale="en-US",
            color_scheme="dark" if self.mode.scheme == "dark" else "light",
            java_script_enabled=self.mode.javascript,
        )
        self.page = page = context.new_page()
        self.files: list[str] = []
        try:
            page.goto("/")
            self.shoot("home")
            page.goto("/login")
            self.shoot("login")
            page.goto("/signup")
            page.get_by_label("Email").fill(self.email)
            page.get_by_label("Password").fill("short")
            page.get_by_role("button", name="Create account").click()
            page.locator("#error-summary").wait_for()
            self.shoot("signup-error")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Create account").click()
            page.get_by_role("heading", name="Your tasks", level=1).wait_for()
            self.shoot("empty-state")

            first = self.seed()
            page.goto("/tasks")
            self.wait_for_page()
            self.shoot("list")
            if self.mode.javascript:
                self.feedback()
            page.goto(f"/tasks/{first + 3}")
            self.wait_for_page()
            self.shoot("task")
            page.get_by_role("textbox", name="Title", exact=True).fill(" ")
            page.get_by_role("button", name="Save changes").click()
            page.locator("#error-summary").wait_for()
            self.shoot("edit-error")
            page.goto("/tasks/999999")
            self.wait_for_page()
            self.shoot("error-404")
            page.goto("/tasks/import")
            self.wait_for_page()
            bad = b"title,due_on,done\nPaint the fence,next week,\n,2030-01-01,maybe\n"
            self.upload("tasks.csv", bad)
            page.locator("#error-summary").wait_for()
            self.shoot("import-error")
            self.upload("tasks.csv", b"title\nPaint the fence\nOil the gate\n")
            page.get_by_role("heading", name="Import of tasks", level=1).wait_for()
            self.shoot("job")  # no worker runs here: the job waits, as it does on a busy queue
            page.goto("/admin/flags")
            self.wait_for_page()
            self.shoot("flags", full_page=False)
        finally:
            context.close()
        return self.files

    def feedback(self) -> None:
        """The list while a toggle waits on a slow network (its form held and marked busy), then
        an action on a task deleted elsewhere meanwhile (the error beside the control used)."""
        page = self.page
        page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
        page.route("**/tasks/live*", lambda route: route.abort())  # keep the stale list
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        slow = {"offline": False, "latency": 3000, "downloadThroughput": -1, "uploadThroughput": -1}
        cdp.send("Network.emulateNetworkConditions", slow)
        page.locator("form.task-toggle button").first.click()
        page.locator("form.task-toggle[aria-busy=true]").wait_for()
        self.shoot("loading", full_page=False, widths=WIDTHS[-1:])
        page.wait_for_function("() => !document.querySelector('[aria-busy]')", timeout=20_000)
        fast = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        cdp.send("Network.emulateNetworkConditions", fast)
        gone = "Renew the car insurance"
        token = self.token()
        (task,) = [t for t in self.tasks(token) if t["title"] == gone]
        self._api("DELETE", f"/tasks/{task['id']}", None, token)
        page.locator("li.task", has_text=gone).locator("form.task-toggle button").click()
        page.locator(".tiered-error-slot [role=alert]").wait_for()
        self.shoot("inplace-error", full_page=False)
        page.unroute("**/tasks/live*")

    def token(self) -> str:
        login = {"email": self.email, "password": PASSWORD}
        return str(self._api("POST", "/api/tokens", login)["token"])

    def tasks(self, token: str) -> list[dict[str, object]]:
        items = self._api("GET", "/tasks", None, token)["items"]
        assert isinstance(items, list)
        return items

    def seed(self) -> int:
        """The tour's tasks, through the JSON API; the user made an admin. The first task's id."""
        token = self.token()
        ids = []
        for title, notes, due_on, done in TASKS:
            body = {"title": title, "notes": notes, **({"due_on": due_on} if due_on else {})}
            task = self._api("POST", "/tasks", body, token)
            ids.append(int(str(task["id"])))
            if done:
                self._api("PATCH", f"/tasks/{task['id']}", {"done": True}, token)
        with sqlite3.connect(self.server.database) as db:
            db.execute("UPDATE users SET is_admin = 1 WHERE email = ?", (self.email,))
        return ids[0]

    def _api(
        self, method: str, path: str, body: Mapping[str, object] | None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 URL)
            self.server.url + path, data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer

    def upload(self, name: str, content: bytes) -> None:
        """Choose a file in the import form and send it."""
        self.page.get_by_label("CSV file").set_input_files(
            {"name": name, "mimeType": "text/csv", "buffer": content}
        )
        self.page.get_by_role("button", name="Import").click()

    def wait_for_page(self) -> None:
        self.page.locator("main h1").wait_for()

    def shoot(
        self, screen: str, *, full_page: bool = True, widths: tuple[int, ...] = WIDTHS
    ) -> None:
        if self.mode.screens is not None and screen not in self.mode.screens:
            return
        if screen == "flags" and not self.mode.javascript:
            return
        page = self.page
        page.wait_for_load_state("load")
        for width in widths:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            name = f"{screen}-{width}-{self.mode.suffix}.png"
            page.screenshot(path=str(self.out / name), full_page=full_page, animations="disabled")
            self.files.append(name)
        page.set_viewport_size({"width": WIDTHS[-1], "height": HEIGHT})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
