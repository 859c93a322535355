"""``tiered.route``: shorthand for a path operation with ``@tiered.view``, answered as any view."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.testclient import TestClient

import tiered
from tiered import ApiVersion, ImproperlyConfigured, JsonVersions, TieredSettings

PAGE_VARY = (
    "Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, "
    "Cookie, User-Agent, Save-Data, ECT, RTT, Downlink, Device-Memory"
)
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
TEMPLATE = """\
{% extends "tiered/layout.html" %}
{% block title %}Profile of {{ name }}{% endblock %}
{% block main %}
<h1>Profile</h1>
{% block card %}<section id="card"><p>{{ name }} is {{ age }}.</p></section>{% endblock %}
{% endblock %}
"""
PROBLEM = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
    "text/html": {"schema": {"type": "string"}},
}
"""An error of a view with HTML: a problem document, or a page for a person."""


class Profile(BaseModel):
    name: str
    age: int


class Seen(BaseModel):
    tier: str
    path: str
    tags: list[str]
    search: str | None


async def dependency() -> int:
    return 1


def _app(tmp_path: Path, **overrides: Any) -> FastAPI:
    (tmp_path / "profile.html").write_text(TEMPLATE, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),), **overrides)

    @tiered.route(app, "/profile/{name}", "profile.html", block="card", tags=["people"])
    async def profile(name: str, age: Annotated[int, Field(ge=0, le=150)] = 36) -> Profile:
        """Show one person's profile."""
        return Profile(name=name, age=age)

    @tiered.route(app, "/html-only", "profile.html", json=False)
    async def html_only() -> Profile:
        return Profile(name="Ada", age=36)

    @tiered.route(app, "/seen")
    def seen(  # a plain def runs in the thread pool, as in FastAPI
        request: Request,
        client: tiered.Client,
        tags: Annotated[list[str], Query()] = [],  # noqa: B006 (validated into a new list)
        search: Annotated[str | None, Query(alias="q")] = None,
    ) -> Seen:
        return Seen(tier=client.tier, path=request.url.path, tags=tags, search=search)

    @tiered.route(app, "/raw", "profile.html")
    async def raw() -> Response:
        return PlainTextResponse("as is")

    @tiered.route(app, "/created", status=201, methods=["POST"])
    async def created() -> dict[str, int]:
        return {"id": 1}

    return app


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(_app(tmp_path), headers={"User-Agent": CHROME})


