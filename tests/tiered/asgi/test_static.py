"""Static files: fingerprinted URLs cached forever, SRI that matches the bytes served."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from starlette.testclient import TestClient

import tiered
from tests.conftest import NotesApp
from tiered import TieredSettings
from tiered.testing import CHROME_USER_AGENT as CHROME


def _sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def test_scripts_are_fingerprinted_immutable_and_match_their_integrity(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)
    page = client.get("/notes", headers={"User-Agent": CHROME}).text
    scripts = re.findall(r'<script defer src="([^"]+)" integrity="([^"]+)"', page)

    assert {src.split("/")[-1].split(".")[0] for src, _ in scripts} == {"htmx", "bootstrap"}
    for src, integrity in scripts:
        assert re.search(r"\.[0-9a-f]{10}\.", src)
        response = client.get(src)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith(
            ("text/javascript", "application/javascript")
        )
        assert integrity == _sri(response.content)


def test_stylesheet_is_fingerprinted(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    page = client.get("/notes").text
    (href,) = re.findall(r'<link rel="prefetch" href="([^"]+)">', page)

    response = client.get(href)

    assert href.startswith("/static/tiered/tiered.")
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_plain_name_is_served_but_revalidated(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get("/static/tiered/bootstrap.js")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=0, must-revalidate"


def test_head_answers_without_a_body(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).head("/static/tiered/bootstrap.js")

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_unknown_file_is_a_negotiated_404(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    problem = client.get("/static/tiered/nothing.js", headers={"Accept": "application/json"})
    page = client.get("/static/tiered/nothing.js", headers={"Accept": "text/html"})
    outside = client.get("/static/tiered/../../pyproject.toml")

    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["detail"] == "There is no static file 'tiered/nothing.js'."
    assert page.status_code == 404
    assert "<h1>Page not found</h1>" in page.text
    assert outside.status_code == 404


def test_app_static_files_override_and_join_tiered_ones(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "app").mkdir(parents=True)
    (static / "app" / "site.css").write_bytes(b"body { color: black; }\n")
    (tmp_path / "page.html").write_text(
        '<link rel="stylesheet" href="{{ static_url("app/site.css") }}" '
        'integrity="{{ static_integrity("app/site.css") }}">',
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(
        app,
        TieredSettings(debug=True, static_dirs=(str(static),)),
        template_dirs=(str(tmp_path),),
    )

    @app.get("/")
    @tiered.view("page.html", json=False)
    async def page() -> None:
        return None

    client = TestClient(app)
    html = client.get("/").text
    href, integrity = re.findall(r'href="([^"]+)" integrity="([^"]+)"', html)[0]
    served = client.get(href)

    assert served.content == b"body { color: black; }\n"
    assert integrity == _sri(served.content)
    digest = hashlib.sha256(served.content).hexdigest()[:10]
    assert href == f"/static/app/site.{digest}.css"


def _stylesheet_url(client: TestClient) -> str:
    page = client.get("/notes").text  # a first visit: the stylesheet inline, and prefetched
    (href,) = re.findall(r'<link rel="prefetch" href="([^"]+)">', page)
    return str(href)


def test_text_files_are_sent_compressed_to_clients_that_accept_it(notes_app: NotesApp) -> None:
    import brotli

    client = TestClient(notes_app.app)
    href = _stylesheet_url(client)
    plain = client.get(href, headers={"Accept-Encoding": "identity"})
    gzipped = client.get(href, headers={"Accept-Encoding": "gzip"})
    best = client.get(href, headers={"Accept-Encoding": "gzip, br"})
    refused = client.get(href, headers={"Accept-Encoding": "br;q=0, gzip;q=0"})

    assert "content-encoding" not in plain.headers
    assert "content-encoding" not in refused.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    assert best.headers["content-encoding"] == "br"
    for response in (plain, gzipped, best, refused):
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith("text/css")
        assert response.content == plain.content  # the client decoded it: the same bytes
    raw_gzip = gzip.compress(plain.content, compresslevel=9, mtime=0)
    assert int(gzipped.headers["content-length"]) == len(raw_gzip)
    assert int(best.headers["content-length"]) == len(brotli.compress(plain.content, quality=11))
    assert int(best.headers["content-length"]) < int(gzipped.headers["content-length"])


def test_a_compressed_file_answers_304_to_its_etag(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    href = _stylesheet_url(client)
    first = client.get(href, headers={"Accept-Encoding": "br"})

    again = client.get(
        href, headers={"Accept-Encoding": "br", "If-None-Match": first.headers["etag"]}
    )
    other = client.get(
        href, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]}
    )

    assert again.status_code == 304
    assert other.status_code == 200  # another encoding is another representation
    assert other.headers["etag"] != first.headers["etag"]


def test_tiered_css_stays_within_its_budget() -> None:
    """5 KiB gzipped: a first visit carries it inline in every page (see tiered.css's header)."""
    css = Path(tiered.__file__).parent / "static" / "tiered" / "tiered.css"

    assert len(gzip.compress(css.read_bytes(), compresslevel=9)) <= 5 * 1024
