"""The "switch to the basic version" link: a cookie that makes the next pages core tier."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import NotesApp

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _switch_link(html: str, text: str) -> str:
    match = re.search(rf'<a href="([^"]+)">{re.escape(text)}', html)
    assert match is not None, f"no link {text!r}"
    return match.group(1).replace("&amp;", "&")


def test_switching_to_basic_sets_the_cookie_and_drops_every_script(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app, headers={"User-Agent": CHROME})
    full = client.get("/notes?x=1")
    assert full.text.count("<script") == 2
    link = _switch_link(full.text, "Switch to the basic version (no scripts)")
    assert link == "/_tiered/version?choice=basic&next=%2Fnotes%3Fx%3D1"

    switched = client.get(link, follow_redirects=False)

    assert switched.status_code == 303
    assert switched.headers["location"] == "/notes?x=1"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("tiered_version=basic;")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    basic = client.get("/notes?x=1")
    assert "<script" not in basic.text
    assert 'name="csrf-token"' not in basic.text
    assert basic.headers["vary"] == (
        "Accept, HX-Request, HX-Request-Type, HX-History-Restore-Request, Cookie"
    )
    # The basic page still works: its form carries the token, and it offers the way back.
    assert 'name="csrf_token"' in basic.text
    back = _switch_link(basic.text, "Switch to the standard version")
    assert back.startswith("/_tiered/version?choice=full&")


def test_switching_back_to_full_restores_the_scripts(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app, headers={"User-Agent": CHROME})
    client.get("/_tiered/version?choice=basic&next=/notes")

    client.get("/_tiered/version?choice=full&next=/notes")

    assert client.get("/notes").text.count("<script") == 2


def test_auto_forgets_the_choice(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app, headers={"User-Agent": CHROME})
    client.get("/_tiered/version?choice=basic&next=/notes")

    response = client.get("/_tiered/version?choice=auto&next=/notes", follow_redirects=False)

    assert response.headers["set-cookie"].startswith('tiered_version=""; ') or (
        "Max-Age=0" in response.headers["set-cookie"]
    )


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/notes",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
    ],
)
def test_next_must_be_a_local_path(notes_app: NotesApp, target: str) -> None:
    response = TestClient(notes_app.app).get(
        "/_tiered/version", params={"choice": "basic", "next": target}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_unknown_choice_is_a_400(notes_app: NotesApp) -> None:
    response = TestClient(notes_app.app).get(
        "/_tiered/version?choice=fancy&next=/", headers={"Accept": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Unknown choice 'fancy'; expected 'basic', 'full' or 'auto'."
    )
    assert "set-cookie" not in response.headers
