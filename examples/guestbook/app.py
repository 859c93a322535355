"""The guestbook: one list page, one form, every client.

Run it with ``make run`` (or ``python -m examples.guestbook``). Everything lives in memory.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

import tiered
from tiered import Done, NotFound, TieredSettings

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 10


class EntryForm(BaseModel):
    """What a visitor submits."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=80)
    message: str = Field(min_length=1, max_length=2000)


class Entry(BaseModel):
    id: int
    name: str
    message: str
    created_at: datetime


class EntryList(BaseModel):
    items: list[Entry]
    page: int
    total_pages: int
    next: str | None = None
    previous: str | None = None


class Guestbook:
    """The entries, newest first. A real app keeps them in a database."""

    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}
        self._ids = itertools.count(1)

    def add(self, data: EntryForm) -> Entry:
        entry = Entry(id=next(self._ids), created_at=datetime.now(UTC), **data.model_dump())
        self._entries[entry.id] = entry
        return entry

    def get(self, entry_id: int) -> Entry:
        try:
            return self._entries[entry_id]
        except KeyError:
            raise NotFound(f"There is no entry {entry_id}.") from None

    def page(self, number: int) -> EntryList:
        entries = sorted(self._entries.values(), key=lambda e: e.id, reverse=True)
        total_pages = max(1, -(-len(entries) // PAGE_SIZE))
        number = min(number, total_pages)
        start = (number - 1) * PAGE_SIZE
        return EntryList(
            items=entries[start : start + PAGE_SIZE],
            page=number,
            total_pages=total_pages,
            next=f"/?page={number + 1}" if number < total_pages else None,
            previous=f"/?page={number - 1}" if number > 1 else None,
        )


def create_app(settings: TieredSettings | None = None) -> FastAPI:
    app = FastAPI(title="Guestbook", version="1")
    book = Guestbook()
    tiered.install(
        app,
        settings or TieredSettings.from_environ(debug=True),
        template_dirs=(str(TEMPLATES),),
    )

    async def list_context(request: Request) -> dict[str, Any]:
        return book.page(1).__dict__

    @app.get("/")
    @tiered.view("index.html", block="content")
    async def index(page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> EntryList:
        return book.page(page)

    @app.post("/entries", status_code=201)
    @tiered.form(
        EntryForm,
        template="index.html",
        block="content",
        context=list_context,
        labels={"name": "your name", "message": "a message"},
    )
    async def add_entry(data: EntryForm) -> Done[Entry]:
        entry = book.add(data)
        return Done(
            f"/entries/{entry.id}", data=entry, flash="Thank you for signing.", created=True
        )

    @app.get("/entries/{entry_id}")
    @tiered.view("entry.html", block="entry")
    async def show_entry(entry_id: int) -> Entry:
        return book.get(entry_id)

    return app
