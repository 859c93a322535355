"""The access log: one structured record per request, free when off, never failing a request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.responses import Response as StarletteResponse
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

import tiered
from tests.conftest import NotesApp, build_notes_app
from tiered import Telemetry, TieredSettings
from tiered.asgi.accesslog import (
    ACCESS_FIELDS,
    ACCESS_LOGGER,
    SENT_REPRESENTATIONS,
    AccessLogMiddleware,
    representation_sent,
)
from tiered.testing import CHROME_USER_AGENT as CHROME
from tiered.testing import csrf_token

JSON = {"Accept": "application/json"}
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# What Chrome sends on a navigation (a link followed, a URL typed).
NAVIGATION = {
    "User-Agent": CHROME,
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    notes: NotesApp = build_notes_app(tmp_path)
    with TestClient(notes.app, raise_server_exceptions=False) as test_client:
        yield test_client


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Each access record's fields, and its message as ``message``."""
    return [
        {name: r.__dict__[name] for name in ACCESS_FIELDS} | {"message": r.getMessage()}
        for r in caplog.records
        if r.name == ACCESS_LOGGER
    ]


def test_each_request_logs_one_record_with_its_fields(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = client.get("/notes/7?q=secret", headers={"User-Agent": "Lynx/2.9.0 libwww-FM/2.14"})

    [record] = access_records(caplog)
    assert 0 < record.pop("duration_ms") < 5000
    assert record.pop("message").startswith("GET /notes/7 404 ")
    assert record == {
        "request_id": response.headers["X-Request-ID"],
        "method": "GET",
        "path": "/notes/7",
        "route": "/notes/{note_id}",
        "status": 404,
        "tier": "core",
        "reasons": ["text-browser"],
        "client_kind": "text-browser",
        "representation": "page",
        "bytes": len(response.content),
    }


def test_the_representation_follows_what_was_sent(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    client.get("/notes", headers=JSON)
    client.get("/notes", headers={"HX-Request": "true"})
    client.get("/notes/7", headers=JSON)

    assert [r["representation"] for r in access_records(caplog)] == ["json", "fragment", "problem"]


def test_a_client_request_id_is_kept_and_head_stays_head(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = client.head("/notes", headers={"X-Request-ID": "trace-42"})

    [record] = access_records(caplog)
    assert response.headers["X-Request-ID"] == "trace-42"
    assert (record["request_id"], record["method"], record["status"], record["bytes"]) == (
        "trace-42",
        "HEAD",
        200,
        0,
    )


def test_an_unknown_path_has_no_route_and_a_failure_logs_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    page = client.get("/notes", headers={"Accept": "text/html"})
    token = csrf_token(page.text)

    client.get("/nowhere", headers=JSON)
    client.post("/notes", data={"title": "boom", "csrf_token": token})

    missing, failed = access_records(caplog)[1:]
    assert (missing["route"], missing["status"], missing["representation"]) == (
        None,
        404,
        "problem",
    )
    assert (failed["route"], failed["method"], failed["status"]) == ("/notes", "POST", 500)


def test_a_failing_log_handler_never_fails_the_request(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    def explode(record: logging.LogRecord) -> bool:
        raise RuntimeError("the log pipeline is down")

    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addFilter(explode)
    try:
        response = client.get("/notes", headers=JSON)
    finally:
        logger.removeFilter(explode)

    assert response.status_code == 200
    assert response.json() == {"items": []}


def test_a_disabled_logger_leaves_the_request_untouched() -> None:
    seen: list[Send] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(send)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    logger = logging.getLogger(ACCESS_LOGGER)
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        anyio.run(AccessLogMiddleware(app), scope, receive, send)
    finally:
        logger.setLevel(previous)

    assert seen == [send]  # no wrapper, no timing: the fast path


# --- what was sent, as each kind of client gets it ------------------------------------------------
# One small app with telemetry; each test sends what a real client sends and reads back the access
# record and the labels of tiered_requests_total.

TASKS_PAGE = (
    '{% extends "tiered/layout.html" %}{% block title %}Tasks{% endblock %}'
    '{% block main %}<h1>Tasks</h1>{% block tasks %}<ul id="tasks">'
    "{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>{% endblock %}{% endblock %}"
)
ABOUT_PAGE = (
    '{% extends "tiered/layout.html" %}{% block title %}About{% endblock %}'
    "{% block main %}<h1>About</h1>{% endblock %}"
)


class TaskList(BaseModel):
    items: list[str]


class About(BaseModel):
    version: str = "1"


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def tasks(tmp_path: Path, telemetry: Telemetry) -> Iterator[TestClient]:
    (tmp_path / "tasks.html").write_text(TASKS_PAGE, encoding="utf-8")
    (tmp_path / "about.html").write_text(ABOUT_PAGE, encoding="utf-8")
    app = FastAPI()
    tiered.install(
        app, TieredSettings(debug=True, template_dirs=(str(tmp_path),)), telemetry=telemetry
    )

    @app.get("/tasks")
    @tiered.view("tasks.html", block="tasks")
    async def list_tasks() -> TaskList:
        return TaskList(items=["Milk", "Bread"])

    @app.get("/tasks/{task_id}")
    @tiered.view("tasks.html", block="tasks")
    async def show_task(task_id: int) -> TaskList:
        raise tiered.NotFound(f"There is no task {task_id}.")

    @app.get("/about")
    @tiered.view("about.html")  # no block: every HTML answer is the whole page
    async def about() -> About:
        return About()

    @app.get("/todo")
    async def old_address() -> RedirectResponse:
        return RedirectResponse("/tasks", status_code=301)

    @app.get("/own/json")
    async def own_json() -> JSONResponse:
        return JSONResponse({"items": []})

    @app.get("/own/badge")
    async def own_fragment() -> HTMLResponse:
        return HTMLResponse("<span class=badge>2</span>")

    @app.get("/own/page")
    async def own_page() -> HTMLResponse:
        return HTMLResponse("\ufeff\n<!DOCTYPE html><html><title>Own</title></html>")

    @app.get("/own/nothing")
    async def own_nothing() -> StarletteResponse:
        return StarletteResponse(status_code=204)

    @app.get("/own/text")
    async def own_text() -> PlainTextResponse:
        return PlainTextResponse("ok")

    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def requests_total(telemetry: Telemetry) -> dict[tuple[tuple[str, str], ...], float]:
    """tiered_requests_total's samples, by their labels (sorted)."""
    text = telemetry.metrics.exposition().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tiered_requests_total"
    }


def page_views(telemetry: Telemetry) -> float:
    text = telemetry.metrics.exposition().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tiered_page_views_total"
    )


def labels(
    route: str, representation: str, client_kind: str, status_class: str = "2xx", tier: str = "full"
) -> tuple[tuple[str, str], ...]:
    return (
        ("client_kind", client_kind),
        ("method", "GET"),
        ("representation", representation),
        ("route", route),
        ("status_class", status_class),
        ("tier", tier),
    )


def sent(caplog: pytest.LogCaptureFixture) -> tuple[str, str | None, str | None]:
    """The one access record's representation, client kind and tier."""
    [record] = access_records(caplog)
    return record["representation"], record["client_kind"], record["tier"]


# htmx 4.0.1, vendored in tiered/static: a history restore's headers are built anew, so it sends
# these two (and fetch's own Accept: */*) but no HX-Request.
HTMX_4_HISTORY_RESTORE = {
    "User-Agent": CHROME,
    "Accept": "*/*",
    "HX-History-Restore-Request": "true",
    "HX-Request-Type": "full",
}
# htmx 2 sent HX-Request on a restore as well.
HTMX_2_HISTORY_RESTORE = {
    "User-Agent": CHROME,
    "Accept": "*/*",
    "HX-Request": "true",
    "HX-History-Restore-Request": "true",
    "HX-Current-URL": "http://127.0.0.1:8000/about",
}
# A boosted link: htmx 4 targets the body, so HX-Request-Type is full.
HTMX_BOOSTED_LINK = {
    "User-Agent": CHROME,
    "Accept": "text/html",
    "HX-Request": "true",
    "HX-Request-Type": "full",
    "HX-Boosted": "true",
    "HX-Target": "body",
    "HX-Source": "a",
    "HX-Current-URL": "http://127.0.0.1:8000/about",
}
# Search-as-you-type: htmx 4 swaps the list.
HTMX_PARTIAL = {
    "User-Agent": CHROME,
    "Accept": "text/html",
    "HX-Request": "true",
    "HX-Request-Type": "partial",
    "HX-Target": "ul#tasks",
    "HX-Source": "input#q",
    "HX-Current-URL": "http://127.0.0.1:8000/tasks",
}


@pytest.mark.parametrize(
    "headers", [HTMX_4_HISTORY_RESTORE, HTMX_2_HISTORY_RESTORE], ids=["htmx4", "htmx2"]
)
def test_a_history_restore_is_counted_as_the_page_it_got(
    tasks: TestClient,
    telemetry: Telemetry,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/tasks", headers=headers)

    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert sent(caplog) == ("page", "browser", "full")
    assert requests_total(telemetry) == {labels("/tasks", "page", "browser"): 1.0}
    # The restored page goes into a document whose script already ran: no new page view.
    assert page_views(telemetry) == 0


def test_a_full_request_is_counted_as_a_page(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/tasks", headers=HTMX_BOOSTED_LINK)

    assert "<h1>Tasks</h1>" in response.text
    assert sent(caplog) == ("page", "browser", "full")
    assert requests_total(telemetry) == {labels("/tasks", "page", "browser"): 1.0}
    assert page_views(telemetry) == 0


def test_a_partial_request_to_a_view_without_a_block_is_a_page(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/about", headers=HTMX_PARTIAL)

    assert "<h1>About</h1>" in response.text
    assert sent(caplog) == ("page", "browser", "full")
    assert requests_total(telemetry) == {labels("/about", "page", "browser"): 1.0}


def test_a_partial_request_is_counted_as_a_fragment(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/tasks", headers=HTMX_PARTIAL)

    assert response.text.startswith('<head><title>Tasks</title></head><ul id="tasks">')
    assert sent(caplog) == ("fragment", "browser", "full")
    assert requests_total(telemetry) == {labels("/tasks", "fragment", "browser"): 1.0}
    assert page_views(telemetry) == 0


def test_a_navigation_is_a_page_view(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    tasks.get("/tasks", headers=NAVIGATION)

    assert sent(caplog) == ("page", "browser", "full")
    assert page_views(telemetry) == 1


def test_curl_asking_for_json_is_an_api_client_not_a_crawler(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/tasks", headers={"User-Agent": "curl/8.5.0", **JSON})

    assert response.json() == {"items": ["Milk", "Bread"]}
    assert sent(caplog) == ("json", "api", "full")
    assert requests_total(telemetry) == {labels("/tasks", "json", "api"): 1.0}


def test_a_bearer_token_script_is_an_api_client_even_when_it_gets_html(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    headers = {
        "User-Agent": "nightly-report/2.1",
        "Accept": "*/*",
        "Authorization": "Bearer tok_0123456789",
    }

    response = tasks.get("/tasks", headers=headers)

    assert response.headers["content-type"].startswith("text/html")  # */* gets the page
    assert sent(caplog) == ("page", "api", "full")
    assert requests_total(telemetry) == {labels("/tasks", "page", "api"): 1.0}
    assert page_views(telemetry) == 0  # a script never runs the page's JavaScript


def test_googlebot_is_a_crawler(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    tasks.get("/tasks", headers={"User-Agent": GOOGLEBOT, "Accept": "text/html"})

    assert sent(caplog) == ("page", "crawler", "core")
    assert requests_total(telemetry) == {labels("/tasks", "page", "crawler", tier="core"): 1.0}
    assert page_views(telemetry) == 0


def test_a_redirect_the_app_built_is_counted_as_a_redirect(
    tasks: TestClient, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/todo", headers=NAVIGATION, follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (301, "/tasks")
    assert sent(caplog) == ("redirect", "browser", "full")
    assert requests_total(telemetry) == {
        labels("/todo", "redirect", "browser", status_class="3xx"): 1.0
    }


@pytest.mark.parametrize(
    ("headers", "representation", "client_kind"),
    [
        ({"User-Agent": "curl/8.5.0", **JSON}, "problem", "api"),
        (NAVIGATION, "page", "browser"),  # the accessible error page
        (HTMX_PARTIAL, "fragment", "browser"),  # the error, to swap in place
    ],
)
def test_an_error_is_counted_as_the_problem_or_html_it_was_shown_as(
    tasks: TestClient,
    telemetry: Telemetry,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    representation: str,
    client_kind: str,
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    response = tasks.get("/tasks/7", headers=headers)

    assert response.status_code == 404
    assert "There is no task 7." in response.text
    assert sent(caplog) == (representation, client_kind, "full")
    assert requests_total(telemetry) == {
        labels("/tasks/{task_id}", representation, client_kind, status_class="4xx"): 1.0
    }


@pytest.mark.parametrize(
    ("path", "representation"),
    [
        ("/own/json", "json"),
        ("/own/badge", "fragment"),
        ("/own/page", "page"),
        ("/own/nothing", "empty"),
        ("/own/text", "other"),
    ],
)
def test_a_response_the_app_built_is_read_from_what_left(
    tasks: TestClient,
    telemetry: Telemetry,
    caplog: pytest.LogCaptureFixture,
    path: str,
    representation: str,
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    tasks.get(path, headers=HTMX_PARTIAL if representation == "page" else NAVIGATION)

    assert sent(caplog) == (representation, "browser", "full")
    assert requests_total(telemetry) == {labels(path, representation, "browser"): 1.0}
    assert page_views(telemetry) == 0  # an htmx request, or not a page


def test_an_app_built_page_to_a_navigation_is_a_page_view(
    tasks: TestClient, telemetry: Telemetry
) -> None:
    tasks.get("/own/page", headers=NAVIGATION)
    tasks.head("/tasks", headers=NAVIGATION)  # HEAD never shows a page

    assert page_views(telemetry) == 1


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (200, b"text/html; charset=utf-8", b"  \r\n<!doctype html><p>", "page"),
        (200, b"text/html", b"<HTML lang=en>", "page"),
        (200, b"text/html", b"", "page"),  # a HEAD response: nothing says it is a part
        (200, b"TEXT/HTML", b"<li>one</li>", "fragment"),
        (200, b"application/vnd.example+json", b"{}", "json"),
        (404, b"application/problem+json", b"{}", "problem"),
        (303, b"text/html", b"<a href=/x>moved</a>", "redirect"),
        (304, b"", b"", "empty"),
        (200, b"text/csv", b"a,b", "other"),
        (200, b"", b"raw", "other"),
    ],
)
def test_without_a_recorded_representation_the_response_decides(
    status: int, content_type: bytes, body: bytes, expected: str
) -> None:
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}

    assert representation_sent(scope, status, content_type, body) == expected
    assert expected in SENT_REPRESENTATIONS
