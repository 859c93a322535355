"""Back and Reload never show a list older than the server's, in real Chromium, JavaScript on
and off: the battery's find was Back showing the list from before an in-place toggle or delete
(Chromium's disk cache). Pages are ``no-store`` unless they say otherwise, so the browser asks
again, and what it shows is what is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.journeys import add_tasks, for_task
from tests.browser.live_server import LiveServer, signed_up

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _shown(page: Page) -> dict[str, bool]:
    """Each task on the list and whether it is shown as done."""
    rows = page.locator("li:has(.task-title)")
    shown: dict[str, bool] = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        title = row.locator(".task-title").inner_text().strip()
        shown[title] = row.get_by_role("button", name=for_task("Mark not done", title)).count() > 0
    return shown


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_back_and_reload_after_a_change_show_the_list_as_stored(
    browser: Browser, live_server: LiveServer, javascript: bool
) -> None:
    page, email = signed_up(browser, live_server, "back", javascript=javascript)
    add_tasks(page, "Water the plants", "Call the plumber")
    if javascript:
        page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
        # No live refresh: it would re-fetch the list after Back and hide what the cache showed.
        page.route("**/tasks/live*", lambda route: route.abort())
        page.on("dialog", lambda dialog: dialog.accept())  # the delete's confirmation, in place
    page.get_by_role("button", name=for_task("Mark done", "Water the plants")).click()
    page.get_by_role("button", name=for_task("Mark not done", "Water the plants")).wait_for()
    page.get_by_role("button", name=for_task("Delete", "Call the plumber")).click()
    if not javascript:  # without script, Delete is a confirmation page
        page.get_by_role("button", name="Delete").click()
    page.locator(".task-title", has_text="Call the plumber").wait_for(state="detached")
    expected = {"Water the plants": True}
    assert _shown(page) == expected
    assert {t for t, *_ in live_server.tasks_of(email)} == set(expected)

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Settings", level=1).wait_for()
    page.go_back()
    page.locator(".task-title", has_text="Water the plants").wait_for()
    after_back = _shown(page)
    page.reload()
    page.locator(".task-title", has_text="Water the plants").wait_for()
    after_reload = _shown(page)
    page.context.close()

    assert after_back == expected
    assert after_reload == expected
