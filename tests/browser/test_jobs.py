"""Long work in real Chromium: a CSV import whose upload is seen to advance, then its job page,
which follows the job without a reload; and the same journey without JavaScript, by forms and
the page's Refresh link.

The worker starts only once the job page is on screen, so the page is seen waiting and then
catching up, whatever the machine's speed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.live_server import PASSWORD, LiveServer, job_worker, serve_taskboard

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.audits import Audits

ROWS = 10_000
CSV = ("title,notes,due_on,done\n" + "".join(
    f"Imported task number {n:05d},Some notes for it,2030-01-01,false\n" for n in range(ROWS)
)).encode()  # fmt: skip
"""About 600 KB: at 150 KB/s the upload takes about four seconds."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    data_dir = tmp_path_factory.mktemp("jobs")
    with serve_taskboard(data_dir) as live:
        yield live, data_dir


def _signed_up(browser: Browser, url: str, *, javascript: bool) -> Page:
    context = browser.new_context(base_url=url, java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/signup")
    page.get_by_label("Email").fill(f"jobs-{uuid4().hex[:8]}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Your tasks", level=1).wait_for()
    return page


def _audit(audits: Audits, page: Page, state: str) -> None:
    """axe now, and the HTML kept for the HTML checker (test_html_validity)."""
    audits.axe(page, "jobs-chromium-js", state, None)
    audits.keep_page(page, "jobs-chromium-js", state)


def test_with_javascript_the_upload_advances_and_the_job_page_follows_the_job(
    browser: Browser, server: tuple[LiveServer, Path], audits: Audits
) -> None:
    live, data_dir = server
    page = _signed_up(browser, live.url, javascript=True)
    page.goto("/tasks/import")
    page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
    _audit(audits, page, "import")
    page.goto("/tasks/export")
    _audit(audits, page, "export")
    page.goto("/tasks/import")
    page.wait_for_function("() => document.readyState === 'complete' && !!window.htmx")
    page.get_by_label("CSV file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"title,done\n,maybe\n"}
    )
    page.get_by_role("button", name="Import").click()
    page.get_by_role("alert").get_by_text("Row 2, column done").wait_for()
    _audit(audits, page, "import-error")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 150_000},
    )
    page.get_by_label("CSV file").set_input_files(
        {"name": "many.csv", "mimeType": "text/csv", "buffer": CSV}
    )

    page.get_by_role("button", name="Import").click()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while "/jobs/" not in page.url and time.monotonic() < deadline:
        try:
            text = page.evaluate(
                "() => document.querySelector('.upload-progress-text')?.textContent || ''"
            )
        except PlaywrightError:  # the answer came: the page is going to the job's
            break
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        page.wait_for_timeout(100)  # sampling the progress text while the upload runs

    percents = [int(t.rsplit("(", 1)[1].rstrip("%)")) for t in seen if "(" in t]
    assert len(set(percents)) >= 3, seen  # it advanced, visibly
    assert percents == sorted(percents), seen
    assert "KB of" in seen[0] or "MB of" in seen[0], seen
    page.get_by_role("heading", name="Import of tasks", level=1).wait_for()
    page.get_by_role("status").filter(has_text="Waiting to start.").wait_for()
    page.evaluate("() => { window.stillTheSamePage = true; }")
    _audit(audits, page, "job-waiting")

    with job_worker(data_dir):
        page.get_by_text(f"Done: {ROWS:,} tasks imported from “many.csv”.").wait_for()

    assert page.evaluate("() => window.stillTheSamePage === true")  # updated in place
    assert page.locator("[data-hx-trigger]").count() == 0  # and it stopped polling
    _audit(audits, page, "job-done")
    found = [v for v in audits.violations if v.profile == "jobs-chromium-js"]
    assert found == [], [str(v) for v in found]


def test_without_javascript_the_import_is_a_form_and_the_job_page_a_refresh_link(
    browser: Browser, server: tuple[LiveServer, Path]
) -> None:
    live, data_dir = server
    page = _signed_up(browser, live.url, javascript=False)
    page.get_by_role("link", name="Import").first.click() if page.get_by_role(
        "link", name="Import"
    ).count() else page.goto("/tasks/import")
    page.get_by_role("heading", name="Import tasks", level=1).wait_for()

    page.get_by_label("CSV file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"title,due_on\n,soon\n"}
    )
    page.get_by_role("button", name="Import").click()
    summary = page.get_by_role("alert")
    summary.get_by_text("Row 2, column title").wait_for()
    assert summary.get_by_text("Row 2, column due_on").count() == 1
    assert summary.get_by_text("bad.csv").count() == 1  # the file's name is kept

    page.get_by_label("CSV file").set_input_files(
        {"name": "few.csv", "mimeType": "text/csv", "buffer": b"title\nOne\nTwo\nThree\n"}
    )
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Waiting to start.").wait_for()
    refresh = page.get_by_role("link", name="Refresh to see its progress")
    assert refresh.count() == 1

    with job_worker(data_dir):
        deadline = time.monotonic() + 30
        while page.get_by_text("Done: 3 tasks imported").count() == 0:
            assert time.monotonic() < deadline, page.content()
            page.wait_for_timeout(500)  # a person waits a moment before following the link
            page.get_by_role("link", name="Refresh to see its progress").click()

    page.get_by_role("link", name="Back to your tasks").click()
    page.get_by_text("3 tasks").first.wait_for()
