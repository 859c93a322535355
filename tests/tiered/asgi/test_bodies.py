"""tiered.asgi.bodies: a body over ``max_body_bytes`` is refused with 413, whether its length is
declared or not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient
from starlette.types import Message

from tests.conftest import NotesApp, build_notes_app, hidden_value
from tiered import ImproperlyConfigured, TieredSettings

LIMIT = 1000
API = {"Accept": "application/json", "Authorization": "Bearer t"}


@pytest.fixture
def small_app(tmp_path: Path) -> NotesApp:
    return build_notes_app(tmp_path, TieredSettings(debug=True, max_body_bytes=LIMIT))


def _chunks(total: int, size: int = 100) -> Iterator[bytes]:
    yield b'{"title": "'
    sent = 11
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


def test_declared_length_over_the_limit_is_a_413_problem(small_app: NotesApp) -> None:
    response = TestClient(small_app.app).post(
        "/notes", json={"title": "x" * (LIMIT + 1)}, headers=API
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "payload-too-large"
    assert problem["detail"] == "The request body is larger than the limit of 1,000 bytes."
    assert small_app.calls == 0


def test_declared_length_over_the_limit_is_a_413_page_for_a_form(small_app: NotesApp) -> None:
    client = TestClient(small_app.app)
    token = hidden_value(client.get("/notes").text, "csrf_token")

    response = client.post("/notes", data={"csrf_token": token, "title": "x" * (LIMIT + 1)})

    assert response.status_code == 413
    assert "<h1>What you sent is too large</h1>" in response.text
    assert "Send less data, for example a shorter text or a smaller file." in response.text
    assert small_app.calls == 0


def test_chunked_json_body_over_the_limit_is_a_413_problem(small_app: NotesApp) -> None:
    response = TestClient(small_app.app).post(
        "/notes",
        content=_chunks(LIMIT * 3),
        headers={**API, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload-too-large"
    assert small_app.calls == 0


def test_chunked_form_body_over_the_limit_is_a_413_before_the_csrf_check(
    small_app: NotesApp,
) -> None:
    client = TestClient(small_app.app)
    client.get("/notes")

    response = client.post(
        "/notes",
        content=(b"title=" + b"x" * 100 for _ in range(30)),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    )

    assert response.status_code == 413
    assert "<h1>What you sent is too large</h1>" in response.text
    assert small_app.calls == 0


def test_chunked_body_under_the_limit_is_read(small_app: NotesApp) -> None:
    response = TestClient(small_app.app).post(
        "/notes",
        content=iter([b'{"title": ', b'"Milk"}']),
        headers={**API, "Content-Type": "application/json"},
    )

    assert response.status_code == 201
    assert [n.title for n in small_app.notes] == ["Milk"]


def test_body_at_the_limit_is_accepted(small_app: NotesApp) -> None:
    body = b'{"title": "' + b"x" * 40 + b'"}'
    body += b" " * (LIMIT - len(body))

    response = TestClient(small_app.app).post(
        "/notes", content=body, headers={**API, "Content-Type": "application/json"}
    )

    assert response.status_code == 201


async def _slow_receive_app(settings: TieredSettings, tmp_path: Path) -> list[Message]:
    """Post a body that stops arriving half-way; return what the app sent back."""
    notes = build_notes_app(tmp_path, settings)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/notes",
        "raw_path": b"/notes",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"accept", b"application/json"),
            (b"authorization", b"Bearer t"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    parts = [{"type": "http.request", "body": b'{"title": "Mi', "more_body": True}]
    sent: list[Message] = []

    async def receive() -> Message:
        if parts:
            return parts.pop(0)
        await anyio.sleep(60)  # the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await notes.app(scope, receive, send)
    assert notes.calls == 0
    return sent


@pytest.mark.anyio
async def test_a_body_that_arrives_too_slowly_is_a_408_that_closes_the_connection(
    tmp_path: Path,
) -> None:
    settings = TieredSettings(debug=True, body_timeout_seconds=0.3)

    sent = await _slow_receive_app(settings, tmp_path)

    start = sent[0]
    assert start["status"] == 408
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["code"] == "request-timeout"
    assert body["detail"] == "The request body did not arrive within 0.3 seconds."


def test_the_body_timeout_must_be_positive() -> None:
    with pytest.raises(ImproperlyConfigured, match="body_timeout_seconds is 0"):
        TieredSettings(debug=True, body_timeout_seconds=0)


def test_a_path_with_a_limit_of_its_own_takes_a_larger_body(tmp_path: Path) -> None:
    app = build_notes_app(
        tmp_path, TieredSettings(debug=True, max_body_bytes=LIMIT, body_limits={"/notes": 5000})
    ).app
    client = TestClient(app)

    larger = client.post("/notes", json={"title": "x" * 2000}, headers=API)
    too_large = client.post("/notes", json={"title": "x" * 6000}, headers=API)
    elsewhere = client.post("/notes/1", json={"title": "x" * 2000}, headers=API)

    assert larger.status_code != 413
    assert too_large.status_code == 413
    assert too_large.json()["detail"] == "The request body is larger than the limit of 5,000 bytes."
    assert elsewhere.status_code == 413  # every other path keeps the default


def test_a_body_limit_must_name_a_path_and_a_positive_size() -> None:
    with pytest.raises(ImproperlyConfigured, match="body_limits"):
        TieredSettings(debug=True, body_limits={"notes": 10})
    with pytest.raises(ImproperlyConfigured, match="body_limits"):
        TieredSettings(debug=True, body_limits={"/notes": 0})
