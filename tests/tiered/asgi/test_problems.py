"""Errors over HTTP: every one negotiated as a page, a fragment or a problem document."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import SECRET, NotesApp, build_notes_app
from tiered import TieredSettings

JSON = {"Accept": "application/json"}
API = {"Accept": "application/json", "Authorization": "Bearer t"}


def test_unknown_route_is_a_404_page(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/nowhere", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Page not found</title>" in response.text
    assert "<h1>Page not found</h1>" in response.text
    assert "There is no page at /nowhere." in response.text
    assert "Check the address, or start again from the home page." in response.text
    assert response.headers["x-request-id"] in response.text


def test_unknown_route_is_a_404_fragment_for_htmx(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/nowhere", headers={"HX-Request": "true"})

    assert response.status_code == 404
    assert response.text.startswith('<div class="problem" role="alert" id="problem"')
    assert '<h2><span class="visually-hidden">Error: </span>Page not found</h2>' in response.text
    assert "<html" not in response.text


def test_unknown_route_is_a_404_problem_for_json(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/nowhere", headers=JSON)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["vary"] == "Accept"
    assert response.json() == {
        "type": "urn:tiered:problem:not-found",
        "title": "Page not found",
        "status": 404,
        "detail": "There is no page at /nowhere.",
        "instance": "/nowhere",
        "code": "not-found",
        "request_id": response.headers["x-request-id"],
    }


def test_handler_not_found_keeps_its_detail(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes/41", headers=JSON)

    assert response.status_code == 404
    assert response.json()["detail"] == "There is no note 41."


def test_wrong_method_is_a_405_with_allow(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    problem = client.delete("/notes/1", headers=API)
    page = client.put("/notes/1", headers={"Accept": "text/html", "Authorization": "Bearer t"})

    assert problem.status_code == 405
    assert problem.headers["allow"] == "GET, HEAD"  # HEAD wherever GET is
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["code"] == "method-not-allowed"
    assert page.status_code == 405
    assert "<h1>That method is not allowed here</h1>" in page.text


def test_nothing_acceptable_is_a_406_problem(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes", headers={"Accept": "image/png"})

    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "not-acceptable"
    assert problem["media_types"] == ["text/html", "application/json"]
    assert "'image/png'" in problem["detail"]


def test_bad_query_parameter_is_a_400_problem() -> None:
    from examples.guestbook.app import create_app

    client = TestClient(create_app(TieredSettings(debug=True)))

    problem = client.get("/?page=0", headers=JSON)
    page = client.get("/?page=abc")

    assert problem.status_code == 400
    assert problem.headers["content-type"] == "application/problem+json"
    document = problem.json()
    assert document["code"] == "bad-request"
    assert document["errors"][0]["field"] == "page"
    assert document["errors"][0]["code"] == "greater_than_equal"
    assert "'page'" in document["detail"]
    assert page.status_code == 400
    assert "<h1>The request could not be understood</h1>" in page.text


def test_bad_path_parameter_is_a_400_problem(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes/abc", headers=JSON)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "note_id"


def test_malformed_json_is_a_400_problem(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).post(
        "/notes",
        content=b'{"title": ',
        headers={**API, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed-body"
    assert response.json()["detail"].startswith("The body is not valid JSON")
    assert notes_app.notes == []


def test_json_that_is_not_an_object_is_a_400_problem(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).post("/notes", json=["Milk"], headers=API)

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "The body is a JSON list; send a JSON object with the fields."
    )


def test_wrong_content_type_is_a_415_problem(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).post(
        "/notes", content=b"title=Milk", headers={**API, "Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "unsupported-media-type"
    assert "'text/plain'" in problem["detail"]
    assert "application/json" in problem["detail"]


def test_unhandled_exception_is_a_500_page_with_the_request_id_and_no_internals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = build_notes_app(tmp_path, TieredSettings(secret_key=SECRET))
    client = TestClient(state.app)

    with caplog.at_level(logging.ERROR, logger="tiered"):
        page = client.post(
            "/notes",
            json={"title": "boom"},
            headers={"Accept": "text/html", "Authorization": "Bearer t", "X-Request-ID": "req-42"},
        )
        problem = client.post("/notes", json={"title": "boom"}, headers=API)

    assert page.status_code == 500
    assert page.headers["x-request-id"] == "req-42"
    assert "<h1>Something went wrong on our side</h1>" in page.text
    assert "Request id: <code>req-42</code>" in page.text
    assert "Traceback" not in page.text
    assert "hunter2" not in page.text
    assert "RuntimeError" not in page.text
    assert problem.status_code == 500
    assert problem.headers["content-type"] == "application/problem+json"
    document = problem.json()
    assert document["code"] == "internal-error"
    assert document["request_id"] == problem.headers["x-request-id"]
    assert "hunter2" not in problem.text
    assert "Traceback" not in problem.text
    # The log has what the page leaves out, under the same request id.
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "req-42"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "hunter2" in str(records[0].exc_info[1])


def test_unhandled_exception_shows_the_traceback_in_debug_mode_only(
    notes_app: NotesApp, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(notes_app.app)  # debug=True

    with caplog.at_level(logging.CRITICAL, logger="tiered"):
        page = client.post(
            "/notes",
            json={"title": "boom"},
            headers={"Accept": "text/html", "Authorization": "Bearer t"},
        )
        problem = client.post("/notes", json={"title": "boom"}, headers=API)

    assert page.status_code == 500
    assert "Traceback (most recent call last)" in page.text
    assert "RuntimeError: secret internals: password=hunter2" in page.text
    # A problem document never carries a traceback, even in debug mode.
    assert "Traceback" not in problem.text


def test_invalid_request_id_is_replaced(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes", headers={"X-Request-ID": "bad id\x7f"})

    assert response.headers["x-request-id"] != "bad id\x7f"
    assert len(response.headers["x-request-id"]) == 16


def _app_with_location(tmp_path: Path) -> TestClient:
    from fastapi import FastAPI

    import tiered

    app = FastAPI()
    tiered.install(app, secret_key=SECRET, template_dirs=(str(tmp_path),))

    @app.get("/private")
    async def private() -> None:
        raise tiered.Unauthorized(
            "Log in first.", headers={"WWW-Authenticate": "Bearer"}, location="/login?next=x"
        )

    return TestClient(app)


def test_a_problem_with_a_location_sends_a_browser_there(tmp_path: Path) -> None:
    response = _app_with_location(tmp_path).get(
        "/private", headers={"Accept": "text/html"}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=x"
    assert "www-authenticate" not in response.headers
    assert "Accept" in response.headers["vary"]


def test_a_problem_with_a_location_redirects_an_enhanced_request(tmp_path: Path) -> None:
    response = _app_with_location(tmp_path).get(
        "/private", headers={"Accept": "text/html", "HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/login?next=x"


def test_a_problem_with_a_location_is_still_a_problem_for_an_api_client(tmp_path: Path) -> None:
    response = _app_with_location(tmp_path).get("/private", headers={"Accept": "application/json"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "Log in first."
