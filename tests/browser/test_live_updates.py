"""Live updates in real Chromium: one user in two browsers, a change in one shows in the other.

With JavaScript the other list updates itself (over Server-Sent Events, or by polling when the
stream cannot connect); without it nothing runs, and the list's Refresh link shows the change.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.browser.live_server import PASSWORD, LiveServer, signed_up

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _signed_up(
    browser: Browser, server: LiveServer, *, javascript: bool = True
) -> tuple[Page, str]:
    return signed_up(browser, server, "live", javascript=javascript)


def _second_browser(
    browser: Browser, server: LiveServer, email: str, *, cut_streams: bool = False
) -> Page:
    """The same user, logged in from another browser (its own cookies); with ``cut_streams``,
    behind something that cuts Server-Sent Events (the stream cannot connect)."""
    context = browser.new_context(base_url=server.url)
    if cut_streams:
        context.route("**/tasks/live?*", lambda route: route.abort())
        context.route("**/tasks/live", lambda route: route.abort())
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Your tasks", level=1).wait_for()
    return page


def _add_task(page: Page, title: str) -> None:
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_role("button", name="Add task").click()
    page.locator(".task-title", has_text=title).first.wait_for()


def test_a_task_added_in_one_browser_appears_in_the_other_within_two_seconds(
    browser: Browser, live_server: LiveServer
) -> None:
    writer, email = _signed_up(browser, live_server)
    reader = _second_browser(browser, live_server, email)
    reader.wait_for_timeout(500)  # its stream connects

    started = time.monotonic()
    _add_task(writer, "Seen from the laptop")
    reader.locator(".task-title", has_text="Seen from the laptop").wait_for(timeout=2000)
    assert time.monotonic() - started < 2.0
    # The writer's own list shows the task once: its own event was not applied again.
    assert writer.locator(".task-title", has_text="Seen from the laptop").count() == 1


def test_a_change_over_the_json_api_appears_while_the_stream_is_blocked_by_polling(
    browser: Browser, live_server: LiveServer
) -> None:
    page, email = _signed_up(browser, live_server)
    page.context.close()
    reader = _second_browser(browser, live_server, email, cut_streams=True)

    live_server.seed_tasks(email, PASSWORD, ["Made by a script"])

    # The full tier's fallback polls every 15 s.
    reader.locator(".task-title", has_text="Made by a script").wait_for(timeout=17_000)


def test_without_javascript_nothing_runs_and_the_refresh_link_shows_the_change(
    browser: Browser, live_server: LiveServer
) -> None:
    page, email = _signed_up(browser, live_server, javascript=False)
    live_server.seed_tasks(email, PASSWORD, ["Added elsewhere"])

    page.wait_for_timeout(1000)
    assert page.locator(".task-title", has_text="Added elsewhere").count() == 0
    page.get_by_role("link", name="Refresh the list").click()
    page.locator(".task-title", has_text="Added elsewhere").wait_for()


def test_a_refresh_that_would_redirect_leaves_the_page_and_its_input_as_they_are(
    browser: Browser, live_server: LiveServer
) -> None:
    page, _ = _signed_up(browser, live_server)
    _add_task(page, "Stay here")
    page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
    page.get_by_label("Title", exact=True).fill("Half-typed")
    other = page.context.new_page()  # the same browser logs out in another tab
    other.goto("/settings")
    with other.expect_navigation():
        other.get_by_role("button", name="Log out", exact=True).click()

    with page.expect_response(lambda r: "/tasks" in r.url and r.request.method == "GET"):
        page.evaluate("() => htmx.trigger(document.body, 'tiered:live')")  # as a change would
    notice = page.locator("#flash [data-tiered-stale]")
    notice.wait_for()

    assert "/tasks" in page.url
    assert page.get_by_label("Title", exact=True).input_value() == "Half-typed"
    assert page.locator(".task-title", has_text="Stay here").count() == 1
    assert "/login" in (notice.get_by_role("link", name="Continue").get_attribute("href") or "")
    page.context.close()


def test_a_page_being_left_is_not_redrawn_by_a_refresh_answered_meanwhile(
    browser: Browser, live_server: LiveServer
) -> None:
    page, _ = _signed_up(browser, live_server)
    _add_task(page, "Old list")
    page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
    page.evaluate("() => { document.getElementById('results').dataset.marked = 'yes'; }")

    with page.expect_response(lambda r: "/tasks" in r.url and r.request.method == "GET"):
        # The person has just followed a link (its new page not here yet) when the refresh goes.
        page.evaluate(
            "() => { window.dispatchEvent(new Event('beforeunload'));"
            " htmx.trigger(document.body, 'tiered:live'); }"
        )
    page.wait_for_timeout(300)

    assert page.locator("#results[data-marked=yes]").count() == 1  # not swapped
    page.context.close()
