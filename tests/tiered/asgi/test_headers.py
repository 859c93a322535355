"""tiered.asgi.headers: security headers on every response (CSP with a per-response nonce, and the
fixed set)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import NotesApp, build_notes_app
from tiered import TieredSettings
from tiered.testing import CHROME_USER_AGENT as CHROME
from tiered.testing import csrf_token


def _directives(csp: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in csp.split(";"))


def test_page_csp_nonce_matches_every_script_tag(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes", headers={"User-Agent": CHROME})

    csp = response.headers["content-security-policy"]
    directives = _directives(csp)
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{16,})'", directives["script-src"])
    assert nonce is not None
    scripts = re.findall(r"<script\b[^>]*>", response.text)
    assert len(scripts) == 2
    for tag in scripts:
        assert f'nonce="{nonce.group(1)}"' in tag
        assert 'integrity="sha384-' in tag
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    # The nonce lets in the first visit's inline stylesheet too; never a style attribute.
    assert directives["style-src"] == f"'self' 'nonce-{nonce.group(1)}'"
    assert re.findall(r"<style\b[^>]*>", response.text) == [f'<style nonce="{nonce.group(1)}">']
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert " style=" not in response.text


def test_each_response_gets_its_own_nonce(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    first = client.get("/notes").headers["content-security-policy"]
    second = client.get("/notes").headers["content-security-policy"]

    assert first != second


def test_fixed_security_headers_on_pages_json_and_errors(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    for response in (
        client.get("/notes"),
        client.get("/notes", headers={"Accept": "application/json"}),
        client.get("/missing", headers={"Accept": "application/json"}),
        client.get("/missing"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain http here


def test_json_gets_a_locked_down_csp(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes", headers={"Accept": "application/json"})

    assert response.headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )


def test_https_responses_carry_hsts(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app, base_url="https://testserver").get("/notes")

    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert "; Secure" in response.headers["set-cookie"]


def test_csp_directives_can_be_extended(tmp_path: Path) -> None:
    state = build_notes_app(
        tmp_path,
        TieredSettings(
            debug=True, content_security_policy={"img-src": "'self' https://img.example"}
        ),
    )

    csp = TestClient(state.app).get("/notes").headers["content-security-policy"]

    assert _directives(csp)["img-src"] == "'self' https://img.example"


def test_request_id_is_echoed_or_generated(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    echoed = client.get("/notes", headers={"X-Request-ID": "abc-123.x_y"})
    generated = client.get("/notes")
    other = client.get("/notes")

    assert echoed.headers["x-request-id"] == "abc-123.x_y"
    assert re.fullmatch(r"[0-9a-f]{16}", generated.headers["x-request-id"])
    assert generated.headers["x-request-id"] != other.headers["x-request-id"]


def test_showing_a_form_sets_only_the_csrf_cookie_not_a_session(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/notes")

    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"tiered_csrf", "tiered_css"}  # and the inline stylesheet's version
    cookie = cookies["tiered_csrf"]
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Path=/" in cookie
    assert "; Secure" not in cookie  # plain http


def test_session_cookie_is_httponly_and_samesite_lax(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    page = client.get("/notes").text
    form = {"csrf_token": csrf_token(page), "title": "Milk"}
    response = client.post("/notes", data=form, follow_redirects=False)  # flashes a message

    (cookie,) = response.headers.get_list("set-cookie")
    assert cookie.startswith("tiered_session=")
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Path=/" in cookie
    assert "; Secure" not in cookie  # plain http


def test_pages_and_errors_are_not_kept_by_any_cache(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    for response in (
        client.get("/notes"),
        client.get("/notes", headers={"HX-Request": "true"}),
        client.get("/notes", headers={"Accept": "application/json"}),
        client.get("/missing"),
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url


def test_a_response_that_says_how_to_cache_it_keeps_its_own_word(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from starlette.responses import PlainTextResponse

    import tiered

    app = FastAPI()

    @app.get("/public")
    async def public() -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"Cache-Control": "public, max-age=60"})

    @app.get("/tagged")
    async def tagged() -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"ETag": '"1"'})

    tiered.install(app, TieredSettings(debug=True))
    client = TestClient(app)

    assert client.get("/public").headers["cache-control"] == "public, max-age=60"
    # With an ETag, the client may keep it and check it each time (If-None-Match).
    assert client.get("/tagged").headers["cache-control"] == "private, no-cache"
