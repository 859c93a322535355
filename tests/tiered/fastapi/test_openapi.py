"""The OpenAPI document describes what tiered views really answer: HTML, JSON, problems, forms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from examples.guestbook.app import create_app
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.testclient import TestClient

import tiered
from tiered import Done, TieredSettings


class About(BaseModel):
    text: str


PROBLEM_ONLY = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
"""An error of an operation without HTML (an API route)."""
PROBLEM = {**PROBLEM_ONLY, "text/html": {"schema": {"type": "string"}}}
"""An error of a view with HTML: a problem document, or a page for a person."""


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    response = TestClient(create_app(TieredSettings(debug=True))).get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_views_document_html_and_json(document: dict[str, Any]) -> None:
    ok = document["paths"]["/entries/{entry_id}"]["get"]["responses"]["200"]

    assert ok["content"]["text/html"] == {"schema": {"type": "string"}}
    assert ok["content"]["application/json"] == {"schema": {"$ref": "#/components/schemas/Entry"}}


def test_views_document_problem_responses_not_fastapis_validation_error(
    document: dict[str, Any],
) -> None:
    responses = document["paths"]["/"]["get"]["responses"]

    assert "422" not in responses
    assert responses["400"]["content"] == PROBLEM
    assert responses["406"]["content"] == PROBLEM


def test_forms_document_their_body_in_json_and_form_encoding(document: dict[str, Any]) -> None:
    operation = document["paths"]["/entries"]["post"]
    body = operation["requestBody"]

    assert body["required"] is True
    encoded = {"schema": {"$ref": "#/components/schemas/EntryFormEncoded"}}
    assert body["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/EntryForm"}},
        "application/x-www-form-urlencoded": encoded,
        "multipart/form-data": encoded,
    }
    for name in ("EntryForm", "EntryFormEncoded"):
        schema = document["components"]["schemas"][name]
        assert set(schema["properties"]) == {"name", "message"}
        assert schema["required"] == ["name", "message"]


def test_forms_document_created_redirect_and_problems(document: dict[str, Any]) -> None:
    responses = document["paths"]["/entries"]["post"]["responses"]

    assert responses["201"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/Entry"}
    }
    assert "303" in responses
    for status in ("400", "403", "406", "408", "409", "413", "415", "422"):
        assert responses[status]["content"] == PROBLEM, status
    assert "`idempotency-key-reused`" in responses["422"]["description"]
    assert "`validation-failed`" in responses["422"]["description"]


def test_problem_schema_lists_the_rfc_9457_members(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]

    assert problem["required"] == ["type", "title", "status", "code"]
    assert {"type", "title", "status", "detail", "instance", "code", "errors"} <= set(
        problem["properties"]
    )
    assert set(problem["properties"]["errors"]["items"]["properties"]) == {
        "pointer",
        "field",
        "detail",
        "code",
    }


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_tiered_endpoints_are_not_in_the_document(document: dict[str, Any]) -> None:
    assert not any(path.startswith(("/static", "/_tiered")) for path in document["paths"])


def test_an_html_only_view_documents_no_json(tmp_path: Path) -> None:
    (tmp_path / "about.html").write_text("<p>{{ text }}</p>", encoding="utf-8")
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/about")
    @tiered.view("about.html", json=False)
    async def about() -> About:
        return About(text="hi")

    document = TestClient(app).get("/openapi.json").json()
    content = document["paths"]["/about"]["get"]["responses"]["200"]["content"]

    assert content == {"text/html": {"schema": {"type": "string"}}}


# --- every status an operation answers with -----------------------------------------------------


class NoSuchNote(tiered.NotFound):
    code = "note-not-found"
    title = "No such note"


class LogInFirst(tiered.Unauthorized):
    redirects = True
    code = "log-in-first"


class Note(BaseModel):
    id: int
    text: str


class NoteForm(BaseModel):
    text: str
    pinned: bool | None = None


class NoteUpdate(BaseModel):
    text: str | None = None


@tiered.raises(LogInFirst)
async def _someone(request: Request) -> str:
    if request.headers.get("authorization") != "Bearer ok":
        raise LogInFirst("Log in first.", location="/login?next=" + request.url.path)
    return "ada"


Someone = Annotated[str, Depends(_someone)]


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    templates = tmp_path_factory.mktemp("templates")
    (templates / "note.html").write_text("<p>{{ text }}</p>", encoding="utf-8")
    app = FastAPI(responses={503: {"description": "The store does not answer."}})
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(templates),))

    @app.get("/notes/{note_id:int}")
    @tiered.raises(NoSuchNote)
    @tiered.view("note.html", etag=lambda note: str(note.id))
    async def show(note_id: int, who: Someone) -> Note:
        raise NoSuchNote(f"No note {note_id}.")

    @app.post("/notes", status_code=201)
    @tiered.form(NoteForm, template="note.html")
    async def add(data: NoteForm, who: Someone) -> Done[Note]:
        return Done("/notes/1", data=Note(id=1, text=data.text), created=True)

    @app.patch("/notes/{note_id:int}")
    @tiered.raises(NoSuchNote)
    @tiered.form(NoteUpdate)
    async def change(note_id: int, data: NoteUpdate, who: Someone) -> Done[Note]:
        raise NoSuchNote(f"No note {note_id}.")

    @app.post("/notes/{note_id:int}/delete")
    @tiered.form(template="note.html")
    async def delete(note_id: int) -> Done[None]:
        return Done("/notes")

    return TestClient(app)


def _responses(client: TestClient, path: str, method: str) -> dict[str, Any]:
    document = client.get("/openapi.json").json()
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return responses


def test_declared_problems_are_listed_under_their_status_with_their_codes(
    notes: TestClient,
) -> None:
    responses = _responses(notes, "/notes/{note_id}", "get")

    assert "No such note (`note-not-found`)" in responses["404"]["description"]
    assert "`log-in-first`" in responses["401"]["description"]  # from the dependency
    assert "303" in responses  # LogInFirst sends a person to the log-in page
    assert "304" in responses  # an ETag: If-None-Match
    assert responses["503"]["content"] == PROBLEM  # the app's own `responses=`
    for status in ("400", "401", "404", "406", "503"):
        assert responses[status]["content"] == PROBLEM, status


def test_an_api_operation_documents_json_and_problem_documents_only(notes: TestClient) -> None:
    document = notes.get("/openapi.json").json()
    operation = document["paths"]["/notes/{note_id}"]["patch"]

    assert set(operation["requestBody"]["content"]) == {"application/json"}
    assert operation["requestBody"]["required"] is False  # every field has a default
    assert "303" not in operation["responses"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json"}
    assert operation["responses"]["422"]["content"] == PROBLEM_ONLY
    # A path no route matches is the router's 404, a page when the client takes HTML.
    assert operation["responses"]["404"]["content"] == PROBLEM


def test_form_encodings_have_no_null(notes: TestClient) -> None:
    schemas = notes.get("/openapi.json").json()["components"]["schemas"]

    assert {"type": "null"} in schemas["NoteForm"]["properties"]["pinned"]["anyOf"]
    encoded = schemas["NoteFormEncoded"]["properties"]["pinned"]
    assert encoded["type"] == "boolean"
    assert "default" not in encoded


def test_a_form_without_data_is_204_for_json_and_a_block_for_an_enhanced_page(
    notes: TestClient,
) -> None:
    responses = _responses(notes, "/notes/{note_id}/delete", "post")

    assert "content" not in responses["204"]
    assert responses["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    assert "303" in responses


def test_an_error_raised_before_an_api_operation_runs_is_a_problem_document(
    notes: TestClient,
) -> None:
    response = notes.patch("/notes/1", json={"text": "x"}, headers={"Authorization": "Bearer no"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_405_allows_the_methods_of_every_route_at_the_path(notes: TestClient) -> None:
    response = notes.put("/notes/1", headers={"Authorization": "Bearer ok"})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PATCH"
