"""A layout's stylesheets: inline on a first visit (styled after one round trip), linked on the
next pages from the cache the first one filled, and never inline for a text browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

import tiered
from tests.conftest import NotesApp
from tiered import TieredSettings
from tiered.asgi.static import StaticAssets
from tiered.core.errors import ImproperlyConfigured
from tiered.jinja.renderer import STYLE_COOKIE
from tiered.testing import CHROME_USER_AGENT as CHROME
from tiered.testing import TEXT_BROWSER

TIERED_CSS = (Path(tiered.__file__).parent / "static" / "tiered" / "tiered.css").read_text()


def _inline_styles(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<style nonce="([^"]+)">\n(.*?)</style>', html, re.DOTALL)


def test_a_first_visit_carries_the_stylesheet_inline_under_the_pages_nonce(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)
    response = client.get("/notes", headers={"User-Agent": CHROME})

    ((nonce, css),) = _inline_styles(response.text)
    assert css.strip() == TIERED_CSS.strip()
    csp = response.headers["content-security-policy"]
    assert f"style-src 'self' 'nonce-{nonce}'" in csp
    assert f"script-src 'self' 'nonce-{nonce}'" in csp
    assert "unsafe-inline" not in csp
    assert '<link rel="stylesheet"' not in response.text
    (prefetch,) = re.findall(r'<link rel="prefetch" href="([^"]+)">', response.text)
    assert re.fullmatch(r"/static/tiered/tiered\.[0-9a-f]{10}\.css", prefetch)
    cookie = response.headers["set-cookie"]
    assert re.search(rf"{STYLE_COOKIE}=[0-9a-f]{{10}}; Max-Age=31536000", cookie)
    assert "HttpOnly" in cookie


def test_the_next_page_links_the_stylesheet_the_browser_now_has(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    first = client.get("/notes", headers={"User-Agent": CHROME})
    (prefetched,) = re.findall(r'<link rel="prefetch" href="([^"]+)"', first.text)

    second = client.get("/notes", headers={"User-Agent": CHROME})

    assert _inline_styles(second.text) == []
    assert f'<link rel="stylesheet" href="{prefetched}">' in second.text
    assert STYLE_COOKIE not in second.headers.get("set-cookie", "")


def test_a_cookie_for_other_stylesheets_gets_them_inline_again(notes_app: NotesApp) -> None:
    """After a deploy changed the CSS, the browser's cache holds the old files only."""
    client = TestClient(notes_app.app, cookies={STYLE_COOKIE: "0123456789"})
    response = client.get("/notes", headers={"User-Agent": CHROME})

    assert len(_inline_styles(response.text)) == 1


def test_a_text_browser_gets_a_link_it_will_not_follow_rather_than_inline_bytes(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)
    response = TEXT_BROWSER.request(client, "GET", "/notes")

    assert _inline_styles(response.text) == []
    assert '<link rel="stylesheet" href="/static/tiered/tiered.' in response.text
    assert STYLE_COOKIE not in response.headers.get("set-cookie", "")


def test_a_fragment_carries_no_stylesheet(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    response = client.get("/notes", headers={"User-Agent": CHROME, "HX-Request": "true"})

    assert "<style" not in response.text
    assert "stylesheet" not in response.text


def test_an_app_names_its_theme_after_tiereds_and_gets_both_inline(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "app").mkdir(parents=True)
    (static / "app" / "theme.css").write_text(":root { --brand: #0b5; }\n")
    (tmp_path / "page.html").write_text(
        '{% extends "tiered/layout.html" %}'
        '{% block stylesheets %}{{ stylesheets("tiered/tiered.css", "app/theme.css") }}'
        "{% endblock %}{% block title %}Page{% endblock %}"
    )
    app = FastAPI()
    settings = TieredSettings(debug=True, static_dirs=(str(static),))
    tiered.install(app, settings, template_dirs=(str(tmp_path),))

    @app.get("/")
    @tiered.view("page.html")
    async def page() -> dict[str, str]:
        return {}

    client = TestClient(app)
    first = client.get("/", headers={"User-Agent": CHROME})
    second = client.get("/", headers={"User-Agent": CHROME})

    ((_, css),) = _inline_styles(first.text)
    assert css.startswith(TIERED_CSS[:200])
    assert css.endswith(":root { --brand: #0b5; }\n")
    links = re.findall(r'<link rel="stylesheet" href="/static/([^."]+)\.', second.text)
    assert links == ["tiered/tiered", "app/theme"]


@pytest.mark.parametrize(
    ("css", "complaint"),
    [
        ("body { background: url(paper.png); }", "relative url()"),
        ("body { background: url('img/paper.png'); }", "relative url()"),
        ("/* </STYLE> */", "'</style'"),
    ],
)
def test_a_stylesheet_that_cannot_go_inline_is_refused_by_name(
    tmp_path: Path, css: str, complaint: str
) -> None:
    (tmp_path / "bad.css").write_text(css)
    assets = StaticAssets([tmp_path], "/static")

    with pytest.raises(ImproperlyConfigured, match=re.escape(complaint)) as refused:
        assets.bundle(("bad.css",))
    assert "'bad.css'" in str(refused.value)


def test_absolute_full_and_data_urls_may_go_inline(tmp_path: Path) -> None:
    css = (
        "a { background: url(/static/x.png); } b { background: url('data:image/png;base64,AA'); }"
        ' i { background: url("https://example.org/i.png"); }'
    )
    (tmp_path / "ok.css").write_text(css)

    bundle = StaticAssets([tmp_path], "/static").bundle(("ok.css",))

    assert bundle.css == css
