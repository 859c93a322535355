"""The access log: one structured record per request, free when off, never failing a request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from tests.conftest import NotesApp, build_notes_app
from tiered.asgi.accesslog import ACCESS_FIELDS, ACCESS_LOGGER, AccessLogMiddleware

JSON = {"Accept": "application/json"}


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
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

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
