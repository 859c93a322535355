"""The route matrix: a well-behaved app passes in every profile; each way a route can go wrong is
reported as a sentence that names the route, the profile and the fix."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

import tiered
from tiered.testing import DEFAULT_BUDGET, PROFILES, route_matrix, run_matrix
from tiered.testing.matrix import (
    MISSING_VARY,
    OVER_BUDGET,
    RAISED,
    SCRIPT_IN_CORE,
    UNEXPECTED_ERROR,
    WRONG_REPRESENTATION,
)

TEMPLATES = {
    "notes.html": (
        '{% extends "tiered/layout.html" %}{% block title %}Notes{% endblock %}'
        '{% block main %}<h1>Notes</h1>{% block notes %}<ul id="notes">'
        "{% for note in items %}<li>{{ note }}</li>{% endfor %}</ul>{% endblock %}{% endblock %}"
    ),
    "about.html": (
        '{% extends "tiered/layout.html" %}{% block title %}About{% endblock %}'
        "{% block main %}<p>About {{ name }}</p>{% endblock %}"
    ),
    "scripted.html": (
        '{% extends "tiered/layout.html" %}{% block title %}Scripted{% endblock %}'
        '{% block main %}<p>Hi</p>\n<script src="/widget.js"></script>{% endblock %}'
    ),
    "heavy.html": (
        '{% extends "tiered/layout.html" %}{% block title %}Heavy{% endblock %}'
        "{% block main %}<p>{{ text }}</p>{% endblock %}"
    ),
}


class Notes(BaseModel):
    items: list[str]


class About(BaseModel):
    name: str


class Status(BaseModel):
    ok: bool


class Heavy(BaseModel):
    text: str


def build(tmp_path: Path) -> FastAPI:
    for name, text in TEMPLATES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, tiered.TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    return app


def fastapi_app(tmp_path: Path) -> FastAPI:
    """Every kind of GET route a tiered app has, each answering every client as it should."""
    app = build(tmp_path)
    assert isinstance(app, FastAPI)

    @app.get("/notes")
    @tiered.view("notes.html", block="notes")
    async def notes() -> Notes:
        return Notes(items=["Milk", "Eggs"])

    @app.get("/notes/{note_id}")
    @tiered.view("notes.html", block="notes")
    async def note(note_id: int) -> Notes:
        if note_id != 1:
            raise tiered.NotFound(f"There is no note {note_id}.")
        return Notes(items=["Milk"])

    @app.get("/about")
    @tiered.view("about.html", json=False)
    async def about() -> About:
        return About(name="us")

    @app.get("/status")
    @tiered.view()
    async def status() -> Status:
        return Status(ok=True)

    @app.get("/private")
    @tiered.view("about.html")
    async def private() -> About:
        raise tiered.Unauthorized("Log in first.", location="/login")

    @app.get("/secret")
    @tiered.view("about.html")
    async def secret() -> About:
        raise tiered.Forbidden("Not for you.")

    @app.get("/old")
    async def old() -> RedirectResponse:
        return RedirectResponse("/notes", status_code=308)

    @tiered.route(app, "/people/{name}", "about.html")
    async def person(name: str) -> About:
        return About(name=name)

    async def plain(request: Request) -> Response:
        return PlainTextResponse("plain")

    app.router.routes.append(Route("/plain", plain))
    return app


def one_route(tmp_path: Path, handler: Callable[..., Any], **view: Any) -> TestClient:
    """An app whose only route is GET /x: ``handler`` under ``@tiered.view(**view)``."""
    app = build(tmp_path)
    assert isinstance(app, FastAPI)
    app.get("/x")(tiered.view(**view)(handler))
    return TestClient(app)


PATH_VALUES: dict[str, dict[str, object]] = {
    "/notes/{note_id}": {"note_id": 1},
    "/people/{name}": {"name": "ada"},
}


def test_an_app_that_serves_every_client_passes(tmp_path: Path) -> None:
    client = TestClient(fastapi_app(tmp_path))

    report = run_matrix(client, path_values=PATH_VALUES)

    assert report.failures == []
    assert route_matrix(client, path_values=PATH_VALUES) == []
    routes = ["/notes", "/notes/{note_id}", "/about", "/status", "/private", "/secret", "/old"]
    assert [v.route for v in report.visits[:: len(PROFILES)]] == [
        *routes,
        "/people/{name}",
        "/plain",
    ]
    assert len(report.visits) == 9 * len(PROFILES)


def test_each_client_gets_what_negotiation_gives_it(tmp_path: Path) -> None:
    report = run_matrix(TestClient(fastapi_app(tmp_path)), path_values=PATH_VALUES)
    seen = {(v.url, v.profile.name): (v.status, v.representation) for v in report.visits}

    assert seen["/notes", "no_js_browser"] == (200, "page")
    assert seen["/notes", "enhanced_browser"] == (200, "fragment")
    assert seen["/notes", "api_client"] == (200, "json")
    assert seen["/about", "enhanced_browser"] == (200, "page")  # no block: the page
    assert seen["/about", "api_client"] == (406, "problem")  # HTML only
    assert seen["/status", "text_browser"] == (200, "json")  # JSON only
    assert seen["/private", "no_js_browser"] == (303, "redirect")
    assert seen["/private", "enhanced_browser"] == (200, "redirect")  # HX-Redirect
    assert seen["/private", "api_client"] == (401, "problem")
    assert seen["/secret", "crawler"] == (403, "page")
    assert seen["/people/ada", "legacy_browser"] == (200, "page")
    assert seen["/plain", "api_client"] == (200, "text/plain")
    assert [v.url for v in report.pages()].count("/notes") == 5


def test_tiered_and_fastapi_routes_of_their_own_are_not_driven(tmp_path: Path) -> None:
    report = run_matrix(TestClient(fastapi_app(tmp_path)), path_values=PATH_VALUES)
    driven = {visit.route for visit in report.visits}

    assert not driven & {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
    assert not {route for route in driven if route.startswith(("/static/", "/_tiered/"))}


def test_a_plain_starlette_route_of_the_app_is_driven(tmp_path: Path) -> None:
    app = build(tmp_path)

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app.router.routes.append(Route("/ping", ping))

    report = run_matrix(TestClient(app), skip=("/notes",))

    assert "/ping" in {visit.route for visit in report.visits}


def test_routes_with_parameters_are_driven_only_with_values(tmp_path: Path) -> None:
    client = TestClient(fastapi_app(tmp_path))

    report = run_matrix(client, skip=("/notes",))

    assert report.skipped == (
        "/notes: skipped",
        "/notes/{note_id}: no path_values",
        "/people/{name}: no path_values",
    )
    assert "/notes" not in {visit.route for visit in report.visits}


def test_a_route_that_fails_is_reported_in_every_profile(tmp_path: Path) -> None:
    async def boom() -> Notes:
        raise RuntimeError("the database is on fire")

    failures = route_matrix(one_route(tmp_path, boom, template="notes.html"))

    assert len(failures) == len(PROFILES)
    assert failures[0].startswith("GET /x as no_js_browser answered 500 (request id ")
    assert failures[0].endswith(
        "the app failed. Look for the traceback in the test's log; an error a client can cause "
        "must be a 4xx (raise a tiered.HTTPProblem)."
    )
    assert failures[2].startswith("GET /x as api_client answered 500")


def test_an_error_raised_through_the_test_client_is_reported(tmp_path: Path) -> None:
    app = build(tmp_path)

    def explode(inner: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == "/notes":
                raise RuntimeError("outside tiered")
            await inner(scope, receive, send)

        return middleware

    @tiered.route(app, "/notes", "notes.html", block="notes")
    async def notes() -> Notes:
        return Notes(items=[])

    client = TestClient(explode(app))

    failures = route_matrix(client, app=app, profiles=PROFILES[:1])

    assert failures == [
        RAISED.format(label="GET /notes as no_js_browser", error="RuntimeError: outside tiered")
    ]


def test_script_in_the_core_tier_is_reported_for_each_core_client(tmp_path: Path) -> None:
    async def scripted() -> About:
        return About(name="x")

    failures = route_matrix(one_route(tmp_path, scripted, template="scripted.html"))

    assert failures == [
        SCRIPT_IN_CORE.format(label=f"GET /x as {name}", tier="core", reasons=reason, line=line)
        for name, reason, line in [
            ("legacy_browser", "legacy-browser", 13),
            ("text_browser", "text-browser", 13),
            ("crawler", "crawler", 13),
        ]
    ]


def test_a_response_the_view_built_itself_misses_vary_and_negotiation(tmp_path: Path) -> None:
    page = "<!doctype html><html><head><title>x</title></head><body>x</body></html>"

    async def handmade() -> Response:
        return HTMLResponse(page)

    failures = route_matrix(one_route(tmp_path, handmade, template="notes.html", block="notes"))

    assert failures[0] == MISSING_VARY.format(
        label="GET /x as no_js_browser",
        vary="absent",
        missing="Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, Cookie, "
        "User-Agent, Save-Data, ECT, RTT, Downlink, Device-Memory",
        got="a page (200)",
        expected="Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, Cookie, "
        "User-Agent, Save-Data, ECT, RTT, Downlink, Device-Memory",
    )
    assert failures[1] == WRONG_REPRESENTATION.format(
        label="GET /x as enhanced_browser",
        got="a page (200)",
        expected="a fragment (200)",
        why=" (the view has a block for htmx requests)",
    )
    assert failures[3] == WRONG_REPRESENTATION.format(
        label="GET /x as api_client", got="a page (200)", expected="JSON (200)", why=""
    )
    assert failures[4].startswith("GET /x as api_client: Vary is absent, which misses Accept:")
    assert len(failures) == 2 + len(PROFILES)


def test_a_vary_that_names_only_some_headers_is_reported(tmp_path: Path) -> None:
    async def partly() -> Response:
        return Response('{"ok": true}', media_type="application/json", headers={"Vary": "Cookie"})

    failures = route_matrix(one_route(tmp_path, partly), profiles=PROFILES[2:3])

    assert failures == [
        MISSING_VARY.format(
            label="GET /x as api_client",
            vary="'Cookie'",
            missing="Accept",
            got="JSON (200)",
            expected="Accept",
        )
    ]


def test_html_over_the_budget_is_reported_per_tier(tmp_path: Path) -> None:
    text = secrets.token_hex(16_000)  # 32,000 characters that do not compress below 14 KiB

    async def heavy() -> Heavy:
        return Heavy(text=text)

    client = one_route(tmp_path, heavy, template="heavy.html")

    everywhere = route_matrix(client)
    core_only = route_matrix(client, budget={"lite": 10**6, "full": 10**6})
    nowhere = route_matrix(client, budget=10**6)

    assert len(everywhere) == len(PROFILES) - 1  # every HTML response; not the JSON
    assert [f.split(":")[0] for f in core_only] == [
        "GET /x as legacy_browser",
        "GET /x as text_browser",
        "GET /x as crawler",
    ]
    size = re.search(r"the HTML is ([\d,]+) bytes", core_only[0])
    assert size is not None
    assert int(size.group(1).replace(",", "")) > DEFAULT_BUDGET
    assert core_only[0] == OVER_BUDGET.format(
        label="GET /x as legacy_browser",
        size=int(size.group(1).replace(",", "")),
        tier="core",
        budget=DEFAULT_BUDGET,
    )
    assert nowhere == []


def test_a_route_that_needs_input_is_reported(tmp_path: Path) -> None:
    async def search(q: str) -> Notes:
        return Notes(items=[q])

    failures = route_matrix(one_route(tmp_path, search, template="notes.html"))

    assert failures == [
        UNEXPECTED_ERROR.format(label=f"GET /x as {p.name}", status=400) for p in PROFILES
    ]


def test_a_path_value_for_no_route_is_refused(tmp_path: Path) -> None:
    client = TestClient(fastapi_app(tmp_path))

    with pytest.raises(tiered.ImproperlyConfigured) as raised:
        route_matrix(client, path_values={"/note/{note_id}": {"note_id": 1}})

    assert str(raised.value) == (
        "path_values names '/note/{note_id}', which is no GET route of the app; GET routes with "
        "parameters: '/notes/{note_id}', '/people/{name}'."
    )


def test_a_path_value_missing_a_parameter_is_refused(tmp_path: Path) -> None:
    client = TestClient(fastapi_app(tmp_path))

    with pytest.raises(tiered.ImproperlyConfigured, match=r"has no value for 'note_id'"):
        route_matrix(client, path_values={"/notes/{note_id}": {"id": 1}})


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"ful": 1}, "budget names the tier 'ful'; expected any of 'core', 'lite', 'full'."),
        (0, "The budget of the core tier is 0; expected a positive number of bytes"),
        ({"lite": "big"}, "The budget of the lite tier is 'big'"),
    ],
)
def test_a_bad_budget_is_refused(tmp_path: Path, budget: Any, message: str) -> None:
    client = TestClient(fastapi_app(tmp_path))

    with pytest.raises(tiered.ImproperlyConfigured) as raised:
        route_matrix(client, budget=budget)

    assert str(raised.value).startswith(message)


def test_an_app_without_tiered_is_refused() -> None:
    with pytest.raises(tiered.ImproperlyConfigured, match=r"needs an app with tiered installed"):
        route_matrix(TestClient(FastAPI()))


@pytest.fixture
def tiered_path_values() -> dict[str, dict[str, object]]:
    return PATH_VALUES


def test_check_routes_uses_the_path_values_fixture(
    tmp_path: Path, check_routes: Callable[..., list[str]]
) -> None:
    client = TestClient(fastapi_app(tmp_path))

    assert check_routes(client) == []
    assert check_routes(client, path_values={}) == []
