"""The OpenAPI document describes what tiered views really answer: HTML, JSON, problems, forms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples.guestbook.app import create_app
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.testclient import TestClient

import tiered
from tiered import TieredSettings


class About(BaseModel):
    text: str


PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


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
    ref = {"schema": {"$ref": "#/components/schemas/EntryForm"}}
    assert body["content"]["application/json"] == ref
    assert body["content"]["application/x-www-form-urlencoded"] == ref
    schema = document["components"]["schemas"]["EntryForm"]
    assert set(schema["properties"]) == {"name", "message"}
    assert schema["required"] == ["name", "message"]


def test_forms_document_created_redirect_and_problems(document: dict[str, Any]) -> None:
    responses = document["paths"]["/entries"]["post"]["responses"]

    assert responses["201"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/Entry"}
    }
    assert "303" in responses
    for status in ("400", "403", "406", "415", "422"):
        assert responses[status]["content"] == PROBLEM, status


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
