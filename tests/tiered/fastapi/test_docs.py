"""A FastAPI app's ``/docs`` under tiered: Swagger UI from tiered's own static files, started by a
same-origin script with the response's nonce, under the app's CSP, with nothing from elsewhere."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import unescape

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

import tiered
from tiered import TieredSettings

ASSET = re.compile(r"<(script|link) ([^>]*)>")
ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
IMMUTABLE = "public, max-age=31536000, immutable"


def docs_app(**fastapi_options: object) -> FastAPI:
    app = FastAPI(title="Notes", **fastapi_options)  # type: ignore[arg-type]

    @app.get("/notes")
    async def list_notes() -> list[str]:
        return ["Buy milk"]

    tiered.install(app, TieredSettings(debug=True))
    return app


def assets(html: str) -> list[dict[str, str]]:
    """The page's ``<script>`` and ``<link>`` tags, each as its attributes (and ``tag``)."""
    found = []
    for tag, attributes in ASSET.findall(html):
        parsed = {name: unescape(value) for name, value in ATTRIBUTE.findall(attributes)}
        found.append({"tag": tag, **parsed})
    return found


def swagger_ui_data(html: str) -> dict[str, str]:
    match = re.search(r'<div id="swagger-ui"([^>]*)></div>', html)
    assert match is not None, html
    return {name: unescape(value) for name, value in ATTRIBUTE.findall(match.group(1))}


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(docs_app())


def test_docs_page_loads_vendored_swagger_ui_and_tiered_script(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Notes - Swagger UI</title>" in page.text
    scripts = [a["src"] for a in assets(page.text) if a["tag"] == "script"]
    assert [src.rsplit("/", 1)[-1].split(".", 1)[0] for src in scripts] == [
        "swagger-ui-bundle",
        "docs",
    ]
    assert scripts[0].startswith("/static/tiered/vendor/swagger-ui/swagger-ui-bundle.")
    assert scripts[1].startswith("/static/tiered/docs.")
    stylesheets = [a["href"] for a in assets(page.text) if a.get("rel") == "stylesheet"]
    assert len(stylesheets) == 1
    assert stylesheets[0].startswith("/static/tiered/vendor/swagger-ui/swagger-ui.")


def test_every_asset_of_the_page_is_served_immutable_with_its_integrity(
    client: TestClient,
) -> None:
    page = client.get("/docs")
    kinds = {
        "swagger-ui-bundle": "text/javascript; charset=utf-8",
        "docs": "text/javascript; charset=utf-8",
        "swagger-ui": "text/css; charset=utf-8",
        "favicon-32x32": "image/png",
    }
    seen = set()
    for asset in assets(page.text):
        url = asset.get("src") or asset["href"]
        kind = url.rsplit("/", 1)[-1].split(".", 1)[0]
        response = client.get(url)

        assert response.status_code == 200, url
        assert response.headers["content-type"] == kinds[kind], url
        assert response.headers["cache-control"] == IMMUTABLE, url
        if "integrity" in asset:
            assert asset["integrity"] == sri(response.content), url
        seen.add(kind)
    assert seen == set(kinds)
    assert (
        b"SwaggerUIBundle"
        in client.get(
            next(a["src"] for a in assets(page.text) if "swagger-ui-bundle" in a.get("src", ""))
        ).content
    )


def test_scripts_carry_the_nonce_of_the_pages_csp_and_no_script_is_inline(
    client: TestClient,
) -> None:
    page = client.get("/docs")
    csp = page.headers["content-security-policy"]
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]+)'", directives["script-src"])

    assert nonce is not None, csp
    scripts = [a for a in assets(page.text) if a["tag"] == "script"]
    assert len(scripts) == 2
    assert [s["nonce"] for s in scripts] == [nonce.group(1)] * 2
    assert page.text.count("<script") == page.text.count("<script defer src=") == 2
    assert " style=" not in page.text
    # The page gets the app's policy unchanged: nothing in Swagger UI needs more.
    assert directives["style-src"] == f"'self' 'nonce-{nonce.group(1)}'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert client.get("/docs").headers["content-security-policy"] != csp  # a nonce per response


