"""Direct dispatch: tiered's own endpoints answer exactly as they do through FastAPI's router."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

import tiered
from tiered import NotFound, TieredSettings
from tiered.asgi.dispatch import DirectDispatch
from tiered.fastapi.compiled import CompiledView
from tiered.fastapi.lean import bypass, direct_endpoint, expand

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
TEMPLATE = """\
{% extends "tiered/layout.html" %}
{% block title %}{{ name }}{% endblock %}
{% block main %}
{% block card %}<p id="card">{{ name }} is {{ age }}.</p>{% endblock %}
{% endblock %}
"""
PAGE = {"Accept": "text/html,*/*;q=0.8"}
FRAGMENT = {"Accept": "text/html", "HX-Request": "true"}
JSON = {"Accept": "application/json"}


class Person(BaseModel):
    name: str
    age: int


class Teapot(Exception):
    """An app's own exception, with a handler of the app's."""


class Filters(BaseModel):
    name: str = ""


class PassThrough:
    """A middleware of the app's own, between tiered's and the router: it must keep running."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _people_app(tmp_path: Path, *, through_router: bool = False) -> FastAPI:
    """Views and routes that tiered answers itself, unless ``through_router`` puts a middleware
    of the app's in the way (so FastAPI's router answers them, as before)."""
    (tmp_path / "person.html").write_text(TEMPLATE, encoding="utf-8")
    app = FastAPI()
    if through_router:
        app.add_middleware(PassThrough)
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    def teapot(request: Request, exc: Exception) -> Response:  # a sync handler: thread pool
        return PlainTextResponse("short and stout", status_code=418)

    app.add_exception_handler(Teapot, teapot)

    @app.get("/people/{name}")
    @tiered.view("person.html", block="card")
    async def person(
        name: str,
        client: tiered.ClientDep,
        age: Annotated[int, Query(ge=0, le=150)] = 36,
        tags: Annotated[list[str], Query(alias="tag")] = [],  # noqa: B006 (a new list each time)
    ) -> Person:
        if name == "nobody":
            raise NotFound("There is no such person.")
        if name == "teapot":
            raise Teapot
        if name == "boom":
            raise RuntimeError("internals")
        return Person(name=name, age=age + len(tags))

    @tiered.route(app, "/routes/{name}", "person.html", block="card")
    async def route(name: str, age: Annotated[int, Field(ge=0)] = 36) -> Person:
        if name == "nobody":
            raise NotFound("There is no such person.")
        if name == "teapot":
            raise Teapot
        return Person(name=name, age=age)

    @tiered.route(app, "/how")
    async def how(request: Request) -> dict[str, bool]:
        # FastAPI's exit-stack middleware, in front of its router, leaves this in the scope.
        return {"router": "fastapi_middleware_astack" in request.scope}

    @tiered.route(app, "/only-post", methods=["POST"])
    async def only_post() -> Person:
        return Person(name="post", age=1)

    return app


def _comparable(response: httpx2.Response) -> tuple[int, dict[str, str], str]:
    """The response with what is random in each one (ids, nonce, CSRF values) blanked out."""
    headers = dict(response.headers)
    nonce = re.search(r"'nonce-([^']+)'", headers.get("content-security-policy", ""))
    randoms = [headers.pop("x-request-id")]
    randoms += [nonce.group(1)] if nonce else []
    if "set-cookie" in headers:
        headers["set-cookie"] = headers["set-cookie"].split("=", 1)[0]
    body = response.text
    for value in randoms:
        headers = {k: v.replace(value, "RANDOM") for k, v in headers.items()}
        body = body.replace(value, "RANDOM")
    body = re.sub(r'name="csrf-token" content="[^"]+"', "CSRF", body)
    return response.status_code, headers, body


