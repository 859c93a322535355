"""Notes: write a note, pin it to the top, read it on its own page; for every client.

Run it with ``python -m examples.notes``. Everything lives in memory; ``app.state.notes`` is the
store, which the tests read.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

import tiered
from tiered import Done, NotFound, TieredSettings

TEMPLATES = Path(__file__).parent / "templates"


class NoteForm(BaseModel):
    """What a visitor writes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=100)
    text: str = Field(default="", max_length=5000)


class PinForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinned: bool


class Note(BaseModel):
    id: int
    title: str
    text: str
    pinned: bool = False


class NoteList(BaseModel):
    items: list[Note]


class NoteBook:
    """The notes, pinned ones first, then the newest. A real app keeps them in a database."""

    def __init__(self) -> None:
        self.notes: dict[int, Note] = {}
        self._ids = itertools.count(1)

    def add(self, data: NoteForm) -> Note:
        note = Note(id=next(self._ids), **data.model_dump())
        self.notes[note.id] = note
        return note

    def get(self, note_id: int) -> Note:
        try:
            return self.notes[note_id]
        except KeyError:
            raise NotFound(f"There is no note {note_id}.") from None

    def pin(self, note_id: int, pinned: bool) -> Note:
        note = self.get(note_id).model_copy(update={"pinned": pinned})
        self.notes[note_id] = note
        return note

    def listed(self) -> NoteList:
        ordered = sorted(self.notes.values(), key=lambda n: (not n.pinned, -n.id))
        return NoteList(items=ordered)


def create_app(settings: TieredSettings | None = None) -> FastAPI:
    app = FastAPI(title="Notes", version="1")
    book = NoteBook()
    app.state.notes = book
    tiered.install(
        app,
        settings or TieredSettings.from_environ(debug=True),
        template_dirs=(str(TEMPLATES),),
    )

    async def list_context(request: Request) -> dict[str, Any]:
        return {"items": book.listed().items}

    @app.get("/")
    @tiered.view("index.html", block="notes")
    async def index() -> NoteList:
        return book.listed()

    @app.post("/notes")
    @tiered.form(
        NoteForm,
        template="index.html",
        block="notes",
        context=list_context,
    )
    async def add_note(data: NoteForm) -> Done[Note]:
        note = book.add(data)
        return Done(f"/notes/{note.id}", data=note, flash="Note saved.", created=True)

    @app.post("/notes/{note_id}/pin")
    @tiered.form(
        PinForm,
        template="index.html",
        block="notes",
        context=list_context,
    )
    async def pin_note(note_id: int, data: PinForm) -> Done[Note]:
        note = book.pin(note_id, data.pinned)
        return Done("/", data=note, flash="Pinned." if note.pinned else "Unpinned.")

    # tiered.route: @app.get and @tiered.view in one decorator.
    @tiered.route(app, "/notes/{note_id}", "note.html", block="note")
    async def show_note(note_id: int) -> Note:
        return book.get(note_id)

    return app
