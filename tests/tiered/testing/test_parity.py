"""Parity: one form submitted as a plain form, as an htmx request and as JSON stores the same."""

from __future__ import annotations

import doctest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.testclient import TestClient

import tiered
from tiered.testing import WAYS, Way, csrf_token, hidden_fields, submit
from tiered.testing import parity as parity_module

PAGE = """\
{% extends "tiered/layout.html" %}
{% block title %}Notes{% endblock %}
{% block main %}
{% block notes %}
<div id="notes">
{{ ui.error_summary(form) }}
<form method="post" action="/notes" data-hx-post="/notes" data-hx-target="#notes">
{{ form_guard() }}
{{ ui.field(form, "title", "Title", required=True) }}
<button type="submit">Add</button>
</form>
<ul>{% for note in items %}<li>{{ note.title }}</li>{% endfor %}</ul>
</div>
{% endblock %}
{% endblock %}
"""


class NoteForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=50)
    pinned: bool = False


class Note(BaseModel):
    id: int
    title: str
    pinned: bool


class NoteList(BaseModel):
    items: list[Note]


@dataclass
class Notes:
    client: TestClient
    stored: list[Note] = field(default_factory=list)


@pytest.fixture
def notes(tmp_path: Path) -> Notes:
    (tmp_path / "notes.html").write_text(PAGE, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, tiered.TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    state = Notes(TestClient(app))

    async def context(request: Request) -> dict[str, Any]:
        return {"items": list(state.stored)}

    @app.get("/notes")
    @tiered.view("notes.html", block="notes")
    async def list_notes() -> NoteList:
        return NoteList(items=list(state.stored))

    @app.post("/notes")
    @tiered.form(NoteForm, template="notes.html", block="notes", context=context)
    async def add_note(data: NoteForm) -> tiered.Done[Note]:
        note = Note(id=len(state.stored) + 1, title=data.title, pinned=data.pinned)
        state.stored.append(note)
        return tiered.Done("/notes", data=note, flash="Note added.", created=True)

    return state


@pytest.mark.parametrize("way", WAYS)
def test_each_way_stores_the_same_note(notes: Notes, way: Way) -> None:
    done = submit(notes.client, way, "/notes", {"title": "Milk"})

    assert done.succeeded, done
    assert [(n.id, n.title, n.pinned) for n in notes.stored] == [(1, "Milk", False)]


def test_the_form_way_posts_the_forms_hidden_fields_and_follows_the_303(notes: Notes) -> None:
    done = submit(notes.client, "form", "/notes", {"title": "Milk"})

    assert done.response.status_code == 303
    assert done.response.headers["location"] == "/notes"
    assert done.landed is not None
    assert "Note added." in done.landed.text
    assert "<li>Milk</li>" in done.landed.text
    sent = done.response.request.content.decode()
    assert "csrf_token=" in sent
    assert "idempotency_key=" in sent  # what form_guard() put in the form went along


def test_the_enhanced_way_is_an_htmx_request_answered_with_the_block(notes: Notes) -> None:
    done = submit(notes.client, "enhanced", "/notes", {"title": "Milk"})

    request = done.response.request
    assert request.headers["hx-request"] == "true"
    assert request.headers["x-csrf-token"]
    assert "tiered_js=1" in request.headers["cookie"]
    assert done.response.text.startswith('<head><title>Notes</title></head><div id="notes">')
    assert "<li>Milk</li>" in done.response.text
    assert done.landed is None


def test_the_json_way_sends_json_with_the_token_in_a_header(notes: Notes) -> None:
    done = submit(
        notes.client,
        "json",
        "/notes",
        {"title": "Milk"},
        json_body={"title": "Milk", "pinned": True},
    )

    assert done.response.status_code == 201
    assert done.response.json() == {"id": 1, "title": "Milk", "pinned": True}
    assert done.response.request.headers["x-csrf-token"]
    assert notes.stored[0].pinned is True


def test_the_json_way_with_a_bearer_token_needs_no_page(notes: Notes) -> None:
    done = submit(notes.client, "json", "/notes", {"title": "Milk"}, page="/nowhere", bearer="t0k")

    assert done.response.status_code == 201
    assert done.response.request.headers["authorization"] == "Bearer t0k"
    assert "x-csrf-token" not in done.response.request.headers


def test_a_failed_submission_says_what_came_back(notes: Notes) -> None:
    done = submit(notes.client, "form", "/notes", {"title": ""})

    assert not done.succeeded
    assert done.response.status_code == 422
    assert str(done).startswith("form: POST /notes answered 422 text/html; charset=utf-8: '")


def test_a_page_that_does_not_answer_200_is_named(notes: Notes) -> None:
    with pytest.raises(AssertionError, match=r"GET /nowhere as no_js_browser answered 404"):
        submit(notes.client, "form", "/notes", {"title": "Milk"}, page="/nowhere")


def test_an_unknown_way_is_refused(notes: Notes) -> None:
    with pytest.raises(ValueError, match=r"Unknown way 'xml'; expected one of 'form'"):
        submit(notes.client, "xml", "/notes", {})  # type: ignore[arg-type]


def test_csrf_token_reads_the_field_then_the_meta_tag() -> None:
    field = '<form><input name="csrf_token" type="hidden" value="from-field"></form>'
    loose = '<input type="hidden" name="csrf_token" value="loose">'
    meta = '<head><meta name="csrf-token" content="from-meta"></head>'

    assert csrf_token(meta + field) == "from-field"
    assert csrf_token(meta + loose) == "loose"
    assert csrf_token(meta) == "from-meta"
    with pytest.raises(ValueError, match=r"The page has no hidden 'csrf_token' field"):
        csrf_token("<p>No form here</p>")


def test_hidden_fields_finds_the_form_by_its_action() -> None:
    html = """
    <form method="post" action="/logout"><input type="hidden" name="csrf_token" value="a"></form>
    <form method="post" action="/tasks?page=2">
      <input type="hidden" name="csrf_token" value="b"><input name="title">
      <input type="hidden" name="idempotency_key" value="k"/>
    </form>"""

    assert hidden_fields(html) == {"csrf_token": "a"}
    assert hidden_fields(html, action="/tasks") == {"csrf_token": "b", "idempotency_key": "k"}
    with pytest.raises(ValueError, match=r"^The page has no <form") as raised:
        hidden_fields(html, action="/notes")
    assert str(raised.value) == (
        "The page has no <form action='/notes'>; its forms post to: '/logout', "
        "'/tasks?page=2'. Pass the page that shows the form, or the action it posts to."
    )


def test_the_docstring_examples_hold() -> None:
    results = doctest.testmod(parity_module)

    assert results.attempted > 0
    assert results.failed == 0
