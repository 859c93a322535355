"""Taskboard's ``/docs`` in real Chromium, with no network beyond the server: Swagger UI lists the
API's operations, one expands and runs, and nothing breaks the page's CSP or logs an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.journeys import TIMEOUT_MS
from tests.browser.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

# Playwright runs init scripts outside the page's CSP; this one only listens.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def get_operation(page: Page, path: str) -> Locator:
    """Swagger UI's block for ``GET path``."""
    summary = page.locator(f'.opblock-summary-path[data-path="{path}"]')
    return page.locator(".opblock-get").filter(has=summary).first


def test_docs_list_the_operations_and_one_expands_and_runs_under_the_csp(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.add_init_script(RECORD_VIOLATIONS)
        errors: list[str] = []
        requested: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requested.append(request.url))

        response = page.goto("/docs")

        assert response is not None
        assert response.status == 200
        assert "'unsafe-" not in response.headers["content-security-policy"]
        tasks = get_operation(page, "/tasks")
        tasks.wait_for()
        assert page.locator(".opblock").count() >= 10
        tasks.locator(".opblock-summary-control").click()
        tasks.locator(".opblock-body .parameters-container").wait_for()

        health = get_operation(page, "/healthz")
        health.locator(".opblock-summary-control").click()
        health.get_by_role("button", name="Try it out").click()
        health.get_by_role("button", name="Execute").click()
        status = health.locator(".live-responses-table tbody .response-col_status")
        status.wait_for()
        assert status.inner_text().strip() == "200"

        assert page.evaluate("window.cspViolations") == []
        assert errors == []
        assert requested, "the page made no request"
        assert all(url.startswith(f"{live_server.url}/") for url in requested), requested
        assert f"{live_server.url}/openapi.json" in requested
    finally:
        context.close()


def test_without_javascript_docs_link_the_openapi_document(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto("/docs")

        link = page.get_by_role("link", name="its OpenAPI document")
        assert link.get_attribute("href") == "/openapi.json"
        assert page.locator(".opblock").count() == 0
    finally:
        context.close()