def test_the_page_names_nothing_from_elsewhere(client: TestClient) -> None:
    html = client.get("/docs").text

    assert "http:" not in html
    assert "https:" not in html
    assert "//" not in html
    assert all((a.get("src") or a["href"]).startswith("/static/") for a in assets(html)), assets(
        html
    )


def test_docs_js_is_given_the_openapi_url_and_fastapis_parameters(client: TestClient) -> None:
    data = swagger_ui_data(client.get("/docs").text)

    assert data["data-openapi-url"] == "/openapi.json"
    assert json.loads(data["data-parameters"]) == {
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "showExtensions": True,
        "showCommonExtensions": True,
    }
    assert "data-init-oauth" not in data


def test_the_apps_swagger_ui_settings_reach_the_page_as_data() -> None:
    app = docs_app(
        swagger_ui_parameters={"deepLinking": False, "syntaxHighlight": {"theme": "obsidian"}},
        swagger_ui_init_oauth={"clientId": "docs", "scopes": "<read>"},
    )

    html = TestClient(app).get("/docs").text

    data = swagger_ui_data(html)
    parameters = json.loads(data["data-parameters"])
    assert parameters["deepLinking"] is False
    assert parameters["syntaxHighlight"] == {"theme": "obsidian"}
    assert parameters["layout"] == "BaseLayout"
    assert json.loads(data["data-init-oauth"]) == {"clientId": "docs", "scopes": "<read>"}
    assert "&lt;read&gt;" in html


def test_openapi_url_follows_the_root_path() -> None:
    client = TestClient(docs_app(), root_path="/api")

    html = client.get("/docs").text

    assert swagger_ui_data(html)["data-openapi-url"] == "/api/openapi.json"
    assert '<a href="/api/openapi.json">its OpenAPI document</a>' in html


def test_without_javascript_the_page_links_the_openapi_document(client: TestClient) -> None:
    html = client.get("/docs").text

    assert (
        "<noscript><p>These interactive docs need JavaScript. The API is described by "
        '<a href="/openapi.json">its OpenAPI document</a>.</p></noscript>'
    ) in html


def test_openapi_document_is_fastapis_and_lists_the_apps_operations(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "get" in response.json()["paths"]["/notes"]


def test_redoc_and_the_oauth2_redirect_page_are_gone(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)

    for path in ("/redoc", "/docs/oauth2-redirect"):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 404, path
        assert response.json()["code"] == "not-found"
    assert app.redoc_url is None
    assert app.swagger_ui_oauth2_redirect_url is None
    assert [r.path for r in app.routes if r.path.startswith("/docs")] == [  # type: ignore[attr-defined]
        "/docs"
    ]


def test_docs_page_moves_with_docs_url() -> None:
    client = TestClient(docs_app(docs_url="/api-docs"))

    assert "Swagger UI" in client.get("/api-docs").text
    assert client.get("/docs").status_code == 404


def test_docs_url_set_after_construction_still_gets_the_page() -> None:
    app = FastAPI(docs_url=None)
    app.docs_url = "/docs"
    tiered.install(app, TieredSettings(debug=True))

    assert "swagger-ui-bundle" in TestClient(app).get("/docs").text


@pytest.mark.parametrize(
    "options",
    [{"docs_url": None}, {"openapi_url": None}, {"docs_url": None, "redoc_url": None}],
    ids=["no-docs-url", "no-openapi-url", "neither-docs-nor-redoc"],
)
def test_an_app_without_docs_gets_no_docs_page(options: dict[str, None]) -> None:
    client = TestClient(docs_app(**options))

    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_an_apps_own_path_operation_at_redoc_is_kept() -> None:
    app = FastAPI(redoc_url=None)

    @app.get("/redoc")
    async def redoc() -> dict[str, str]:
        return {"page": "the app's own"}

    app.redoc_url = "/redoc"
    tiered.install(app, TieredSettings(debug=True))

    assert TestClient(app).get("/redoc").json() == {"page": "the app's own"}
