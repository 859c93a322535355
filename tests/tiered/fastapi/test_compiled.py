"""A view's dependencies solved by tiered answer exactly as FastAPI's own solving does.

Each test runs the same requests twice: through tiered's compiled path, and through FastAPI's
(forced by an unrelated dependency override, which tiered leaves to FastAPI), and compares what
a client sees and what the dependencies did.
"""

# No `from __future__ import annotations`: the views below are local, and FastAPI and tiered
# read their annotations at run time.

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel
from starlette.testclient import TestClient

import tiered
import tiered.testing
from tiered import TieredSettings
from tiered.fastapi.compiled import CompiledView
from tiered.fastapi.lean import direct_endpoint, expand

JSON = {"Accept": "application/json"}
Way = str
WAYS = ("compiled", "fastapi")


class Answer(BaseModel):
    user: str
    page: int
    events: list[str]


def _unrelated() -> None:
    """Overridden only to make tiered leave every route to FastAPI."""


def build(events: list[str], tmp_path: Path) -> FastAPI:
    """An app whose one view has a tree of dependencies, on an included router with a prefix."""

    async def current_user(request: Request, token: Annotated[str, Query()] = "") -> str:
        events.append("user")
        if token == "bad":
            raise tiered.Unauthorized("Send a good token.")
        return token or "anonymous"

    async def owner(user: Annotated[str, Depends(current_user)]) -> str:
        events.append("owner")
        return user.upper()

    async def session() -> AsyncIterator[str]:
        events.append("open")
        try:
            yield "db"
        except tiered.NotFound:
            events.append("rolled back")
            raise
        finally:
            events.append("close")

    async def request_scoped() -> AsyncIterator[str]:
        events.append("request open")
        yield "r"
        events.append("request close")

    def threaded() -> str:
        events.append("threaded")
        return "t"

    def sync_generator() -> Iterator[str]:
        events.append("sync open")
        yield "s"
        events.append("sync close")

    async def guard() -> None:
        events.append("guard")

    router = APIRouter(dependencies=[Depends(guard)])

    @router.get("/things/{thing_id}")
    @tiered.view()
    async def thing(
        thing_id: int,
        who: Annotated[str, Depends(owner)],
        again: Annotated[str, Depends(current_user)],
        db: Annotated[str, Depends(session, scope="function")],
        r: Annotated[str, Depends(request_scoped)],
        t: Annotated[str, Depends(threaded)],
        s: Annotated[str, Depends(sync_generator)],
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> Answer:
        events.append("view")
        if thing_id == 404:
            raise tiered.NotFound("No such thing.")
        return Answer(user=who + again, page=page, events=[db, r, t, s])

    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    app.include_router(router, prefix="/api")
    app.state.threaded = threaded
    return app


def _client(app: FastAPI, way: Way) -> TestClient:
    if way == "fastapi":
        app.dependency_overrides[_unrelated] = _unrelated
    return TestClient(app, headers=JSON)


def test_the_view_on_an_included_router_is_compiled(tmp_path: Path) -> None:
    app = build([], tmp_path)
    path = "/api/things/{thing_id}"
    entries = [e for e in expand(app.router.routes) if getattr(e, "path", "") == path]
    assert len(entries) == 1
    assert isinstance(direct_endpoint(entries[0]), CompiledView)


@pytest.mark.parametrize("way", WAYS)
def test_dependencies_run_once_each_in_fastapis_order_and_generators_close(
    way: Way, tmp_path: Path
) -> None:
    events: list[str] = []
    with _client(build(events, tmp_path), way) as client:
        response = client.get("/api/things/7", params={"token": "ada", "page": "2"})

    assert response.status_code == 200
    assert response.json() == {"user": "ADAada", "page": 2, "events": ["db", "r", "t", "s"]}
    # current_user is used twice and called once; the function-scoped session closes when the
    # view returns, the request-scoped generators after the response.
    assert events == [
        "guard",
        "user",
        "owner",
        "open",
        "request open",
        "threaded",
        "sync open",
        "view",
        "close",
        "sync close",
        "request close",
    ]


def _answers(way: Way, tmp_path: Path, path: str, **params: str) -> tuple[Any, ...]:
    events: list[str] = []
    with _client(build(events, tmp_path), way) as client:
        response = client.get(path, params=params)
    body = response.json()
    body.pop("request_id", None)
    body.pop("instance", None)
    return response.status_code, response.headers["content-type"], body, tuple(events)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/things/7", {"page": "0"}),  # a query parameter out of range
        ("/api/things/seven", {}),  # a path parameter of the wrong type
        ("/api/things/7", {"token": "bad"}),  # a dependency refuses
        ("/api/things/404", {"token": "ada"}),  # the view raises: thrown into the session
        ("/api/nothing", {}),  # no route
    ],
)
def test_errors_are_the_same_problem_either_way(
    path: str, params: dict[str, str], tmp_path: Path
) -> None:
    compiled = _answers("compiled", tmp_path, path, **params)
    fastapi = _answers("fastapi", tmp_path, path, **params)

    assert compiled == fastapi
    assert compiled[0] >= 400
    assert compiled[1].startswith("application/problem+json")


