"""CSRF over HTTP: the token, Origin and Fetch Metadata checks, in every representation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from markupsafe import escape
from starlette.testclient import TestClient

import tiered
from tests.conftest import SECRET, NotesApp, build_notes_app, hidden_value
from tiered import TieredSettings
from tiered.asgi.csrf import (
    CSRF_CROSS_SITE,
    CSRF_TOKEN_EXPIRED,
    CSRF_TOKEN_INVALID,
    CSRF_TOKEN_MISSING,
    CSRF_UNTRUSTED_ORIGIN,
    MESSAGES,
)
from tiered.asgi.runtime import CSRF_EXEMPT_ATTRIBUTE


def _session(client: TestClient) -> str:
    """Open the form page (starting a session) and return its CSRF token."""
    return hidden_value(client.get("/notes").text, "csrf_token")


def test_missing_token_on_a_form_post_answers_a_403_page(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    _session(client)

    response = client.post("/notes", data={"title": "Milk"})

    assert response.status_code == 403
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>This form could not be checked</h1>" in response.text
    assert escape(MESSAGES[CSRF_TOKEN_MISSING]) in response.text
    assert "Go back, reload the page, and submit the form again." in response.text
    assert response.text.startswith("<!doctype html>")
    assert notes_app.notes == []


def test_missing_token_on_an_enhanced_post_answers_an_error_fragment(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    _session(client)

    response = client.post("/notes", data={"title": "Milk"}, headers={"HX-Request": "true"})

    assert response.status_code == 403
    assert response.text.startswith('<div class="problem" role="alert" id="problem"')
    assert 'data-code="csrf-failed"' in response.text
    assert "Error: </span>This form could not be checked</h2>" in response.text
    assert "<html" not in response.text
    assert notes_app.notes == []


def test_missing_token_on_a_cookie_json_post_answers_a_403_problem(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    _session(client)

    response = client.post("/notes", json={"title": "Milk"}, headers={"Accept": "application/json"})

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "csrf-failed"
    assert problem["reason"] == CSRF_TOKEN_MISSING
    assert problem["type"] == "urn:tiered:problem:csrf-failed"
    assert problem["detail"] == MESSAGES[CSRF_TOKEN_MISSING]
    assert problem["instance"] == "/notes"
    assert notes_app.notes == []


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Origin": "https://evil.example"}, CSRF_UNTRUSTED_ORIGIN),
        ({"Origin": "null"}, CSRF_UNTRUSTED_ORIGIN),
        ({"Sec-Fetch-Site": "cross-site"}, CSRF_CROSS_SITE),
        ({"Sec-Fetch-Site": "same-site"}, CSRF_CROSS_SITE),
    ],
)
def test_a_request_from_another_site_is_refused_even_with_a_good_token(
    notes_app: NotesApp, headers: dict[str, str], reason: str
) -> None:
    client = TestClient(notes_app.app)
    token = _session(client)

    response = client.post(
        "/notes",
        data={"csrf_token": token, "title": "Milk"},
        headers={**headers, "Accept": "application/json"},
    )

    assert response.status_code == 403
    assert response.json()["reason"] == reason
    assert response.json()["detail"] == MESSAGES[reason]
    assert notes_app.notes == []


def test_same_origin_and_same_origin_fetch_metadata_pass(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token = _session(client)

    response = client.post(
        "/notes",
        data={"csrf_token": token, "title": "Milk"},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert [n.title for n in notes_app.notes] == ["Milk"]


def test_trusted_origin_may_post(tmp_path: Path) -> None:
    state = build_notes_app(
        tmp_path, TieredSettings(debug=True, trusted_origins=("https://admin.example.org",))
    )
    client = TestClient(state.app)
    token = _session(client)

    response = client.post(
        "/notes",
        data={"csrf_token": token, "title": "Milk"},
        headers={"Origin": "https://admin.example.org"},
        follow_redirects=False,
    )

    assert response.status_code == 303


def test_bearer_requests_are_exempt(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    response = client.post(
        "/notes",
        json={"title": "Milk"},
        headers={"Accept": "application/json", "Authorization": "Bearer abc"},
    )

    assert response.status_code == 201
    assert [n.title for n in notes_app.notes] == ["Milk"]


def test_enhanced_request_may_carry_the_token_in_a_header(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token = _session(client)

    response = client.post(
        "/notes",
        json={"title": "Milk"},
        headers={"Accept": "application/json", "X-CSRF-Token": token},
    )

    assert response.status_code == 201
    assert [n.title for n in notes_app.notes] == ["Milk"]


def test_token_from_another_session_re_shows_the_form_with_input_and_a_fresh_token(
    notes_app: NotesApp,
) -> None:
    other = TestClient(notes_app.app)
    foreign_token = _session(other)
    client = TestClient(notes_app.app)
    _session(client)

    response = client.post(
        "/notes", data={"csrf_token": foreign_token, "title": "Milk", "count": "4"}
    )

    assert response.status_code == 403
    html = response.text
    assert escape(MESSAGES[CSRF_TOKEN_INVALID]) in html
    assert "<title>Error: Notes</title>" in html
    assert 'name="title" type="text" value="Milk"' in html
    assert 'name="count" type="text" value="4"' in html
    fresh = hidden_value(html, "csrf_token")
    assert fresh != foreign_token
    assert notes_app.notes == []
    # The fresh token works.
    again = client.post(
        "/notes", data={"csrf_token": fresh, "title": "Milk"}, follow_redirects=False
    )
    assert again.status_code == 303
    assert [n.title for n in notes_app.notes] == ["Milk"]


def test_expired_token_re_shows_the_form_and_json_gets_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = build_notes_app(tmp_path, TieredSettings(secret_key=SECRET, csrf_max_age=3600))
    client = TestClient(state.app)
    # The form was served two hours ago.
    with monkeypatch.context() as past:
        past.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 7200)
        token = _session(client)

    page = client.post("/notes", data={"csrf_token": token, "title": "Milk"})
    fragment = client.post(
        "/notes", data={"csrf_token": token, "title": "Milk"}, headers={"HX-Request": "true"}
    )
    problem = client.post(
        "/notes",
        json={"title": "Milk"},
        headers={"Accept": "application/json", "X-CSRF-Token": token},
    )

    assert page.status_code == 403
    assert escape(MESSAGES[CSRF_TOKEN_EXPIRED]) in page.text
    assert 'value="Milk"' in page.text
    assert hidden_value(page.text, "csrf_token") != token
    assert fragment.status_code == 403
    assert fragment.text.startswith('<head><title>Error: Notes</title></head><div id="notes">')
    assert escape(MESSAGES[CSRF_TOKEN_EXPIRED]) in fragment.text
    assert 'value="Milk"' in fragment.text
    assert problem.status_code == 403
    assert problem.json()["reason"] == CSRF_TOKEN_EXPIRED
    assert state.notes == []


def test_missing_session_with_a_token_is_refused(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token = _session(client)
    client.cookies.clear()

    response = client.post(
        "/notes",
        json={"title": "Milk"},
        headers={"Accept": "application/json", "X-CSRF-Token": token},
    )

    assert response.status_code == 403
    assert response.json()["reason"] == CSRF_TOKEN_INVALID
    assert notes_app.notes == []


def test_safe_methods_need_no_token(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    assert client.get("/notes", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_an_endpoint_marked_csrf_exempt_takes_a_post_without_a_token() -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True))

    @app.post("/api/tokens")
    async def issue() -> dict[str, str]:
        return {"token": "t"}

    @app.post("/other")
    async def other() -> dict[str, str]:
        return {"ok": "yes"}

    setattr(issue, CSRF_EXEMPT_ATTRIBUTE, True)
    client = TestClient(app)

    exempt = client.post("/api/tokens", json={}, headers={"Accept": "application/json"})
    guarded = client.post("/other", json={}, headers={"Accept": "application/json"})
    cross_site = client.post(
        "/api/tokens",
        json={},
        headers={"Accept": "application/json", "Origin": "https://evil.example"},
    )

    assert (exempt.status_code, exempt.json()) == (200, {"token": "t"})
    assert (guarded.status_code, guarded.json()["code"]) == (403, "csrf-failed")
    assert (cross_site.status_code, cross_site.json()["reason"]) == (403, CSRF_UNTRUSTED_ORIGIN)
