"""Taskboard's whole journey in Chromium, as a person does it: by clicking and typing, or by the
keyboard alone; with JavaScript off, on, or on a slow network with Save-Data.

One ``Journey`` runs every step for every profile; the profile decides how a control is used
(mouse or keyboard) and what else is checked (in-place updates, focus, the live region, history).
Nothing waits a fixed time: every wait is on something the person would see.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.browser.audits import Audits
from tests.browser.live_server import PASSWORD, JourneyServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, CDPSession, Dialog, Locator, Page, Request, Response

    from tests.browser.conftest import Suite

TIMEOUT_MS = 20_000
SLOW_TIMEOUT_MS = 90_000
SEEDED = [f"Seeded task {n:02d}" for n in range(1, 23)]
"""More than a page (20) of tasks, so the journey pages through the list."""

FINAL_TASKS = sorted(
    [(title, "", False, None) for title in SEEDED]
    + [
        ("Buy milk", "Two litres, semi-skimmed", True, None),
        ("Call the plumber about the leak", "The kitchen sink drips", True, "2030-05-01"),
    ]
)
"""What every client's database holds after the journey: (title, notes, done, due_on)."""

SLOW_3G = {  # Chrome DevTools' "Slow 3G" preset
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 50_000,
    "uploadThroughput": 50_000,
    "connectionType": "cellular3g",
}
MAX_TABS = 150


def for_task(action: str, title: str) -> re.Pattern[str]:
    """A list button's name: visible action, hidden ": title" (Chromium may put a space before
    the colon: the hidden span is positioned, so it counts as a separate box)."""
    return re.compile(rf"^{re.escape(action)}\s*: {re.escape(title)}$")


def add_tasks(page: Page, *titles: str) -> None:
    """Add each task through the list's form, waiting until the list shows it."""
    for title in titles:
        page.get_by_role("textbox", name="Title", exact=True).fill(title)
        page.get_by_role("button", name="Add task").click()
        page.locator(".task-title", has_text=title).wait_for()


@dataclass(frozen=True)
class Profile:
    name: str
    javascript: bool = True
    keyboard: bool = False
    slow_save_data: bool = False

    @property
    def tier(self) -> str:
        return "lite" if self.slow_save_data else "full"


NO_JS = Profile("chromium-no-js", javascript=False)
JS = Profile("chromium-js")
SLOW = Profile("chromium-slow-3g-save-data", slow_save_data=True)
KEYBOARD = Profile("chromium-js-keyboard", keyboard=True)
PROFILES = (NO_JS, JS, SLOW, KEYBOARD)


