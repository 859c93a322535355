"""Server-side sessions in a signed cookie, rotation on login, and flash messages shown once."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.testclient import TestClient

import tiered
from tests.conftest import NotesApp, hidden_value
from tiered import MemorySessionStore, TieredSettings, flash, session_of

COOKIE = "tiered_session"


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture
def app(tmp_path: Path, store: MemorySessionStore) -> FastAPI:
    (tmp_path / "home.html").write_text(
        '{% extends "tiered/layout.html" %}{% block title %}Home{% endblock %}'
        "{% block main %}<h1>Home</h1>{% endblock %}",
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(
        app, TieredSettings(debug=True), template_dirs=(str(tmp_path),), session_store=store
    )

    @app.get("/home")
    @tiered.view("home.html", json=False)
    async def home() -> None:
        return None

    @app.get("/set")
    async def set_value(request: Request) -> Response:
        session_of(request)["user"] = "ada"
        return PlainTextResponse("ok")

    @app.get("/get")
    async def get_value(request: Request) -> Response:
        return JSONResponse({"user": session_of(request).get("user")})

    @app.get("/login")
    async def login(request: Request) -> Response:
        session = session_of(request)
        session["user"] = "ada"
        session.rotate()
        return PlainTextResponse("ok")

    @app.get("/logout")
    async def logout(request: Request) -> Response:
        session_of(request).clear()
        return PlainTextResponse("bye")

    @app.get("/flash")
    async def add_flash(request: Request) -> Response:
        flash(request, "Saved.")
        flash(request, "Check the date.", "warning")
        return PlainTextResponse("queued")

    return app


def _cookie_value(response: httpx2.Response) -> str:
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=")
    return header.split(";", 1)[0].split("=", 1)[1]


def test_a_session_survives_between_requests(app: FastAPI) -> None:
    client = TestClient(app)

    client.get("/set")

    assert client.get("/get").json() == {"user": "ada"}


def test_no_session_no_cookie(app: FastAPI) -> None:
    response = TestClient(app).get("/get")

    assert response.json() == {"user": None}
    assert "set-cookie" not in response.headers


def test_a_forged_cookie_loads_nothing(app: FastAPI) -> None:
    client = TestClient(app)
    client.get("/set")
    value = client.cookies[COOKIE]
    session_id, signature = value.rsplit(".", 1)

    forged = TestClient(app, cookies={COOKIE: f"{session_id}x.{signature}"})

    assert forged.get("/get").json() == {"user": None}
    assert TestClient(app, cookies={COOKIE: value}).get("/get").json() == {"user": "ada"}


def test_rotate_changes_the_id_and_the_old_one_stops_working(
    app: FastAPI, store: MemorySessionStore
) -> None:
    client = TestClient(app)
    old_cookie = _cookie_value(client.get("/set"))

    new_cookie = _cookie_value(client.get("/login"))

    assert new_cookie != old_cookie
    assert new_cookie.rsplit(".", 1)[0] != old_cookie.rsplit(".", 1)[0]
    assert client.get("/get").json() == {"user": "ada"}
    attacker = TestClient(app, cookies={COOKIE: old_cookie})
    assert attacker.get("/get").json() == {"user": None}
    old_id, new_id = old_cookie.rsplit(".", 1)[0], new_cookie.rsplit(".", 1)[0]
    assert anyio.run(store.load, old_id) is None
    assert anyio.run(store.load, new_id) == {"user": "ada"}


def test_clear_ends_the_session_and_expires_the_cookie(app: FastAPI) -> None:
    client = TestClient(app)
    old_cookie = _cookie_value(client.get("/set"))

    response = client.get("/logout")

    assert response.headers["set-cookie"].startswith(f"{COOKIE}=; Max-Age=0")
    assert TestClient(app, cookies={COOKIE: old_cookie}).get("/get").json() == {"user": None}


def test_flash_is_shown_once_in_the_status_region(app: FastAPI) -> None:
    client = TestClient(app)
    client.get("/flash")

    first = client.get("/home").text
    second = client.get("/home").text

    assert '<div id="flash" class="flash" role="status" aria-live="polite">' in first
    assert '<p class="flash-success">Saved.</p>' in first
    assert (
        '<p class="flash-warning"><span class="visually-hidden">Warning:</span> Check the date.</p>'
    ) in first
    assert "Saved." not in second
    assert '<div id="flash" class="flash" role="status" aria-live="polite"></div>' in second


def test_form_success_flash_appears_on_the_next_page_only(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    token = hidden_value(client.get("/notes").text, "csrf_token")

    redirected = client.post("/notes", data={"csrf_token": token, "title": "Milk"})
    again = client.get("/notes/1")

    assert redirected.url.path == "/notes/1"
    assert '<p class="flash-success">Note added.</p>' in redirected.text
    assert "<h1>Milk</h1>" in redirected.text
    assert "Note added." not in again.text