def test_browser_gets_the_whole_page(client: TestClient) -> None:
    response = client.get("/profile/Ada", headers={"Accept": "text/html,*/*;q=0.8"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["vary"] == PAGE_VARY
    assert response.headers["accept-ch"].startswith("ECT, RTT, Downlink")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.text.startswith("<!doctype html>")
    assert "<title>Profile of Ada</title>" in response.text
    assert '<section id="card"><p>Ada is 36.</p></section>' in response.text


def test_htmx_request_gets_the_block_alone(client: TestClient) -> None:
    response = client.get("/profile/Ada?age=7", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.text == (
        '<head><title>Profile of Ada</title></head><section id="card"><p>Ada is 7.</p></section>'
    )
    assert response.headers["vary"] == PAGE_VARY


def test_api_client_gets_json_validated_from_the_query(client: TestClient) -> None:
    response = client.get("/profile/Ada?age=7", headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    assert "accept-ch" not in response.headers
    assert response.json() == {"name": "Ada", "age": 7}


def test_head_answers_the_headers_without_a_body(client: TestClient) -> None:
    response = client.head("/profile/Ada")

    assert response.status_code == 200
    assert response.headers["vary"] == PAGE_VARY
    assert response.content == b""


def test_a_route_without_json_refuses_json_only_clients(client: TestClient) -> None:
    response = client.get("/html-only", headers={"Accept": "application/json"})

    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["media_types"] == ["text/html"]


def test_a_bad_query_value_is_a_400_problem_naming_it(client: TestClient) -> None:
    response = client.get("/profile/Ada?age=200", headers={"Accept": "application/json"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "bad-request"
    assert problem["detail"] == (
        "The query parameter 'age' is not valid: Input should be less than or equal to 150."
    )
    assert problem["errors"][0]["field"] == "age"


def test_a_bad_query_value_shows_a_browser_the_error_page(client: TestClient) -> None:
    response = client.get("/profile/Ada?age=old", headers={"Accept": "text/html"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "The query parameter &#39;age&#39; is not valid" in response.text


def test_request_client_lists_and_aliases_reach_the_handler(client: TestClient) -> None:
    response = client.get("/seen?tags=a&tags=b&q=tea", headers={"Accept": "application/json"})

    assert response.json() == {"tier": "full", "path": "/seen", "tags": ["a", "b"], "search": "tea"}


def test_defaults_apply_when_the_query_is_empty(client: TestClient) -> None:
    response = client.get("/seen", headers={"Accept": "application/json"})

    assert response.json() == {"tier": "full", "path": "/seen", "tags": [], "search": None}


def test_a_returned_response_is_sent_as_is(client: TestClient) -> None:
    response = client.get("/raw")

    assert response.text == "as is"


def test_the_route_status_and_methods_are_used(client: TestClient) -> None:
    response = client.post(
        "/created", headers={"Accept": "application/json", "Authorization": "Bearer t"}
    )

    assert response.status_code == 201
    assert response.json() == {"id": 1}
    assert client.get("/created").status_code == 405


def test_json_versions_apply_as_for_views(tmp_path: Path) -> None:
    versions = JsonVersions((ApiVersion("1"), ApiVersion("2")), current="2")
    client = TestClient(_app(tmp_path, json_versions=versions), headers={"User-Agent": CHROME})

    ok = client.get("/profile/Ada", headers={"Accept": "application/json; version=1"})
    unknown = client.get("/profile/Ada", headers={"Accept": "application/json; version=9"})

    assert ok.headers["content-type"] == "application/json; version=1"
    assert unknown.status_code == 406
    assert unknown.json()["versions"] == ["1", "2"]


def test_a_route_on_a_plain_starlette_app_is_refused_with_the_fix() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a FastAPI app or an APIRouter"):
        tiered.route(Starlette(), "/x")  # type: ignore[arg-type]


def test_a_route_on_an_included_router_is_served_and_documented(tmp_path: Path) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    router = APIRouter()

    @tiered.route(router, "/items/{item_id}")
    async def item(item_id: int) -> Profile:
        return Profile(name="item", age=item_id)

    app.include_router(router, prefix="/api")
    client = TestClient(app)

    assert client.get("/api/items/3").json() == {"name": "item", "age": 3}
    assert client.get("/api/items/x").status_code == 400
    operation = client.get("/openapi.json").json()["paths"]["/api/items/{item_id}"]["get"]
    assert operation["parameters"][0]["in"] == "path"


def test_the_operation_is_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    operation = document["paths"]["/profile/{name}"]["get"]
    assert operation["summary"] == "Profile"
    assert operation["description"] == "Show one person's profile."
    assert operation["tags"] == ["people"]
    assert operation["operationId"] == "profile_profile__name__get"
    assert operation["parameters"] == [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"title": "Name", "type": "string"},
        },
        {
            "name": "age",
            "in": "query",
            "required": False,
            "schema": {
                "default": 36,
                "maximum": 150,
                "minimum": 0,
                "title": "Age",
                "type": "integer",
            },
        },
    ]
    ok = operation["responses"]["200"]["content"]
    assert ok["application/json"] == {"schema": {"$ref": "#/components/schemas/Profile"}}
    assert ok["text/html"] == {"schema": {"type": "string"}}
    assert operation["responses"]["400"]["content"] == PROBLEM
    assert operation["responses"]["406"]["content"] == PROBLEM
    assert "Profile" in document["components"]["schemas"]
    seen = document["paths"]["/seen"]["get"]
    assert [p["name"] for p in seen["parameters"]] == ["tags", "q"]
    assert "text/html" not in seen["responses"]["200"]["content"]
    assert (
        "application/json"
        not in document["paths"]["/html-only"]["get"]["responses"]["200"]["content"]
    )
    assert "201" in document["paths"]["/created"]["post"]["responses"]


def test_a_route_takes_what_any_view_takes(tmp_path: Path) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @tiered.route(app, "/things")
    async def things(
        value: Annotated[int, Depends(dependency)], x_token: Annotated[str, Header()] = ""
    ) -> dict[str, Any]:
        return {"value": value, "token": x_token}

    response = TestClient(app).get(
        "/things", headers={"Accept": "application/json", "X-Token": "t"}
    )
    assert response.json() == {"value": 1, "token": "t"}


def test_a_route_needs_a_template_or_json() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a template, JSON, or both"):
        tiered.route(FastAPI(), "/nothing", json=False)


def test_a_route_without_install_says_how_to_fix_it() -> None:
    app = FastAPI()

    @tiered.route(app, "/x")
    async def x() -> dict[str, int]:
        return {}

    with pytest.raises(ImproperlyConfigured, match=r"tiered\.install"):
        TestClient(app).get("/x")