@dataclass
class Journey:
    browser: Browser
    server: JourneyServer
    profile: Profile
    audits: Audits
    email: str
    timings: dict[str, float] = field(default_factory=dict)
    page_loads: int = 0
    dialogs: list[str] = field(default_factory=list)
    _step: int = 0

    # -- the journey ---------------------------------------------------------------------------

    def run(self) -> None:
        context = self.browser.new_context(
            base_url=self.server.url,
            locale="en-US",
            # Through the deployed stack: its certificate is from a CA of its own making.
            ignore_https_errors=self.server.url.startswith("https://"),
            extra_http_headers={"Save-Data": "on"} if self.profile.slow_save_data else None,
        )
        try:
            self.page = page = context.new_page()
            timeout = SLOW_TIMEOUT_MS if self.profile.slow_save_data else TIMEOUT_MS
            page.set_default_timeout(timeout)
            self.scripts_off: CDPSession | None = None
            cdp = context.new_cdp_session(page)
            if not self.profile.javascript:
                # Not new_context(java_script_enabled=False): axe needs to run now and then.
                cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
                self.scripts_off = cdp
            if self.profile.slow_save_data:
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", SLOW_3G)
            page.on("request", self._count_page_load)
            page.on("response", self._keep_fragment)
            page.on("dialog", self._accept)
            self._steps()
        finally:
            context.close()

    def _steps(self) -> None:
        page = self.page
        page.goto("/")  # the one address typed; everything after is a click or a key
        self.check("home")
        self.activate(page.get_by_role("link", name="Sign up").first)
        self.expect_heading("Sign up")
        self.check("signup")

        # Sign up, with a password the form refuses first.
        self.fill(page.get_by_label("Email"), self.email)
        self.fill(page.get_by_label("Password"), "short")
        with self.in_place():
            self.activate(page.get_by_role("button", name="Create account"))
            self.expect_error_summary("at least 8 characters")
        self.check("signup-error")
        self.fill(page.get_by_label("Password"), PASSWORD)
        self.activate(page.get_by_role("button", name="Create account"))
        self.expect_flash("your account is ready")
        self.expect_heading("Your tasks")
        self.check("tasks-empty")
        self.server.seed_tasks(self.email, PASSWORD, SEEDED)
        if self.profile.javascript and self.profile.tier == "full":
            # Live updates: the list shows what the API added, without a reload. Waiting for it
            # also keeps the next step honest: a refresh still in flight when "Log out" is
            # pressed would come back signed out and send the page to the log-in form itself.
            self.expect_results("22 tasks, page 1 of 2")

        self.activate(page.get_by_role("button", name="Log out"))
        self.expect_flash("You are logged out.")
        self.expect_heading("Log in")
        self.check("logged-out")

        # Log in: the list is usable when its results are on screen.
        self.fill(page.get_by_label("Email"), self.email)
        self.fill(page.get_by_label("Password"), PASSWORD)
        started = time.monotonic()
        self.activate(page.get_by_role("button", name="Log in"))
        page.locator("#results-title", has_text="22 tasks").wait_for()
        self.timings["log in to the task list on screen"] = time.monotonic() - started
        if self.profile.javascript:
            self.wait_until_enhanced()
            self.timings["log in to the task list enhanced"] = time.monotonic() - started
        self.expect_flash("You are logged in as")
        self.check("tasks-page-1")
        self.expect_tier()

        self.add_tasks()
        self.search_and_filter()
        self.page_through()
        self.edit_and_toggle_on_task_page()
        self.delete_from_list()

        self.activate(page.get_by_role("button", name="Log out"))
        self.expect_flash("You are logged out.")
        self.check("end")
        assert not self.dialogs or self.profile.javascript, self.dialogs

    def add_tasks(self) -> None:
        page = self.page
        title = page.get_by_role("textbox", name="Title", exact=True)
        # Only blanks: the browser's own `required` check passes, the server's does not.
        self.fill(title, "   ")
        with self.in_place():
            self.activate(page.get_by_role("button", name="Add task"))
            self.expect_error_summary("Enter the title")
        self.check("add-error")
        self.add_task("Buy milk", notes="Two litres, semi-skimmed")
        self.add_task("Call the plumber", due="2030-05-01")
        self.add_task("Write the report")
        self.expect_results("25 tasks, page 1 of 2")

    def add_task(self, title: str, *, notes: str = "", due: str = "") -> None:
        page = self.page
        self.fill(page.get_by_role("textbox", name="Title", exact=True), title)
        if notes or due:
            self.open_more()
        if notes:
            self.fill(page.get_by_label("Notes (optional)"), notes)
        if due:
            self.fill_date(page.get_by_label("Due date (optional)"), due)
        with self.in_place():
            self.activate(page.get_by_role("button", name="Add task"))
            self.expect_flash(f"Added the task “{title}”.")
        if self.profile.javascript:
            self.expect_focus("#field-title")  # ready for the next task
            self.check(f"added-{len(title)}")
        else:
            # A browser without script is back on the list it added from, the task in it.
            self.expect_heading("Your tasks")
            page.locator(".task-title", has_text=title).first.wait_for()
            self.check(f"added-{len(title)}")

    def search_and_filter(self) -> None:
        page = self.page
        box = page.get_by_role("searchbox", name="Search titles and notes")
        self.fill(box, "milk")
        if self.profile.javascript and self.profile.tier == "full":
            # Search as you type: the results and the address follow without a page load.
            with self.in_place():
                self.expect_results("1 task matching “milk”")
                page.wait_for_url(re.compile(r"[?&]q=milk"))
        with self.in_place():
            self.activate(page.get_by_role("button", name="Search"))
            self.expect_results("1 task matching “milk”")
            if self.profile.javascript:
                self.expect_focus("#results-title")
        page.wait_for_url(re.compile(r"[?&]q=milk"))
        self.check("search")

        with self.in_place():
            self.activate(page.get_by_role("button", name=for_task("Mark done", "Buy milk")))
            self.expect_flash("Marked “Buy milk” as done.")
            self.expect_results("1 task matching “milk”")
        again = page.get_by_role("button", name=for_task("Mark not done", "Buy milk"))
        again.wait_for()
        if self.profile.javascript:  # the same task's button, now saying the opposite
            page.wait_for_function(
                "(el) => el === document.activeElement", arg=again.element_handle()
            )
        self.check("toggled-in-list")

        with self.in_place():
            self.activate(self.tab("Done"))
            self.expect_results("1 task (done) matching “milk”")
        page.wait_for_url(re.compile(r"status=done"))
        self.expect_tab("Done")
        self.check("filter-done")

        if self.profile.javascript:
            self.back_and_refresh_give_the_full_page()  # back before the Done tab: choose it again
            with self.in_place():
                self.activate(self.tab("Done"))
                self.expect_results("1 task (done) matching “milk”")

        # A new search keeps the status shown (the tab's hidden field belongs to the form).
        done_only = re.compile(r"^\s*1 task \(done\)\s*$")
        self.fill(box, "")
        if self.profile.javascript and self.profile.tier == "full":
            with self.in_place():  # search as you type, before the button is pressed
                page.locator("#results-title", has_text=done_only).wait_for()
                page.wait_for_url(lambda url: "milk" not in url)
        with self.in_place():
            self.activate(page.get_by_role("button", name="Search"))
            page.locator("#results-title", has_text=done_only).wait_for()
        with self.in_place():
            self.activate(self.tab("Open"))
            self.expect_results("24 tasks (open), page 1 of 2")
        self.expect_tab("Open")
        self.check("filter-open")
        with self.in_place():
            self.activate(self.tab("All tasks"))
            self.expect_results("25 tasks, page 1 of 2")

    def back_and_refresh_give_the_full_page(self) -> None:
        """Back to the search for "milk", then Refresh: each time the whole page, in its state."""
        page = self.page
        with page.expect_response(lambda r: r.url.endswith("q=milk") or "q=milk&" in r.url) as back:
            page.go_back()
        self.expect_results("1 task matching “milk”")
        self.expect_full_page(back.value, "restored by Back")
        self.expect_tab("All tasks")
        with page.expect_response(lambda r: "q=milk" in r.url) as refreshed:
            page.reload()
        self.expect_results("1 task matching “milk”")
        self.expect_full_page(refreshed.value, "reloaded")
        self.check("search-refreshed")

    def expect_full_page(self, response: Response, how: str) -> None:
        page = self.page
        body = response.text()
        assert body.lstrip().lower().startswith("<!doctype html"), (
            f"the search {how} was answered with a fragment: {body[:200]!r}"
        )
        for selector in ("header nav", "h1", "#board", "#results", "#flash", "main"):
            assert page.locator(selector).count() == 1, f"{how}: {selector} is not there once"
        assert page.get_by_role("searchbox").input_value() == "milk"

    def page_through(self) -> None:
        page = self.page
        self.activate(page.get_by_role("link", name="Next page"))
        self.expect_results("25 tasks, page 2 of 2")
        page.wait_for_url(re.compile(r"page=2"))
        self.check("page-2")
        self.activate(page.get_by_role("link", name="Previous page"))
        self.expect_results("25 tasks, page 1 of 2")

    def edit_and_toggle_on_task_page(self) -> None:
        page = self.page
        self.activate(page.get_by_role("link", name="Call the plumber", exact=True))
        self.expect_heading("Call the plumber")
        self.check("task")
        title = page.get_by_role("textbox", name="Title", exact=True)
        self.fill(title, " ")
        with self.in_place():
            self.activate(page.get_by_role("button", name="Save changes"))
            self.expect_error_summary("Enter the title")
        self.check("edit-error")
        self.fill(title, "Call the plumber about the leak")
        self.fill(page.get_by_label("Notes (optional)"), "The kitchen sink drips")
        with self.in_place():
            self.activate(page.get_by_role("button", name="Save changes"))
            self.expect_flash("Saved your changes to “Call the plumber about the leak”.")
        self.expect_heading("Call the plumber about the leak")
        if self.profile.javascript:
            self.expect_focus("#task-title")
        self.check("edited")
        self.activate(page.get_by_role("button", name="Mark done"))
        self.expect_flash("Marked “Call the plumber about the leak” as done.")
        page.get_by_role("button", name="Mark not done").wait_for()
        self.check("task-done")
        self.activate(page.get_by_role("link", name="Back to your tasks"))
        self.expect_results("25 tasks, page 1 of 2")

    def delete_from_list(self) -> None:
        page = self.page
        with self.in_place():
            self.activate(page.get_by_role("button", name=for_task("Delete", "Write the report")))
            if not self.profile.javascript:
                self.expect_heading("Delete this task?")
                self.check("delete-confirm")
                self.activate(page.get_by_role("button", name="Delete the task"))
            self.expect_flash("Deleted the task “Write the report”.")
            self.expect_results("24 tasks, page 1 of 2")
        if self.profile.javascript:
            assert self.dialogs == ["Delete the task “Write the report”? This cannot be undone."]
            self.expect_focus("#results-title")
        self.check("deleted")

    # -- checks --------------------------------------------------------------------------------

    def check(self, state: str) -> None:
        """Axe now, and keep the page's HTML for the HTML checker."""
        self._step += 1
        name = f"{self._step:02d}-{state}"
        if not self.profile.javascript:
            # The switch held: no script of the page ever ran, so htmx never started.
            cookies = self.page.context.cookies(self.server.url)
            assert all(c["name"] != "tiered_js" for c in cookies), "a script ran without JS"
        self.audits.axe(self.page, self.profile.name, name, self.scripts_off)
        self.audits.keep_page(self.page, self.profile.name, name)

    def expect_tier(self) -> None:
        """Lite (Save-Data) has no search-as-you-type; full has it."""
        trigger = self.page.get_by_role("searchbox").get_attribute("data-hx-trigger")
        if self.profile.tier == "lite":
            assert trigger is None, f"the lite tier was sent search-as-you-type ({trigger})"
        else:
            assert trigger, "the full tier lacks search-as-you-type"

    def tab(self, name: str) -> Locator:
        """One of the status tabs (links in the navigation labelled "Show")."""
        return self.page.get_by_role("navigation", name="Show").get_by_role("link", name=name)

    def expect_tab(self, name: str) -> None:
        assert self.tab(name).get_attribute("aria-current") == "page", f"{name} is not current"

    def open_more(self) -> None:
        """Open the add form's disclosure (notes and due date), unless it is open already."""
        more = self.page.locator("#new-task details")
        if not more.evaluate("(d) => d.open"):
            self.activate(more.locator("summary"))
            self.page.get_by_label("Notes (optional)").wait_for()

    def expect_heading(self, text: str) -> None:
        self.page.get_by_role("heading", level=1, name=text, exact=True).wait_for()

    def expect_results(self, text: str) -> None:
        self.page.locator("#results-title", has_text=text).wait_for()

    def expect_flash(self, text: str) -> None:
        """The live region (role=status) says it; with script, it is the same node as before, so
        assistive technology announces the change rather than meeting a new region."""
        self.page.locator("#flash", has_text=text).wait_for()
        if self.profile.javascript:
            kept = self.page.evaluate("() => document.getElementById('flash') === window.__flash")
            assert kept or self.page_loads != self._loads_at_mark, "the live region was replaced"

    def expect_error_summary(self, text: str) -> None:
        self.page.locator("#error-summary", has_text=text).wait_for()
        self.page.get_by_role("link", name=re.compile(re.escape(text))).wait_for()
        if self.profile.javascript:
            self.expect_focus("#error-summary")

    def expect_focus(self, selector: str) -> None:
        self.page.wait_for_function(
            "(sel) => document.activeElement && document.activeElement.matches(sel)", arg=selector
        )

    def wait_until_enhanced(self) -> None:
        """htmx has run over the page: only then do clicks stay in place. (Before, on a slow
        network, a click is an ordinary link or form: the baseline still works, as it should.)"""
        self.page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")

    def in_place(self) -> _InPlace:
        """With script: what happens inside loads no page. Without: no assertion."""
        return _InPlace(self)

    # -- how a person uses a control -------------------------------------------------------------

    def activate(self, target: Locator) -> None:
        self._mark()
        if self.profile.keyboard:
            self.tab_to(target)
            self.page.keyboard.press("Enter")
        else:
            target.click()

    def fill(self, target: Locator, text: str) -> None:
        if self.profile.keyboard:
            self.tab_to(target)
            self.page.keyboard.press("Control+A")
            self.page.keyboard.press("Backspace")
            if text:
                self.page.keyboard.type(text)
            assert target.input_value() == text
        else:
            target.fill(text)

    def fill_date(self, target: Locator, iso: str) -> None:
        if self.profile.keyboard:
            # Chromium's en-US date field takes month, day, year as typed digits.
            year, month, day = iso.split("-")
            self.tab_to(target)
            self.page.keyboard.type(month + day + year)
            assert target.input_value() == iso, target.input_value()
        else:
            target.fill(iso)

    def tab_to(self, target: Locator) -> None:
        """Tab (or Shift+Tab) until ``target`` has the focus."""
        target.wait_for()
        for _ in range(MAX_TABS):
            key = target.evaluate(
                """(el) => {
                  const at = document.activeElement;
                  if (at === el) return "";
                  if (!at || at === document.body) return "Tab";
                  return at.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING
                    ? "Tab" : "Shift+Tab";
                }"""
            )
            if not key:
                return
            self.page.keyboard.press(key)
        raise AssertionError(f"{MAX_TABS} presses of Tab never reached {target}")

    # -- listeners -------------------------------------------------------------------------------

    _loads_at_mark: int = 0

    def _mark(self) -> None:
        self._loads_at_mark = self.page_loads
        if self.profile.javascript:
            self.page.evaluate("() => { window.__flash = document.getElementById('flash'); }")

    def _count_page_load(self, request: Request) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.page_loads += 1

    def _keep_fragment(self, response: Response) -> None:
        self.audits.keep_fragment(response, self.profile.name)

    def _accept(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()


class _InPlace:
    def __init__(self, journey: Journey) -> None:
        self.journey = journey

    def __enter__(self) -> None:
        if self.journey.profile.javascript:
            self.journey.wait_until_enhanced()
        self.before = self.journey.page_loads

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None and self.journey.profile.javascript:
            loads = self.journey.page_loads - self.before
            assert loads == 0, f"an in-place action loaded {loads} page(s)"


def run_and_record(
    browser: Browser, server: JourneyServer, profile: Profile, audits: Audits, suite: Suite
) -> None:
    """The journey as ``profile`` against ``server``, its timings and stored tasks kept for
    the run's summary and the parity check; fails on any axe violation or a wrong end state."""
    email = f"{profile.name}@example.org"
    journey = Journey(browser, server, profile, audits, email)
    journey.run()

    for name, seconds in journey.timings.items():
        suite.timings[f"{profile.name}: {name}"] = seconds
    violations = [v for v in audits.violations if v.profile == profile.name]
    assert not violations, "axe found:\n" + "\n".join(map(str, violations))
    stored = server.tasks_of(email)
    suite.snapshots[profile.name] = stored
    assert stored == FINAL_TASKS
