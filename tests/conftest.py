"""Shared fixtures: a small notes app built on tiered, and readers for what its pages hold."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

import tiered
from tiered import Done, NotFound, TieredSettings, ValidationFailed

SECRET = "a-test-secret-key-that-is-long-enough-for-tiered"

NOTES_PAGE = """\
{% extends "tiered/layout.html" %}
{% block title %}Notes{% endblock %}
{% block main %}
<h1>Notes</h1>
{% block notes %}
{% import "tiered/macros.html" as ui with context %}
<div id="notes">
{{ ui.error_summary(form) }}
<form method="post" action="/notes">
{{ form_guard() }}
{{ ui.field(form, "title", "Title", required=True) }}
{{ ui.field(form, "count", "Count") }}
<button type="submit">Add</button>
</form>
<ul>{% for note in items %}<li data-note-id="{{ note.id }}">{{ note.title }}</li>{% endfor %}</ul>
</div>
{% endblock %}
{% endblock %}
"""

NOTE_PAGE = """\
{% extends "tiered/layout.html" %}
{% block title %}{{ title }}{% endblock %}
{% block main %}
{% block note %}
<article id="note"><h1>{{ title }}</h1><p>Count: {{ count }}</p></article>
{% endblock %}
{% endblock %}
"""


class NoteForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=50)
    count: int = 1


class Note(BaseModel):
    id: int
    title: str
    count: int


class NoteList(BaseModel):
    items: list[Note]


@dataclass
class NotesApp:
    """The app, and the notes it stored (what a test checks was created, and how often)."""

    app: FastAPI
    notes: list[Note] = field(default_factory=list)
    calls: int = 0


def build_notes_app(tmp_path: Path, settings: TieredSettings | None = None) -> NotesApp:
    """GET /notes (list and form), POST /notes (create), GET /notes/{id}.

    A title of ``taken`` makes the handler raise ``ValidationFailed.for_field``; ``boom`` makes it
    raise an unexpected error; ``slow`` makes it wait a moment before creating.
    """
    (tmp_path / "notes.html").write_text(NOTES_PAGE, encoding="utf-8")
    (tmp_path / "note.html").write_text(NOTE_PAGE, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, settings or TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    state = NotesApp(app)

    async def list_context(request: Request) -> dict[str, Any]:
        return {"items": list(state.notes)}

    @app.get("/notes")
    @tiered.view("notes.html", block="notes")
    async def list_notes() -> NoteList:
        return NoteList(items=list(state.notes))

    @app.post("/notes")
    @tiered.form(NoteForm, template="notes.html", block="notes", context=list_context)
    async def add_note(data: NoteForm) -> Done[Note]:
        state.calls += 1
        if data.title == "taken":
            raise ValidationFailed.for_field("title", "That title is taken.", "taken")
        if data.title == "boom":
            raise RuntimeError("secret internals: password=hunter2")
        if data.title == "slow":
            await anyio.sleep(0.2)
        note = Note(id=len(state.notes) + 1, title=data.title, count=data.count)
        state.notes.append(note)
        return Done(f"/notes/{note.id}", data=note, flash="Note added.", created=True)

    @app.get("/notes/{note_id}")
    @tiered.view("note.html", block="note")
    async def show_note(note_id: int) -> Note:
        for note in state.notes:
            if note.id == note_id:
                return note
        raise NotFound(f"There is no note {note_id}.")

    return state


@pytest.fixture
def notes_app(tmp_path: Path) -> NotesApp:
    return build_notes_app(tmp_path)


def hidden_value(html: str, name: str) -> str:
    """The value of the hidden input ``name`` in a page (the first one)."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert match is not None, f"no hidden field {name!r} in the page"
    return match.group(1)
