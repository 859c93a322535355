"""Feedback at every step, in real Chromium: a slow request's control is held (a second click
sends nothing) and, after 300 ms, shows that it is waiting (aria-busy), the focus staying where
it was; an error shows beside the control used, focused, one at a time; the document's title
follows in-place changes ("Error: …" too); a search asks once per pause; an optimistic tick
changes at once and changes back when the server refuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.journeys import add_tasks, for_task
from tests.browser.live_server import LiveServer, signed_up

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request


def _add_tasks(page: Page, *titles: str) -> None:
    """Add each task through the list's form, then wait until htmx is running on the page."""
    add_tasks(page, *titles)
    page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")


def test_a_slow_toggle_is_held_shown_as_waiting_and_sent_once(
    browser: Browser, live_server: LiveServer
) -> None:
    page, _ = signed_up(browser, live_server, "slow")
    context = page.context
    _add_tasks(page, "Water the plants")
    toggles: list[Request] = []
    page.on("request", lambda r: toggles.append(r) if r.url.endswith("/toggle") else None)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    button = page.get_by_role("button", name=for_task("Mark done", "Water the plants"))
    button.focus()
    page.keyboard.press("Enter")
    form = page.locator("form.task-toggle").first
    page.wait_for_function(
        "() => document.querySelector('form.task-toggle')?.getAttribute('aria-busy') === 'true'",
        timeout=1400,
    )
    assert form.get_attribute("class") is not None
    assert "tiered-busy" in (form.get_attribute("class") or "")
    held = page.evaluate("() => document.activeElement?.getAttribute('aria-disabled')")
    focused = page.evaluate("() => document.activeElement?.textContent || ''")
    page.keyboard.press("Enter")  # a second press while it waits
    button.click(force=True)  # and a click
    done = page.get_by_role("button", name=for_task("Mark not done", "Water the plants"))
    done.wait_for(timeout=10_000)

    assert held == "true"
    assert "Mark done" in focused  # the focus stayed on the control
    assert len(toggles) == 1  # sent once
    assert page.locator("[aria-busy]").count() == 0  # and nothing waits any more
    context.close()


def test_an_error_in_place_is_shown_beside_the_control_focused_and_replaced_not_stacked(
    browser: Browser, live_server: LiveServer
) -> None:
    page, email = signed_up(browser, live_server, "gone")
    context = page.context
    _add_tasks(page, "First task", "Second task")
    # Both tasks are deleted elsewhere (another device) while this list still shows them.
    page.route("**/tasks/live*", lambda route: route.abort())  # no live refresh to hide it
    for title in ("First task", "Second task"):
        live_server.delete_task(email, title)

    page.get_by_role("button", name=for_task("Mark done", "First task")).click()
    first = page.locator(".tiered-error-slot [role=alert]")
    first.wait_for()
    first_text = first.inner_text()
    focused_first = page.evaluate(
        "() => document.activeElement?.closest('.tiered-error-slot') !== null"
    )
    page.get_by_role("button", name=for_task("Mark done", "Second task")).click()
    page.wait_for_function(
        "() => document.querySelectorAll('.tiered-error-slot [role=alert]').length === 1 && "
        "document.activeElement?.closest('li')?.textContent.includes('Second task')"
    )

    assert "Task not found" in first_text
    assert focused_first
    assert page.locator("#problem").count() <= 1  # no duplicate ids
    context.close()


def test_the_title_follows_in_place_changes_and_a_search_asks_once(
    browser: Browser, live_server: LiveServer
) -> None:
    page, _ = signed_up(browser, live_server, "title")
    context = page.context
    page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
    assert page.title() == "Your tasks \N{EN DASH} Taskboard"

    # An in-place error says so in the title, and the next success takes it back. (Spaces pass
    # the browser's own check of a required field, not the server's.)
    page.get_by_role("textbox", name="Title", exact=True).fill("   ")
    page.get_by_role("button", name="Add task").click()
    page.locator("#error-summary").wait_for()
    assert page.title() == "Error: Your tasks \N{EN DASH} Taskboard"
    page.get_by_role("textbox", name="Title", exact=True).fill("Buy milk")
    page.get_by_role("button", name="Add task").click()
    page.locator(".task-title", has_text="Buy milk").wait_for()
    assert page.title() == "Your tasks \N{EN DASH} Taskboard"

    # Typing, a pause, then Enter: one request, and the title names the search.
    searches: list[Request] = []
    page.on("request", lambda r: searches.append(r) if "q=milk" in r.url else None)
    box = page.get_by_role("searchbox", name="Search titles and notes")
    box.press_sequentially("milk", delay=40)
    page.wait_for_function("() => document.title.startsWith('Tasks matching')")
    page.wait_for_timeout(400)
    box.press("Enter")
    page.wait_for_timeout(800)

    quoted = "\N{LEFT DOUBLE QUOTATION MARK}milk\N{RIGHT DOUBLE QUOTATION MARK}"
    assert page.title() == f"Tasks matching {quoted} \N{EN DASH} Taskboard"
    assert len(searches) == 1, [r.url for r in searches]
    assert page.locator(".task-title", has_text="Buy milk").count() == 1
    context.close()


def test_an_optimistic_toggle_ticks_at_once_and_unticks_when_the_server_refuses(
    browser: Browser, live_server: LiveServer
) -> None:
    """Each row's classes are recorded as they change: ticked optimistically, the row itself
    (before the answer's swap replaces it) gets ``task-done``; refused, it loses it again. (No
    slow network here: Chromium would tell the server, which gives a slow client the lite tier,
    where the toggle is not optimistic.)"""
    page, email = signed_up(browser, live_server, "tick")
    context = page.context
    _add_tasks(page, "Kept task", "Gone task")
    page.route("**/tasks/live*", lambda route: route.abort())  # the list stays as it was
    record = """(title) => {
      const li = [...document.querySelectorAll('li.task')]
        .find((l) => l.textContent.includes(title));
      window.seen = window.seen || {};
      const seen = window.seen[title] = [];
      new MutationObserver(() => seen.push(li.classList.contains('task-done')))
        .observe(li, {attributes: true, attributeFilter: ['class']});
    }"""

    page.evaluate(record, "Kept task")
    page.get_by_role("button", name=for_task("Mark done", "Kept task")).click()
    page.get_by_role("button", name=for_task("Mark not done", "Kept task")).wait_for()
    live_server.delete_task(email, "Gone task")
    page.evaluate(record, "Gone task")
    page.get_by_role("button", name=for_task("Mark done", "Gone task")).click()
    page.locator(".tiered-error-slot [role=alert]").wait_for(timeout=10_000)
    seen = page.evaluate("() => window.seen")

    assert seen["Kept task"][:1] == [True]  # the old row ticked before the answer replaced it
    assert seen["Gone task"] == [True, False]  # ticked, then back
    gone = page.locator("li.task", has_text="Gone task")
    assert "task-done" not in (gone.get_attribute("class") or "")
    assert "Task not found" in page.locator(".tiered-error-slot").inner_text()
    context.close()