REQUESTS = [
    ("GET", "/people/Ada?age=7&tag=a&tag=b", PAGE),
    ("GET", "/people/Ada", FRAGMENT),
    ("GET", "/people/Ada?age=7", JSON),
    ("HEAD", "/people/Ada", PAGE),
    ("GET", "/people/Ada?age=old", JSON),
    ("GET", "/people/Ada?age=200", PAGE),
    ("GET", "/people/nobody", JSON),
    ("GET", "/people/nobody", PAGE),
    ("GET", "/people/teapot", JSON),
    ("GET", "/people/boom", JSON),
    ("GET", "/people/Ada", {"Accept": "image/png"}),
    ("POST", "/people/Ada", {"Accept": "application/json", "Authorization": "Bearer t"}),
    ("GET", "/routes/Ada?age=3", PAGE),
    ("GET", "/routes/Ada", FRAGMENT),
    ("GET", "/routes/Ada?age=-1", JSON),
    ("HEAD", "/routes/Ada", JSON),
    ("GET", "/routes/nobody", JSON),
    ("GET", "/routes/teapot", PAGE),
    ("GET", "/only-post", JSON),
    ("HEAD", "/only-post", JSON),
    ("GET", "/nowhere", JSON),
]


@pytest.mark.parametrize(("method", "path", "headers"), REQUESTS)
def test_a_direct_answer_is_the_answer_the_router_gives(
    tmp_path: Path, method: str, path: str, headers: dict[str, str]
) -> None:
    direct = TestClient(_people_app(tmp_path), raise_server_exceptions=False)
    routed = TestClient(_people_app(tmp_path, through_router=True), raise_server_exceptions=False)
    headers = {"User-Agent": CHROME, **headers}

    mine = direct.request(method, path, headers=headers)
    theirs = routed.request(method, path, headers=headers)

    assert _comparable(mine) == _comparable(theirs)


def test_the_comparison_is_between_a_direct_answer_and_the_routers(tmp_path: Path) -> None:
    direct = TestClient(_people_app(tmp_path), headers=JSON)
    routed = TestClient(_people_app(tmp_path, through_router=True), headers=JSON)

    assert direct.get("/how").json() == {"router": False}
    assert routed.get("/how").json() == {"router": True}


def test_the_examples_cover_pages_errors_head_and_fall_through(tmp_path: Path) -> None:
    client = TestClient(_people_app(tmp_path), raise_server_exceptions=False)

    page = client.get("/people/Ada?age=7&tag=a", headers={**PAGE, "User-Agent": CHROME})
    head = client.head("/routes/Ada", headers=PAGE)
    teapot = client.get("/people/teapot")
    boom = client.get("/people/boom", headers=JSON)
    wrong_method = client.get("/only-post", headers=JSON)

    assert '<p id="card">Ada is 8.</p>' in page.text
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert (teapot.status_code, teapot.text) == (418, "short and stout")
    assert boom.status_code == 500
    assert boom.json()["request_id"] == boom.headers["x-request-id"]
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"


def test_an_earlier_route_with_the_same_path_still_wins(tmp_path: Path) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/same")
    async def plain_same() -> dict[str, str]:
        return {"by": "fastapi"}

    @app.get("/items/{name}")
    async def plain_item(name: str) -> dict[str, str]:
        return {"by": "fastapi", "name": name}

    @app.post("/other-method")
    async def plain_post() -> dict[str, str]:
        return {"by": "fastapi"}

    app.mount("/mounted", Starlette(routes=[Route("/x", lambda r: PlainTextResponse("mount"))]))
    app.router.routes.append(
        Route("/starlette-post", lambda r: PlainTextResponse("starlette"), methods=["POST"])
    )

    for path in (
        "/docs",
        "/starlette-post",
        "/same",
        "/items/special",
        "/other-method",
        "/mounted/x",
        "/first",
    ):

        @tiered.route(app, path)
        async def by_tiered() -> dict[str, str]:
            return {"by": "tiered"}

    @app.get("/first")
    async def plain_first() -> dict[str, str]:
        return {"by": "fastapi"}

    client = TestClient(app, headers=JSON)

    assert client.get("/docs").headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/starlette-post").json() == {"by": "tiered"}
    assert client.get("/same").json() == {"by": "fastapi"}
    assert client.get("/items/special").json() == {"by": "fastapi", "name": "special"}
    assert client.get("/other-method").json() == {"by": "tiered"}
    assert client.post("/other-method", headers={"Authorization": "Bearer t"}).json() == {
        "by": "fastapi"
    }
    assert client.get("/mounted/x").text == "mount"
    assert client.get("/first").json() == {"by": "tiered"}