def test_the_session_sees_the_views_error_and_still_closes(tmp_path: Path) -> None:
    _, _, _, events = _answers("compiled", tmp_path, "/api/things/404", token="ada")
    # The other generators have no try/finally: the error ends them at their yield.
    assert events[-3:] == ("view", "rolled back", "close")


def test_a_dependency_override_is_applied(tmp_path: Path) -> None:
    """Overrides are FastAPI's to apply: with any override set, tiered leaves the route to it."""
    app = build([], tmp_path)

    def not_threaded() -> str:
        return "overridden"

    app.dependency_overrides[app.state.threaded] = not_threaded
    with TestClient(app, headers=JSON) as client:
        response = client.get("/api/things/7")
    assert response.json()["events"] == ["db", "r", "overridden", "s"]


class Note(BaseModel):
    title: str


class NoteOut(BaseModel):
    id: int
    title: str


FORM_PAGE = """{% extends "tiered/layout.html" %}{% block title %}Notes{% endblock %}
{% block main %}{% block form %}<form method="post" action="/api/notes">{{ form_guard() }}
{{ ui.error_summary(form) }}<input name="title"></form>{% endblock %}{% endblock %}"""


def build_form(tmp_path: Path) -> FastAPI:
    (tmp_path / "notes.html").write_text(FORM_PAGE, encoding="utf-8")
    stored: list[str] = []

    async def store() -> AsyncIterator[list[str]]:
        yield stored

    router = APIRouter()

    @router.post("/notes")
    @tiered.form(Note, template="notes.html", block="form", success_block=None)
    async def add_note(
        data: Note, notes: Annotated[list[str], Depends(store, scope="function")]
    ) -> tiered.Done[NoteOut]:
        if data.title == "taken":
            raise tiered.ValidationFailed.for_field("title", "That title is taken.", "taken")
        notes.append(data.title)
        return tiered.Done(
            f"/api/notes/{len(notes)}", data=NoteOut(id=len(notes), title=data.title), created=True
        )

    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    app.include_router(router, prefix="/api")
    return app


def _form_answers(way: Way, tmp_path: Path) -> list[tuple[Any, ...]]:
    app = build_form(tmp_path)
    if way == "fastapi":
        app.dependency_overrides[_unrelated] = _unrelated
    seen: list[tuple[Any, ...]] = []
    with TestClient(app) as client:
        token = tiered.testing.csrf_token(client.get("/no-such-page").text)
        for body, headers in (
            ({"title": "One"}, {**JSON, "X-CSRF-Token": token}),
            ({"title": "taken"}, {**JSON, "X-CSRF-Token": token}),
            ({}, {**JSON, "X-CSRF-Token": token}),
            ({"title": "Two"}, JSON),  # no CSRF token
        ):
            response = client.post("/api/notes", json=body, headers=headers)
            answer = response.json() if response.content else None
            if isinstance(answer, dict):
                answer.pop("request_id", None)
            seen.append((response.status_code, response.headers.get("location"), answer))
        form = client.post(
            "/api/notes", data={"title": "Three", "csrf_token": token}, follow_redirects=False
        )
        seen.append((form.status_code, form.headers.get("location")))
    return seen


def test_a_form_answers_the_same_through_the_compiled_path(tmp_path: Path) -> None:
    compiled = _form_answers("compiled", tmp_path)
    fastapi = _form_answers("fastapi", tmp_path)

    assert compiled == fastapi
    assert [answer[0] for answer in compiled] == [201, 422, 422, 403, 303]
    app = build_form(tmp_path)
    (entry,) = (e for e in expand(app.router.routes) if getattr(e, "path", "") == "/api/notes")
    assert isinstance(direct_endpoint(entry), CompiledView)
