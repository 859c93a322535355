"""Versions of the JSON representation over HTTP: chosen by Accept, named in Content-Type."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.testclient import TestClient

import tiered
from tiered import ApiVersion, Done, JsonVersions, TieredSettings

V1 = ApiVersion(
    "1",
    deprecated_at=datetime(2025, 1, 1, tzinfo=UTC),
    sunset_at=datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
    link="https://example.com/api/v1-deprecation",
)
VERSIONS = JsonVersions((V1, ApiVersion("2")), current="2")


class Person(BaseModel):
    given_name: str
    family_name: str


def _v1(person: Person) -> dict[str, Any]:
    return {"name": f"{person.given_name} {person.family_name}"}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "person.html").write_text(
        '{% extends "tiered/layout.html" %}{% block main %}<p>{{ given_name }}</p>{% endblock %}',
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(
        app, TieredSettings(debug=True, json_versions=VERSIONS), template_dirs=(str(tmp_path),)
    )

    @app.get("/people/1")
    @tiered.view("person.html", downgrades={"1": _v1})
    async def person() -> Person:
        return Person(given_name="Ada", family_name="Lovelace")

    @app.post("/people")
    @tiered.form(Person, template="person.html", downgrades={"1": _v1})
    async def add(data: Person) -> Done[Person]:
        return Done("/people/2", data=data, created=True)

    return TestClient(app)


def test_no_version_gets_the_current_one_named_in_content_type(client: TestClient) -> None:
    response = client.get("/people/1", headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; version=2"
    assert response.json() == {"given_name": "Ada", "family_name": "Lovelace"}
    assert "deprecation" not in response.headers
    assert "sunset" not in response.headers
    assert response.headers["vary"] == "Accept"


def test_a_deprecated_version_is_downgraded_and_announces_its_sunset(client: TestClient) -> None:
    response = client.get("/people/1", headers={"Accept": "application/json; version=1"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; version=1"
    assert response.json() == {"name": "Ada Lovelace"}
    assert response.headers["deprecation"] == "@1735689600"
    assert response.headers["sunset"] == "Thu, 31 Dec 2026 23:59:59 GMT"
    assert response.headers["link"] == '<https://example.com/api/v1-deprecation>; rel="deprecation"'


def test_an_unknown_version_is_a_406_listing_the_versions(client: TestClient) -> None:
    response = client.get("/people/1", headers={"Accept": "application/json; version=9"})

    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "unknown-version"
    assert problem["type"] == "urn:tiered:problem:unknown-version"
    assert problem["versions"] == ["1", "2"]
    assert "'9'" in problem["detail"]
    assert "'1', '2'" in problem["detail"]


def test_an_unknown_version_on_a_form_is_refused_before_the_handler(client: TestClient) -> None:
    response = client.post(
        "/people",
        json={"given_name": "Grace", "family_name": "Hopper"},
        headers={"Accept": "application/json; version=7", "Authorization": "Bearer t"},
    )

    assert response.status_code == 406
    assert response.json()["versions"] == ["1", "2"]


def test_a_created_resource_in_an_old_version_carries_its_headers(client: TestClient) -> None:
    headers = {
        "Accept": "application/json; version=1",
        "Authorization": "Bearer t",
        "Idempotency-Key": "grace",
    }
    body = {"given_name": "Grace", "family_name": "Hopper"}

    first = client.post("/people", json=body, headers=headers)
    repeat = client.post("/people", json=body, headers=headers)

    for response in (first, repeat):
        assert response.status_code == 201
        assert response.json() == {"name": "Grace Hopper"}
        assert response.headers["location"] == "/people/2"
        assert response.headers["content-type"] == "application/json; version=1"
        assert response.headers["deprecation"] == "@1735689600"
        assert response.headers["sunset"] == "Thu, 31 Dec 2026 23:59:59 GMT"


def test_a_created_resource_in_the_current_version_has_the_current_shape(
    client: TestClient,
) -> None:
    response = client.post(
        "/people",
        json={"given_name": "Grace", "family_name": "Hopper"},
        headers={"Accept": "application/json", "Authorization": "Bearer t"},
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; version=2"
    assert response.json() == {"given_name": "Grace", "family_name": "Hopper"}


def test_html_is_not_versioned(client: TestClient) -> None:
    response = client.get("/people/1", headers={"Accept": "text/html"})

    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<p>Ada</p>" in response.text
