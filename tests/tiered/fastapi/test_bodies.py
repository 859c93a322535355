"""What no submitted body can do: reach a handler (or the database) with text no database stores,
nest JSON without bound, or turn a client's mistake into a 500 with a traceback in the log.

One place reads every body (``read_body`` and ``@form``); these tests send it forms, multipart and
JSON, and check what the person or the client sees.
"""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.testclient import TestClient

import tiered
from tests.conftest import NotesApp, hidden_value
from tiered import Done, TieredSettings

API = {"Accept": "application/json", "Authorization": "Bearer api-token"}
HTML_ACCEPTS = [
    None,
    "*/*",
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
]


def _form(client: TestClient) -> dict[str, str]:
    page = client.get("/notes").text
    return {
        "csrf_token": hidden_value(page, "csrf_token"),
        "idempotency_key": hidden_value(page, "idempotency_key"),
    }


# --- characters no database stores ------------------------------------------------------------


def test_a_nul_in_a_form_field_re_shows_the_form_naming_the_field(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    response = client.post("/notes", data={**_form(client), "title": "Mi\x00lk", "count": "2"})

    assert response.status_code == 422
    assert '<a href="#field-title">Title contains a character that cannot be stored' in (
        response.text
    )
    assert "(U+0000, NUL); remove it and send the form again." in response.text
    assert 'id="field-title" name="title" type="text" value="Mi\ufffdlk"' in response.text
    assert "\x00" not in response.text
    assert notes_app.calls == 0
    assert notes_app.notes == []


def test_a_nul_in_a_multipart_field_is_refused_too(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    form = _form(client)

    response = client.post(
        "/notes",
        files={"title": (None, "Jam\x00"), **{name: (None, value) for name, value in form.items()}},
    )

    assert response.status_code == 422
    assert "Title contains a character that cannot be stored (U+0000, NUL)" in response.text
    assert notes_app.notes == []


def test_a_nul_in_json_is_a_422_problem_with_the_pointer(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).post("/notes", json={"title": "a\x00b"}, headers=API)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert problem["errors"] == [
        {
            "pointer": "/title",
            "field": "title",
            "detail": "Title contains a character that cannot be stored (U+0000, NUL); remove "
            "it and send the form again.",
            "code": "text-unstorable",
        }
    ]
    assert notes_app.calls == 0


class Line(BaseModel):
    name: str


class Order(BaseModel):
    lines: list[Line]
    meta: dict[str, str] = {}


def _order_app(seen: list[Order]) -> FastAPI:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True))

    @app.post("/orders")
    @tiered.form(Order)
    async def order(data: Order) -> Done[Order]:
        seen.append(data)
        return Done("/orders/1", data=data, created=True)

    return app


def test_nested_json_members_and_names_are_checked_too() -> None:
    seen: list[Order] = []
    body = {"lines": [{"name": "ok"}, {"name": "bad\x00"}], "meta": {"ke\x00y": "v"}}

    response = TestClient(_order_app(seen)).post("/orders", json=body, headers=API)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["pointer"], e["field"], e["code"]) for e in errors] == [
        ("/lines/1/name", "lines.1.name", "text-unstorable"),
        ("/meta/ke\x00y", "meta.ke\x00y", "text-unstorable"),
    ]
    assert errors[0]["detail"].startswith("Name contains a character that cannot be stored")
    assert seen == []


def test_read_body_refuses_unstorable_text_for_any_handler() -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True))

    @app.post("/read")
    @tiered.csrf_exempt
    async def read(request: Request) -> dict[str, object]:
        return await tiered.read_body(request)

    client = TestClient(app)
    refused = client.post("/read", data={"note": "x\x00"}, headers={"Accept": "application/json"})
    fine = client.post("/read", data={"note": "x"}, headers={"Accept": "application/json"})

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/note"
    assert fine.json() == {"note": "x"}


