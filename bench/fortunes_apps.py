"""The apps ``bench/framework.py`` serves: ``json`` and ``fortunes`` written five ways.

Each factory builds one app for ``uvicorn --factory``. ``fortunes`` follows the public
TechEmpower rules: read every row of the ``fortune`` table (SQLite, at ``TIERED_BENCH_DB``), add
one fortune at request time, sort by message, render an escaped HTML table. Every variant reads
the rows the same way (one connection per process, the standard library's driver), so what
differs between them is the framework and tiered.

The tiered variants answer one handler as a page, a fragment (``HX-Request: true``) and JSON
(``Accept: application/json``).
"""

from __future__ import annotations

import os
import sqlite3
from operator import itemgetter
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

import tiered

TEMPLATES = Path(__file__).resolve().parent / "templates"
DB_ENVIRON = "TIERED_BENCH_DB"
ADDITIONAL = "Additional fortune added at request time."
# The twelve rows of the TechEmpower fortune table; row 11 must come out escaped.
FORTUNES = (
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
)
HELLO = {"message": "Hello, World!"}
# A long random value: tiered refuses its placeholder secret outside debug mode.
SECRET = "bench-only-secret-0123456789abcdef0123456789abcdef"  # noqa: S105 (a bench)


def create_database(path: Path) -> None:
    """Write the 12-row ``fortune`` table to a new SQLite file at ``path``."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE fortune (id INTEGER PRIMARY KEY, message TEXT NOT NULL)")
        connection.executemany(
            "INSERT INTO fortune (id, message) VALUES (?, ?)",
            list(enumerate(FORTUNES, start=1)),
        )
    connection.close()


class FortuneRows:
    """The fortune rows, read on every call through one connection per process."""

    def __init__(self) -> None:
        self.connection = sqlite3.connect(os.environ[DB_ENVIRON], check_same_thread=False)

    def __call__(self) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = self.connection.execute(
            "SELECT id, message FROM fortune"
        ).fetchall()
        rows.append((0, ADDITIONAL))
        rows.sort(key=itemgetter(1))
        return rows


class Message(BaseModel):
    message: str


class Fortune(BaseModel):
    id: int
    message: str


class Fortunes(BaseModel):
    fortunes: list[Fortune]


def _fortunes_model(rows: list[tuple[int, str]]) -> Fortunes:
    return Fortunes(fortunes=[Fortune(id=id_, message=message) for id_, message in rows])


# --- (a) bare Starlette: a compiled template, rendered straight into an HTMLResponse ----------


def bare_starlette() -> Starlette:
    rows = FortuneRows()
    template = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True).get_template(
        "fortunes.html"
    )

    async def json_endpoint(request: Request) -> Response:
        return JSONResponse(HELLO)

    async def fortunes(request: Request) -> Response:
        return Response(template.render(fortunes=rows()), media_type="text/html")

    return Starlette(routes=[Route("/json", json_endpoint), Route("/fortunes", fortunes)])


# --- (b) plain FastAPI with Jinja2Templates --------------------------------------------------


def plain_fastapi() -> FastAPI:
    rows = FortuneRows()
    templates = Jinja2Templates(directory=TEMPLATES)
    app = FastAPI()

    @app.get("/json")
    async def json_endpoint() -> dict[str, str]:
        return HELLO

    @app.get("/fortunes", response_class=HTMLResponse)
    async def fortunes(request: Request) -> Response:
        return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows()})

    return app


# --- (c) a plain Starlette route with Jinja2Templates ----------------------------------------


def starlette_templates() -> Starlette:
    rows = FortuneRows()
    templates = Jinja2Templates(directory=TEMPLATES)

    async def fortunes(request: Request) -> Response:
        return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows()})

    return Starlette(routes=[Route("/fortunes", fortunes)])


# --- (d) tiered on FastAPI: @app.get with @tiered.view ---------------------------------------


def tiered_view() -> FastAPI:
    rows = FortuneRows()
    app = FastAPI()
    tiered.install(app, secret_key=SECRET, template_dirs=(str(TEMPLATES),))

    @app.get("/json")
    @tiered.view()
    async def json_endpoint() -> Message:
        return Message(message="Hello, World!")

    @app.get("/fortunes")
    @tiered.view("tiered_fortunes.html", block="table")
    async def fortunes() -> Fortunes:
        return _fortunes_model(rows())

    return app


# --- (e) bare Starlette with the tiered view's data: its models and its template -------------


def starlette_models() -> Starlette:
    """(a) with what (d)'s handler returns and its template reads: the rows as ``Fortunes``
    (a Pydantic model a row), shown through ``f.id`` and ``f.message``. (a) against (e) is what
    that style of handler costs; (e) against (d) is what tiered costs (fortunes only)."""
    rows = FortuneRows()
    template = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True).get_template(
        "tiered_fortunes.html"
    )

    async def fortunes(request: Request) -> Response:
        data = _fortunes_model(rows())
        return Response(template.render(fortunes=data.fortunes), media_type="text/html")

    return Starlette(routes=[Route("/fortunes", fortunes)])
