"""``@view`` over HTTP: one handler answers a page, a fragment or JSON, with the right Vary."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import PlainTextResponse, Response
from starlette.testclient import TestClient

import tiered
import tiered.testing
from tiered import ClientDep, TieredSettings

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


class Profile(BaseModel):
    name: str
    age: int


class Tier(BaseModel):
    tier: str
    reasons: list[str]


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "profile.html").write_text(TEMPLATE, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/profile/{name}")
    @tiered.view("profile.html", block="card")
    async def profile(name: str, age: int = 36) -> Profile:
        return Profile(name=name, age=age)

    @app.get("/page-only")
    @tiered.view("profile.html")
    async def page_only() -> Profile:
        return Profile(name="Ada", age=36)

    @app.get("/html-only")
    @tiered.view("profile.html", block="card", json=False)
    async def html_only() -> Profile:
        return Profile(name="Ada", age=36)

    @app.get("/api-only")
    @tiered.view()
    async def api_only() -> Profile:
        return Profile(name="Ada", age=36)

    @app.get("/tier")
    @tiered.view()
    async def tier(client: ClientDep) -> Tier:
        return Tier(tier=client.tier, reasons=list(client.reasons))

    @app.get("/raw")
    @tiered.view("profile.html")
    async def raw() -> Response:
        return PlainTextResponse("as is")

    @app.get("/created", status_code=201)
    @tiered.view(status=201)
    async def created() -> dict[str, int]:
        return {"id": 1}

    return TestClient(app, headers={"User-Agent": CHROME})


def test_browser_gets_the_whole_page(client: TestClient) -> None:
    response = client.get("/profile/Ada", headers={"Accept": "text/html,*/*;q=0.8"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["vary"] == PAGE_VARY
    assert response.headers["accept-ch"].startswith("ECT, RTT, Downlink")
    html = response.text
    assert html.startswith("<!doctype html>")
    assert "<title>Profile of Ada</title>" in html
    assert '<section id="card"><p>Ada is 36.</p></section>' in html


def test_htmx_request_gets_the_block_alone(client: TestClient) -> None:
    response = client.get("/profile/Ada", headers={"HX-Request": "true", "Accept": "text/html"})

    assert response.status_code == 200
    assert response.text == (
        '<head><title>Profile of Ada</title></head><section id="card"><p>Ada is 36.</p></section>'
    )
    assert response.headers["vary"] == PAGE_VARY


def test_htmx_history_restore_gets_the_whole_page(client: TestClient) -> None:
    response = client.get(
        "/profile/Ada",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )

    assert response.text.startswith("<!doctype html>")


def test_api_client_gets_json(client: TestClient) -> None:
    response = client.get("/profile/Ada?age=7", headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    assert response.json() == {"name": "Ada", "age": 7}
    assert "accept-ch" not in response.headers


def test_a_view_without_a_block_answers_htmx_with_the_page(client: TestClient) -> None:
    response = client.get("/page-only", headers={"HX-Request": "true"})

    assert response.text.startswith("<!doctype html>")
    assert response.headers["vary"] == (
        "Accept, Cookie, User-Agent, Save-Data, ECT, RTT, Downlink, Device-Memory"
    )


def test_a_view_without_json_refuses_json_only_clients(client: TestClient) -> None:
    response = client.get("/html-only", headers={"Accept": "application/json"})

    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["media_types"] == ["text/html"]


def test_a_view_without_a_template_answers_browsers_with_json(client: TestClient) -> None:
    response = client.get("/api-only", headers={"Accept": "text/html,*/*;q=0.8"})

    assert response.status_code == 200
    assert response.json() == {"name": "Ada", "age": 36}


def test_the_handler_reaches_the_client_through_a_dependency(client: TestClient) -> None:
    plain = client.get("/tier", headers={"Accept": "application/json"})
    save_data = client.get("/tier", headers={"Accept": "application/json", "Save-Data": "on"})
    lynx = client.get(
        "/tier", headers={"Accept": "application/json", "User-Agent": "Lynx/2.9.0 libwww-FM/2.14"}
    )

    assert plain.json() == {"tier": "full", "reasons": ["default"]}
    assert save_data.json() == {"tier": "lite", "reasons": ["save-data"]}
    assert lynx.json()["tier"] == "core"
    assert "text-browser" in lynx.json()["reasons"]


def test_a_returned_response_is_sent_as_is(client: TestClient) -> None:
    response = client.get("/raw")

    assert response.text == "as is"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_view_status_is_used_for_every_representation(client: TestClient) -> None:
    response = client.get("/created", headers={"Accept": "application/json"})

    assert response.status_code == 201
    assert response.json() == {"id": 1}


def test_guestbook_lists_entries_in_every_representation() -> None:
    from examples.guestbook.app import create_app

    client = TestClient(create_app(TieredSettings(debug=True)))
    client.post(
        "/entries",
        json={"name": "Ada", "message": "Hello"},
        headers={"Authorization": "Bearer t", "Accept": "application/json"},
    )

    page = client.get("/")
    fragment = client.get("/", headers={"HX-Request": "true"})
    as_json = client.get("/", headers={"Accept": "application/json"})

    assert '<li data-entry-id="1"><a href="/entries/1">Ada</a>: Hello</li>' in page.text
    assert fragment.text.startswith('<head><title>Guestbook</title></head><div id="guestbook">')
    assert '<li data-entry-id="1">' in fragment.text
    assert as_json.json()["items"][0]["name"] == "Ada"
    assert as_json.json()["total_pages"] == 1


def test_text_browser_gets_a_core_tier_page_without_script(client: TestClient) -> None:
    response = client.get("/profile/Ada", headers={"User-Agent": "Lynx/2.9.0 libwww-FM/2.14"})

    assert response.status_code == 200
    assert "<script" not in response.text
    assert '<section id="card"><p>Ada is 36.</p></section>' in response.text
    assert '<link rel="stylesheet" href="/static/tiered/tiered.' in response.text


class Versioned(BaseModel):
    id: int
    version: int


def test_a_view_with_an_etag_tags_its_json_and_answers_a_matching_revalidation_304(
    tmp_path: Path,
) -> None:
    (tmp_path / "profile.html").write_text(TEMPLATE, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    versions = {"current": 4}

    @app.get("/things/{thing}")
    @tiered.view("profile.html", etag=lambda data: str(data.version))
    async def thing(thing: int) -> Versioned:
        return Versioned(id=thing, version=versions["current"])

    @app.patch("/things/{thing}")
    @tiered.form(etag=lambda data: str(data.version))
    async def touch(thing: int) -> tiered.Done[Versioned]:
        versions["current"] += 1
        return tiered.Done(
            f"/things/{thing}", data=Versioned(id=thing, version=versions["current"])
        )

    with TestClient(app) as client:
        json_headers = {"Accept": "application/json"}
        first = client.get("/things/1", headers=json_headers)
        assert first.headers["etag"] == '"4"'

        again = client.get("/things/1", headers={**json_headers, "If-None-Match": 'W/"4"'})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == '"4"'
        assert again.headers["vary"].startswith("Accept")

        other = client.get("/things/1", headers={**json_headers, "If-None-Match": '"3"'})
        assert other.status_code == 200
        assert other.json() == {"id": 1, "version": 4}

        page = client.get("/things/1", headers={"User-Agent": CHROME, "Accept": "text/html"})
        assert page.status_code == 200
        assert "etag" not in page.headers  # the tag names the JSON, not the page

        page_token = tiered.testing.csrf_token(client.get("/things/1").text)
        written = client.patch("/things/1", headers={**json_headers, "X-CSRF-Token": page_token})
        assert written.status_code == 200
        assert written.headers["etag"] == '"5"'