def test_lone_surrogates_in_json_are_a_400_not_a_500(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).post(
        "/notes",
        content=b'{"title": "\\ud800"}',
        headers={**API, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed-body"
    assert response.json()["detail"].startswith("The body is not valid JSON:")


# --- JSON depth and parse errors --------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"title": "x", "deep": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_json_nested_32_levels_is_read() -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True))

    @app.post("/echo")
    @tiered.csrf_exempt
    async def echo(request: Request) -> dict[str, object]:
        return await tiered.read_body(request)

    response = TestClient(app).post(
        "/echo", content=_nested(32), headers={**API, "Content-Type": "application/json"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("depth", [33, 200, 201, 100_000])
def test_json_nested_deeper_than_32_levels_is_a_400_without_a_traceback(
    notes_app: NotesApp, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    caplog.set_level(logging.INFO)

    response = TestClient(notes_app.app).post(
        "/notes", content=_nested(depth), headers={**API, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed-body"
    assert response.json()["detail"] == (
        "The JSON body nests objects and arrays more than 32 levels deep; send at most 32."
    )
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in caplog.records)
    assert notes_app.calls == 0


@pytest.mark.parametrize(
    "body", [b'{"title": ', b'{"title": NaN}', b'{"title": "x"', b"\xff\xfe", b'{"a":1}{}']
)
def test_json_that_does_not_parse_is_a_400_problem(
    notes_app: NotesApp, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    response = TestClient(notes_app.app).post(
        "/notes", content=body, headers={**API, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed-body"
    assert response.json()["detail"].startswith("The body is not valid JSON:")
    assert not any(r.exc_info for r in caplog.records)


# --- form parser limits -----------------------------------------------------------------------


def test_a_form_with_too_many_fields_is_a_413_naming_the_limit(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    fields = {f"f{i}": "x" for i in range(1001)}

    response = client.post("/notes", data={**_form(client), **fields})
    as_json = client.post("/notes", data=fields, headers=API)

    for answer in (response, as_json):
        assert answer.status_code == 413
    assert "Too many fields. Maximum number of fields is 1000." in response.text
    assert as_json.json()["code"] == "form-too-large"
    assert as_json.json()["detail"] == (
        "Too many fields. Maximum number of fields is 1000. Send fewer fields or files, or "
        "smaller ones."
    )
    assert notes_app.calls == 0


def test_a_multipart_form_past_the_limits_is_a_413_before_the_csrf_check(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)
    form = _form(client)
    files = {f"f{i}": (None, "x") for i in range(1001)}

    response = client.post(
        "/notes", files={**files, **{k: (None, v) for k, v in form.items()}}, headers=API
    )
    cookie_only = client.post(
        "/notes",
        files={**files, **{k: (None, v) for k, v in form.items()}},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 413
    # Without a bearer token the middleware reads the body for the CSRF token: the same answer,
    # not a 403 about a token it could not find.
    assert cookie_only.status_code == 413
    assert cookie_only.json()["code"] == "form-too-large"
    assert notes_app.calls == 0


def test_a_malformed_multipart_body_is_a_400(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).post(
        "/notes",
        content=b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--\r\n",
        headers={**API, "Content-Type": "multipart/form-data; boundary=B"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed-body"
    assert response.json()["detail"] == (
        'The form body could not be read: The Content-Disposition header field "name" must be '
        "provided."
    )


# --- an endpoint without HTML answers its errors as JSON --------------------------------------


@pytest.mark.parametrize("accept", HTML_ACCEPTS)
def test_a_json_only_form_answers_problems_whatever_accept_says(accept: str | None) -> None:
    headers = {"Authorization": "Bearer t"} | ({"Accept": accept} if accept else {})
    client = TestClient(_order_app([]))

    invalid = client.post("/orders", json={"lines": "none"}, headers=headers)
    malformed = client.post(
        "/orders", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )

    for response in (invalid, malformed):
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["vary"] == "Accept"
        assert json.loads(response.text)["status"] == response.status_code
    assert (invalid.status_code, malformed.status_code) == (
        (406, 406) if accept == "text/html" else (422, 400)
    )


# --- a JSON body is an API client's ---------------------------------------------------------------


def test_a_json_body_accepting_anything_gets_json_back(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    bearer = {"Authorization": "Bearer api-token"}

    created = client.post("/notes", json={"title": "Milk", "count": 2}, headers=bearer)
    refused = client.post("/notes", json={"title": "", "count": 2}, headers=bearer)

    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/json")
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
