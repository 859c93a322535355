"""``{% cache %}``: a part of a template kept once rendered, with each response's own parts (form
guards, CSRF tokens) filled in afresh, and what cannot be kept refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from jinja2 import TemplateSyntaxError
from pydantic import BaseModel
from starlette.testclient import TestClient

import tiered
from tiered import TieredSettings
from tiered.core.errors import ImproperlyConfigured
from tiered.testing import CHROME_USER_AGENT as CHROME

SECRET = "cache-tag-test-secret-0123456789abcdef"
ROWS = (
    "<ul>{% for item in items %}"
    "{% cache item.id, item.title, mode %}"
    '<li id="item-{{ item.id }}">{{ item.title }} ({{ mode }}, {{ extra }})'
    '<form method="post" action="/items/{{ item.id }}">{{ form_guard() }}<button>Go</button></form>'
    "</li>"
    "{% endcache %}"
    "{% endfor %}</ul>"
)
UNCACHED_ROWS = ROWS.replace("{% cache item.id, item.title, mode %}", "").replace(
    "{% endcache %}", ""
)


class Item(BaseModel):
    id: int
    title: str


class Items(BaseModel):
    items: list[Item]
    mode: str = "plain"
    extra: str = "first"


def build(tmp_path: Path, templates: dict[str, str], **settings: Any) -> tuple[FastAPI, Items]:
    for name, source in templates.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    data = Items(items=[Item(id=1, title="Milk & eggs"), Item(id=2, title="<b>Bread</b>")])
    app = FastAPI()
    tiered.install(
        app,
        settings=TieredSettings(secret_key=SECRET, template_dirs=(str(tmp_path),), **settings),
    )

    @app.get("/items")
    @tiered.view("rows.html")
    async def items(request: Request) -> Items:
        return data

    return app, data


def renderer_of(app: FastAPI) -> Any:
    return app.state.tiered.renderer


def page(client: TestClient) -> str:
    response = client.get("/items", headers={"User-Agent": CHROME, "Accept": "text/html"})
    assert response.status_code == 200, response.text
    return response.text


def without_tokens(html: str) -> str:
    html = re.sub(r'name="idempotency_key" value="[0-9a-f]+"', "KEY", html)
    return re.sub(r'name="csrf_token" value="[^"]+"', "TOKEN", html)


def test_a_kept_row_is_the_markup_the_template_renders_without_the_tag(tmp_path: Path) -> None:
    (tmp_path / "cached").mkdir()
    (tmp_path / "plain").mkdir()
    cached, _ = build(tmp_path / "cached", {"rows.html": ROWS})
    plain, _ = build(tmp_path / "plain", {"rows.html": UNCACHED_ROWS})

    with TestClient(cached) as one, TestClient(plain) as other:
        first, second = page(one), page(one)
        expected = page(other)

    assert without_tokens(first) == without_tokens(expected)
    assert without_tokens(second) == without_tokens(expected)
    assert "Milk &amp; eggs" in second
    assert "&lt;b&gt;Bread&lt;/b&gt;" in second
    assert len(renderer_of(cached).fragments) == 2


def test_every_form_of_every_response_gets_its_own_key_and_the_responses_token(
    tmp_path: Path,
) -> None:
    app, _ = build(tmp_path, {"rows.html": ROWS})
    with TestClient(app) as client:
        pages = [page(client), page(client)]

    keys = [re.findall(r'name="idempotency_key" value="([0-9a-f]+)"', html) for html in pages]
    assert [len(each) for each in keys] == [2, 2]
    assert len({key for each in keys for key in each}) == 4  # never one key twice
    for html in pages:
        (token,) = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
        assert token


def test_a_kept_form_posts_like_one_rendered_afresh(tmp_path: Path) -> None:
    """The token a kept row carries is this response's: the CSRF check takes it."""
    templates = {"rows.html": ROWS}
    app, _ = build(tmp_path, templates)

    @app.post("/items/{item_id}")
    async def post(item_id: int) -> dict[str, int]:
        return {"posted": item_id}

    with TestClient(app, base_url="http://127.0.0.1") as client:
        page(client)  # kept here
        html = page(client)  # served from the store
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token is not None
        response = client.post(
            "/items/1",
            data={"csrf_token": token.group(1)},
            headers={"User-Agent": CHROME, "Origin": "http://127.0.0.1"},
        )
    assert response.status_code == 200, response.text


