"""The interactive API docs of a FastAPI app, served from tiered's own files under its CSP.

FastAPI's ``/docs`` page loads Swagger UI from a CDN and starts it with an inline script: tiered's
Content Security Policy refuses both, and a server may have no network. :func:`install_docs` puts a
page of tiered's in that route's place. Its stylesheet and scripts are tiered static files (the
vendored ``swagger-ui-dist`` and ``tiered/docs.js``), fingerprinted, with Subresource Integrity and
the response's nonce; the page hands docs.js its settings in data attributes. The page needs
nothing the default policy refuses, so it gets that policy like every other page.

Two of FastAPI's pages are removed rather than ported:

- ``/docs/oauth2-redirect`` (``swagger_ui_oauth2_redirect_url``), the page an OAuth2 server sends
  Swagger UI's sign-in popup back to. It talks to the docs page through ``window.opener``, which
  tiered's ``Cross-Origin-Opener-Policy: same-origin`` cuts as soon as the popup visits the other
  server. Only the authorization-code and implicit flows use it; the password and
  client-credentials flows, bearer tokens and API keys work in the docs as before.
- ReDoc (``redoc_url``): it would need another vendored bundle, and it injects styles at run time
  that ``style-src 'self'`` refuses.

``/openapi.json`` is left as FastAPI makes it.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import swagger_ui_default_parameters
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from tiered.asgi.context import context_of
from tiered.asgi.static import StaticAssets

SWAGGER_UI = "tiered/vendor/swagger-ui"
STYLESHEET = f"{SWAGGER_UI}/swagger-ui.css"
BUNDLE = f"{SWAGGER_UI}/swagger-ui-bundle.js"
ICON = f"{SWAGGER_UI}/favicon-32x32.png"
DOCS_SCRIPT = "tiered/docs.js"


def install_docs(app: FastAPI, static: StaticAssets) -> None:
    """Serve ``app``'s Swagger UI page from ``static``; remove the OAuth2 redirect and ReDoc.

    Called by :func:`tiered.install`. An app without ``openapi_url`` or ``docs_url`` gets no docs
    page; the one FastAPI added keeps its place in the route list.
    """
    for path in (app.swagger_ui_oauth2_redirect_url, app.redoc_url):
        if path:
            _replace(app, path, None)
    app.swagger_ui_oauth2_redirect_url = app.redoc_url = None
    if not (app.openapi_url and app.docs_url):
        return
    # Fail at start-up, not on the first visit, if the vendored files are missing.
    for name in (STYLESHEET, BUNDLE, ICON, DOCS_SCRIPT):
        static.url(name)
    page = DocsPage(app, static)
    _replace(
        app,
        app.docs_url,
        Route(app.docs_url, page.render, methods=["GET"], include_in_schema=False),
    )


class DocsPage:
    """The endpoint of one app's Swagger UI page."""

    def __init__(self, app: FastAPI, static: StaticAssets) -> None:
        self.app = app
        self.static = static

    async def render(self, request: Request) -> HTMLResponse:
        app = self.app
        root_path = request.scope.get("root_path", "").rstrip("/")
        openapi_url = f"{root_path}{app.openapi_url}"
        # What FastAPI's own page passes to Swagger UI, handed over as data, not as inline script.
        parameters = {**swagger_ui_default_parameters, **(app.swagger_ui_parameters or {})}
        data = {"openapi-url": openapi_url, "parameters": json.dumps(parameters)}
        if app.swagger_ui_init_oauth:
            data["init-oauth"] = json.dumps(app.swagger_ui_init_oauth)
        attributes = "".join(f' data-{name}="{escape(value)}"' for name, value in data.items())
        nonce = escape(context_of(request).nonce)
        static, icon = self.static, escape(self.static.url(ICON))
        body = (
            "<!doctype html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(app.title)} - Swagger UI</title>\n"
            # Swagger UI's icon, as on FastAPI's page, so the browser asks for no /favicon.ico.
            f'<link rel="icon" type="image/png" sizes="32x32" href="{icon}">\n'
            f'<link rel="stylesheet" href="{escape(static.url(STYLESHEET))}" '
            f'integrity="{escape(static.integrity(STYLESHEET))}">\n'
            f"{self._script(BUNDLE, nonce)}\n"
            f"{self._script(DOCS_SCRIPT, nonce)}\n"
            "</head>\n<body>\n"
            "<noscript><p>These interactive docs need JavaScript. The API is described by "
            f'<a href="{escape(openapi_url)}">its OpenAPI document</a>.</p></noscript>\n'
            f'<div id="swagger-ui"{attributes}></div>\n'
            "</body>\n</html>\n"
        )
        return HTMLResponse(body)

    def _script(self, name: str, nonce: str) -> str:
        url, integrity = escape(self.static.url(name)), escape(self.static.integrity(name))
        # Deferred, so the bundle runs before docs.js, both after the page is parsed.
        return f'<script defer src="{url}" integrity="{integrity}" nonce="{nonce}"></script>'


def _replace(app: FastAPI, path: str, route: BaseRoute | None) -> None:
    """Put ``route`` where FastAPI's own route for ``path`` is (or last), or remove that route
    when ``route`` is ``None``. A path operation of the app's at the same path is left alone."""
    routes: list[BaseRoute] = app.router.routes
    for index, existing in enumerate(routes):
        if _is_fastapis(existing, path):
            if route is None:
                del routes[index]
            else:
                routes[index] = route
            return
    if route is not None:
        routes.append(route)


def _is_fastapis(route: Any, path: str) -> bool:
    # FastAPI adds its docs pages with add_route: plain Starlette routes, not APIRoutes.
    return isinstance(route, Route) and not isinstance(route, APIRoute) and route.path == path
