"""A body over ``max_body_bytes`` is refused with 413, whether its length is declared or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import NotesApp, build_notes_app, hidden_value
from tiered import TieredSettings

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
