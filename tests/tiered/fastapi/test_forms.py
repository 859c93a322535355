"""Forms over HTTP: success and invalid input, as a page, an htmx fragment and JSON."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.testclient import TestClient

import tiered
from tests.conftest import NotesApp, hidden_value
from tiered import Done, TieredSettings

JSON = {"Accept": "application/json", "Authorization": "Bearer api-token"}
HTMX = {"HX-Request": "true"}


def _form_page(client: TestClient) -> tuple[str, str]:
    page = client.get("/notes")
    assert page.status_code == 200
    return hidden_value(page.text, "csrf_token"), hidden_value(page.text, "idempotency_key")


def test_valid_form_post_redirects_with_303_and_stores_the_note(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token, key = _form_page(client)

    response = client.post(
        "/notes",
        data={"csrf_token": token, "idempotency_key": key, "title": "Milk", "count": "2"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/notes/1"
    assert response.content == b""
    assert [(n.title, n.count) for n in notes_app.notes] == [("Milk", 2)]


def test_invalid_form_post_re_renders_the_page_with_input_kept_and_errors_linked(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)
    token, key = _form_page(client)

    response = client.post(
        "/notes",
        data={"csrf_token": token, "idempotency_key": key, "title": "  ", "count": "lots"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert "<title>Error: Notes</title>" in html
    assert '<div class="error-summary" role="alert"' in html
    assert '<a href="#field-title">Enter title.</a>' in html
    assert '<a href="#field-count">Enter count as a whole number, like 3.</a>' in html
    assert (
        '<input id="field-title" name="title" type="text" value="  " required '
        'aria-invalid="true" aria-describedby="field-title-error">'
    ) in html
    assert (
        '<input id="field-count" name="count" type="text" value="lots" '
        'aria-invalid="true" aria-describedby="field-count-error">'
    ) in html
    assert '<p class="error-message" id="field-count-error">' in html
    # The page is a whole page (layout included), and carries a fresh token for the next try.
    assert html.startswith("<!doctype html>")
    assert hidden_value(html, "csrf_token") != token
    assert notes_app.notes == []


def test_invalid_enhanced_post_answers_the_form_block_as_a_fragment(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token, _ = _form_page(client)

    response = client.post(
        "/notes",
        data={"title": "", "count": "3"},
        headers={**HTMX, "X-CSRF-Token": token},
    )

    assert response.status_code == 422
    html = response.text
    # The form block alone, after the title the page would have, which htmx makes the document's.
    assert html.startswith('<head><title>Error: Notes</title></head><div id="notes">')
    assert "<html" not in html
    assert '<a href="#field-title">Enter title.</a>' in html
    assert 'id="field-count" name="count" type="text" value="3"' in html
    assert response.headers["vary"].startswith("Accept, HX-Request, HX-Request-Type")
    assert notes_app.notes == []


def test_invalid_json_post_answers_a_problem_with_pointers(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    response = client.post("/notes", json={"title": "", "count": "lots"}, headers=JSON)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["vary"] == "Accept"
    problem = response.json()
    assert problem["type"] == "urn:tiered:problem:validation-failed"
    assert problem["title"] == "Some of what you entered needs fixing"
    assert problem["status"] == 422
    assert problem["code"] == "validation-failed"
    assert problem["instance"] == "/notes"
    assert problem["errors"] == [
        {
            "pointer": "/title",
            "field": "title",
            "detail": "Enter title.",
            "code": "string_too_short",
        },
        {
            "pointer": "/count",
            "field": "count",
            "detail": "Enter count as a whole number, like 3.",
            "code": "int_parsing",
        },
    ]
    assert problem["detail"] == "Enter title. Enter count as a whole number, like 3."
    assert notes_app.notes == []


def test_json_post_creates_with_201_and_location(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    response = client.post("/notes", json={"title": "Eggs", "count": 12}, headers=JSON)

    assert response.status_code == 201
    assert response.headers["location"] == "/notes/1"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    assert response.json() == {"id": 1, "title": "Eggs", "count": 12}
    assert [n.title for n in notes_app.notes] == ["Eggs"]


def test_enhanced_success_answers_the_block_and_the_flash_out_of_band(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)
    token, _ = _form_page(client)

    response = client.post(
        "/notes", data={"title": "Bread"}, headers={**HTMX, "X-CSRF-Token": token}
    )

    assert response.status_code == 200
    html = response.text
    assert html.startswith('<head><title>Notes</title></head><div id="notes">')
    assert '<li data-note-id="1">Bread</li>' in html
    assert (
        '<div id="flash" class="flash" role="status" aria-live="polite" '
        'data-hx-swap-oob="innerHTML">'
    ) in html
    assert '<p class="flash-success">Note added.</p>' in html
    # Shown once: the next page has an empty flash region.
    again = client.get("/notes")
    assert "Note added." not in again.text


def test_handler_field_error_re_renders_each_representation(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token, _ = _form_page(client)

    page = client.post("/notes", data={"csrf_token": token, "title": "taken"})
    fragment = client.post(
        "/notes", data={"title": "taken"}, headers={**HTMX, "X-CSRF-Token": token}
    )
    problem = client.post("/notes", json={"title": "taken"}, headers=JSON)

    assert page.status_code == 422
    assert '<a href="#field-title">That title is taken.</a>' in page.text
    assert 'value="taken" required aria-invalid="true"' in page.text
    assert "<title>Error: Notes</title>" in page.text
    assert fragment.status_code == 422
    assert fragment.text.startswith('<head><title>Error: Notes</title></head><div id="notes">')
    assert '<a href="#field-title">That title is taken.</a>' in fragment.text
    assert problem.status_code == 422
    assert problem.json()["errors"] == [
        {"pointer": "/title", "field": "title", "detail": "That title is taken.", "code": "taken"}
    ]
    assert notes_app.notes == []


def test_multipart_form_is_read_like_urlencoded(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token, _ = _form_page(client)

    response = client.post(
        "/notes",
        files={"title": (None, "Jam"), "csrf_token": (None, token)},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert [n.title for n in notes_app.notes] == ["Jam"]


class Greeting(BaseModel):
    name: str


def test_sync_handlers_work_for_views_and_forms(tmp_path: Path) -> None:
    (tmp_path / "hello.html").write_text(
        '{% extends "tiered/layout.html" %}{% block title %}Hi{% endblock %}'
        "{% block main %}{% block greeting %}<p id=g>Hello {{ name }}</p>{% endblock %}"
        "{% endblock %}",
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    seen: list[str] = []

    @app.get("/hello/{name}")
    @tiered.view("hello.html", block="greeting")
    def hello(name: str) -> Greeting:
        return Greeting(name=name)

    @app.post("/hello")
    @tiered.form(Greeting, template="hello.html", block="greeting", success_block=None)
    def greet(data: Greeting) -> Done[Greeting]:
        seen.append(data.name)
        return Done(f"/hello/{data.name}", data=data, created=True)

    client = TestClient(app)
    page = client.get("/hello/Ada")
    fragment = client.get("/hello/Ada", headers=HTMX)
    as_json = client.get("/hello/Ada", headers={"Accept": "application/json"})
    created = client.post("/hello", json={"name": "Bob"}, headers=JSON)

    assert "<p id=g>Hello Ada</p>" in page.text
    assert page.text.startswith("<!doctype html>")
    assert fragment.text == "<head><title>Hi</title></head><p id=g>Hello Ada</p>"
    assert as_json.json() == {"name": "Ada"}
    assert created.status_code == 201
    assert created.headers["location"] == "/hello/Bob"
    assert seen == ["Bob"]


def test_form_keeps_values_html_escaped(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token, _ = _form_page(client)

    response = client.post(
        "/notes", data={"csrf_token": token, "title": "", "count": '"><script>x</script>'}
    )

    assert response.status_code == 422
    assert "<script>x</script>" not in response.text
    assert re.search(r'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"', response.text)


class Item(BaseModel):
    name: str


def test_done_then_sends_a_browser_elsewhere_while_json_gets_the_location(
    tmp_path: Path,
) -> None:
    (tmp_path / "items.html").write_text(
        "<!doctype html><title>Items</title>{% block form %}<form method=post>{{ form_guard() }}"
        "</form>{% endblock %}",
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/items")
    @tiered.view("items.html", block="form", json=False)
    def items() -> None:
        return None

    @app.post("/items")
    @tiered.form(Item, template="items.html", block="form", success_block=None)
    def add(data: Item) -> Done[Item]:
        return Done("/items/7", data=data, created=True, then="/items?sort=name")

    client = TestClient(app)
    token = hidden_value(client.get("/items").text, "csrf_token")
    browser = client.post("/items", data={"csrf_token": token, "name": "a"}, follow_redirects=False)
    enhanced = client.post("/items", data={"name": "a"}, headers={**HTMX, "X-CSRF-Token": token})
    api = client.post("/items", json={"name": "a"}, headers=JSON)

    assert (browser.status_code, browser.headers["location"]) == (303, "/items?sort=name")
    assert enhanced.headers["hx-redirect"] == "/items?sort=name"
    assert (api.status_code, api.headers["location"]) == (201, "/items/7")


# --- "try again later" keeps what the person typed --------------------------------------------


class Wish(BaseModel):
    text: str


def test_a_problem_asking_to_try_again_re_shows_the_form_with_the_input_kept(
    tmp_path: Path,
) -> None:
    (tmp_path / "wish.html").write_text(
        "{% block wish %}{% for error in form.errors %}<p>{{ error.message }}</p>{% endfor %}"
        '<form method="post"><input name="text" value="{{ form.values.text }}"></form>'
        "{% endblock %}",
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.post("/wishes")
    @tiered.form(Wish, template="wish.html", block="wish")
    async def wish(data: Wish) -> Done[None]:
        raise tiered.TooManyRequests(30, "Too many wishes today. Try again in 30 seconds.")

    client = TestClient(app)
    api = {"Authorization": "Bearer t"}
    page = client.post("/wishes", data={"text": "A pony"}, headers=api)
    document = client.post("/wishes", json={"text": "A pony"}, headers=api)

    assert page.status_code == 429
    assert page.headers["retry-after"] == "30"
    assert page.headers["content-type"].startswith("text/html")
    assert 'value="A pony"' in page.text
    assert "Too many wishes today. Try again in 30 seconds." in page.text
    assert document.status_code == 429
    assert document.headers["content-type"] == "application/problem+json"
    assert document.headers["retry-after"] == "30"
