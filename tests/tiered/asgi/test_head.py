"""HEAD answers like GET, without the body."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import NotesApp


def test_head_on_a_view_answers_the_get_headers_without_a_body(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    client.get("/notes")  # a first visit differs: its stylesheet is inline
    get = client.get("/notes")
    head = client.head("/notes")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["vary"] == get.headers["vary"]


def test_head_on_a_missing_page_is_a_404_without_a_body(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).head("/nowhere")

    assert response.status_code == 404
    assert response.content == b""