def test_routes_added_after_the_first_request_are_answered(tmp_path: Path) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    client = TestClient(app, headers=JSON)
    assert client.get("/late").status_code == 404

    @tiered.route(app, "/late")
    async def late() -> dict[str, str]:
        return {"late": "yes"}

    assert client.get("/late").json() == {"late": "yes"}


def test_an_app_mounted_under_a_prefix_is_answered_under_it(tmp_path: Path) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @tiered.route(app, "/x/{name}")
    async def x(request: Request, name: str) -> dict[str, str]:
        return {"name": name, "url": str(request.url_for("x", name="y"))}

    parent = Starlette(routes=[Mount("/sub", app)])

    response = TestClient(parent, headers=JSON).get("/sub/x/a")

    assert response.json() == {"name": "a", "url": "http://testserver/sub/x/y"}


def test_a_directly_answered_handler_can_build_urls(tmp_path: Path) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @tiered.route(app, "/here")
    async def here(request: Request) -> dict[str, str]:
        return {"there": str(request.url_for("there", name="x"))}

    @tiered.route(app, "/there/{name}")
    async def there(name: str) -> dict[str, str]:
        return {}

    response = TestClient(app, headers=JSON).get("/here")

    assert response.json() == {"there": "http://testserver/there/x"}


def test_an_error_after_the_response_started_is_logged_and_cut_short(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("mid-stream")

    @tiered.route(app, "/stream")
    async def stream() -> Response:
        return StreamingResponse(chunks(), media_type="text/plain")

    with caplog.at_level(logging.ERROR, logger="tiered"):
        response = TestClient(app).get("/stream")

    assert response.status_code == 200
    assert response.text == "first"
    assert "Unhandled error in GET /stream" in caplog.text


# --- which routes tiered answers itself ------------------------------------------------------


async def _dependency() -> int:
    return 1


def _view_route(handler: Callable[..., Any], route_class: type[APIRoute] = APIRoute) -> APIRoute:
    router = APIRouter(route_class=route_class)
    router.get("/things/{thing_id}")(tiered.view()(handler))
    route = router.routes[-1]
    assert isinstance(route, APIRoute)
    return route


async def plain_view(thing_id: int, client: tiered.ClientDep, q: str = "") -> Person:
    return Person(name=q, age=thing_id)


async def with_dependency(thing_id: int, value: Annotated[int, Depends(_dependency)]) -> Person:
    return Person(name="", age=value)


async def with_header(thing_id: int, x_token: Annotated[str, Header()]) -> Person:
    return Person(name=x_token, age=thing_id)


async def with_query_model(thing_id: int, filters: Annotated[Filters, Query()]) -> Person:
    return Person(name=filters.name, age=thing_id)


async def with_validation_alias(
    thing_id: int, q: Annotated[str, Query(validation_alias="search")] = ""
) -> Person:
    return Person(name=q, age=thing_id)


async def with_two_aliases(
    thing_id: int, q: Annotated[str, Field(alias="y"), Query(alias="x")] = ""
) -> Person:
    return Person(name=q, age=thing_id)


async def with_extra_keywords(thing_id: int, **extra: str) -> Person:
    return Person(name="", age=thing_id)


class TimedRoute(APIRoute):
    """A custom route class may do more per request; tiered leaves it to FastAPI."""


def _entry(route: BaseRoute) -> Any:
    """``route`` as tiered's dispatch sees it: as FastAPI's router tries it."""
    (entry,) = expand([route])
    return entry


def test_a_view_with_path_query_and_client_parameters_is_answered_by_tiered() -> None:
    assert direct_endpoint(_entry(_view_route(plain_view))) is not None


def test_a_view_that_reads_a_header_is_left_to_fastapi() -> None:
    assert direct_endpoint(_entry(_view_route(with_header))) is None


@pytest.mark.parametrize(
    "handler",
    [
        with_dependency,
        with_query_model,
        with_validation_alias,
        with_two_aliases,
        with_extra_keywords,
    ],
)
def test_a_view_with_dependencies_or_fastapis_parameter_forms_is_compiled(
    handler: Callable[..., Any],
) -> None:
    """Read with FastAPI's own parameter validation (tests/tiered/fastapi/test_compiled.py)."""
    assert isinstance(direct_endpoint(_entry(_view_route(handler))), CompiledView)


def test_a_dependency_of_the_app_or_the_route_still_runs_before_a_view(tmp_path: Path) -> None:
    calls: list[str] = []

    async def guard(request: Request) -> None:
        calls.append(request.url.path)

    app = FastAPI(dependencies=[Depends(guard)])
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),))
    other = FastAPI()
    tiered.install(other, TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/app-guarded")
    @other.get("/route-guarded", dependencies=[Depends(guard)])
    @tiered.view()
    async def guarded() -> Person:
        return Person(name="guarded", age=1)

    first = TestClient(app, headers=JSON).get("/app-guarded")
    second = TestClient(other, headers=JSON).get("/route-guarded")

    assert (first.status_code, second.status_code) == (200, 200)
    assert calls == ["/app-guarded", "/route-guarded"]


def test_a_view_on_a_custom_route_class_is_left_to_fastapi() -> None:
    assert direct_endpoint(_entry(_view_route(plain_view, TimedRoute))) is None


def test_a_form_is_compiled_and_a_plain_path_operation_is_left_to_fastapi() -> None:
    app = FastAPI()

    @app.post("/things")
    @tiered.form()
    async def create() -> tiered.Done[None]:
        return tiered.Done("/things")

    @app.post("/limited", max_body_size=100)
    @tiered.form()
    async def limited() -> tiered.Done[None]:
        return tiered.Done("/limited")

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    form, with_limit, plain_one = (direct_endpoint(_entry(r)) for r in app.router.routes[-3:])
    assert isinstance(form, CompiledView)
    assert with_limit is None  # FastAPI applies the route's own body limit
    assert plain_one is None


# --- when direct dispatch is on ---------------------------------------------------------------


def _scope(path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "root_path": "", **extra}


def _app_with_x() -> FastAPI:
    """An app with one ``tiered.route``, at ``/x``."""
    app = FastAPI()

    @tiered.route(app, "/x")
    async def x() -> dict[str, str]:
        return {}

    return app


def _dispatch(app: Starlette) -> DirectDispatch:
    dispatch = DirectDispatch(app.router, direct_endpoint, expand=expand, bypass=bypass)
    assert dispatch.bind(ExceptionMiddleware(app.router))
    return dispatch


def test_direct_dispatch_needs_the_router_right_below_the_exception_middleware() -> None:
    app = FastAPI()
    dispatch = DirectDispatch(app.router, direct_endpoint)

    assert not dispatch.bind(app.router)
    assert not dispatch.bind(ExceptionMiddleware(PassThrough(app.router)))
    assert not DirectDispatch(FastAPI().router, direct_endpoint).bind(
        ExceptionMiddleware(app.router)
    )
    assert dispatch.match(_scope("/anything")) is None


def test_fastapis_own_telemetry_keeps_its_router() -> None:
    app = _app_with_x()
    dispatch = _dispatch(app)

    assert dispatch.match(_scope("/x")) is not None
    assert dispatch.match(_scope("/x", **{"fastapi.telemetry": object()})) is None


def test_a_route_replaced_in_place_is_not_answered_by_its_old_endpoint() -> None:
    app = _app_with_x()
    dispatch = _dispatch(app)
    assert dispatch.match(_scope("/x")) is not None

    app.router.routes[-1] = Route("/x", lambda request: JSONResponse({}))

    assert dispatch.match(_scope("/x")) is None


def test_a_route_under_a_root_path_is_matched_without_it() -> None:
    app = _app_with_x()
    scope = _scope("/prefix/x", root_path="/prefix")

    assert _dispatch(app).match(scope) is not None
    assert scope["router"] is app.router
    assert scope["path_params"] == {}


def test_an_app_without_tiered_endpoints_is_left_to_its_router() -> None:
    app = FastAPI()
    app.router.routes.append(Mount("/m", Starlette()))

    assert _dispatch(app).match(_scope("/m/x")) is None