def test_a_value_outside_the_key_is_frozen_and_one_in_it_renders_again(tmp_path: Path) -> None:
    app, data = build(tmp_path, {"rows.html": ROWS})
    with TestClient(app) as client:
        page(client)
        data.extra = "second"  # not in the key: the kept rows still say "first"
        data.mode = "bold"  # in the key: the rows are rendered again
        data.items[0].title = "Oat milk"  # in the key
        html = page(client)

    assert "Oat milk (bold, second)" in html
    assert "&lt;b&gt;Bread&lt;/b&gt; (bold, second)" in html


def test_in_debug_mode_nothing_is_served_from_the_store(tmp_path: Path) -> None:
    app, data = build(tmp_path, {"rows.html": ROWS}, debug=True)
    with TestClient(app) as client:
        page(client)
        data.extra = "second"
        html = page(client)
    assert "Milk &amp; eggs (plain, second)" in html


def test_the_store_keeps_at_most_its_entries_and_none_at_zero(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "none").mkdir()
    app, data = build(tmp_path / "one", {"rows.html": ROWS}, fragment_cache_entries=3)
    with TestClient(app) as client:
        for title in ("a", "b", "c"):
            data.items[0].title = title
            page(client)
    assert len(renderer_of(app).fragments) == 3  # the oldest rows went first

    off, data = build(tmp_path / "none", {"rows.html": ROWS}, fragment_cache_entries=0)
    with TestClient(off) as client:
        page(client)
        data.extra = "second"
        assert "(plain, second)" in page(client)
    assert len(renderer_of(off).fragments) == 0


@pytest.mark.parametrize(
    ("inside", "name"),
    [
        ('{% if flag("anything") %}x{% endif %}', "flag"),
        ("{% for m in flash_messages() %}{{ m }}{% endfor %}", "flash_messages"),
        ('{{ version_switch_url("basic") }}', "version_switch_url"),
    ],
)
def test_a_request_global_that_cannot_be_kept_is_refused_inside_the_tag(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, inside: str, name: str
) -> None:
    app, _ = build(tmp_path, {"rows.html": f"{{% cache 1 %}}{inside}{{% endcache %}}"})
    assert_refused(app, caplog, f"{name}() was called inside a {{% cache %}} block")


def test_a_body_that_shows_the_csp_nonce_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = '{% cache 1 %}<script nonce="{{ csp_nonce }}"></script>{% endcache %}'
    app, _ = build(tmp_path, {"rows.html": source})
    assert_refused(app, caplog, "shows the response's CSP nonce")


def assert_refused(app: FastAPI, caplog: pytest.LogCaptureFixture, message: str) -> None:
    """The mistake is the developer's: a 500 for the visitor, the reason in the log."""
    with TestClient(app) as client:
        response = client.get("/items", headers={"User-Agent": CHROME, "Accept": "text/html"})
    assert response.status_code == 500
    assert message not in response.text
    errors = [record for record in caplog.records if record.exc_info]
    assert any(message in str(record.exc_info[1]) for record in errors if record.exc_info)


def test_a_block_inside_a_kept_block_keeps_its_holes_there(tmp_path: Path) -> None:
    source = (
        "{% cache 'outer', items|length %}{% for item in items %}"
        "{% cache item.id %}<p>{{ item.id }}{{ csrf_input() }}</p>{% endcache %}"
        "{% endfor %}{% endcache %}"
    )
    app, _ = build(tmp_path, {"rows.html": source})
    with TestClient(app) as client:
        pages = [page(client), page(client)]
    tokens = [set(re.findall(r'name="csrf_token" value="([^"]+)"', html)) for html in pages]
    assert [len(each) for each in tokens] == [1, 1]  # the two rows carry this response's token
    assert tokens[0] != tokens[1]  # and the second response's is its own, not the first's
    assert pages[0].count("csrf_token") == pages[1].count("csrf_token") == 2


def test_the_tag_needs_a_key(tmp_path: Path) -> None:
    app, _ = build(tmp_path, {"rows.html": "{% cache %}x{% endcache %}"})
    with pytest.raises(TemplateSyntaxError, match="cache needs a key"):
        renderer_of(app).environment.get_template("rows.html")


@pytest.mark.parametrize("entries", [-1, 1.5, "10"])
def test_the_entries_setting_is_a_whole_number(entries: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="fragment_cache_entries"):
        TieredSettings(secret_key=SECRET, fragment_cache_entries=entries)
