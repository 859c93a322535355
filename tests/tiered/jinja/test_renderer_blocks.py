"""The renderer renders each block into one string where it is written (``_BlockTemplate``):
the text must be exactly what Jinja renders, with inheritance, ``super()``, ``self.<block>()``,
blocks in loops, and one block rendered alone as jinja2-fragments renders it."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from jinja2_fragments import render_block

from tiered.asgi.static import StaticAssets
from tiered.jinja.renderer import Renderer, _request_only

TEMPLATES = {
    "layout.html": (
        "<title>{% block title %}Site{% endblock %}</title>\n"
        "<main>{% block main %}{% endblock %}</main>\n"
        "<footer>{{ self.title() }}</footer>\n"
    ),
    "base.html": (
        '{% extends "layout.html" %}'
        "{% block title %}{{ heading }} · {{ super() }}{% endblock %}"
        "{% block main %}<h1>{{ heading }}</h1>{% block board %}{% endblock %}{% endblock %}"
    ),
    "list.html": (
        '{% extends "base.html" %}'
        "{% block board %}<ul>{% for item in items %}"
        "<li>{% block row scoped %}{{ item }}{% endblock %}</li>"
        "{% endfor %}</ul>{% block results %}{{ items|length }} <b>{{ note }}</b>{% endblock %}"
        "{% endblock %}"
    ),
}
CONTEXT = {"heading": "Tasks & more", "items": ["milk", "<script>", "eggs"], "note": "a < b"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, source in TEMPLATES.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    return tmp_path


@pytest.fixture
def renderer(folder: Path) -> Renderer:
    return Renderer([folder], StaticAssets([], "/static"), debug=False)


@pytest.fixture
def jinja(folder: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def test_a_page_is_exactly_what_jinja_renders(renderer: Renderer, jinja: Environment) -> None:
    expected = jinja.get_template("list.html").render(CONTEXT)
    assert renderer.page("list.html", CONTEXT) == expected
    assert "<title>Tasks &amp; more · Site</title>" in expected
    assert "<footer>Tasks &amp; more · Site</footer>" in expected
    assert "<li>&lt;script&gt;</li>" in expected


@pytest.mark.parametrize("block", ["board", "results"])
def test_a_block_alone_is_what_jinja2_fragments_renders_and_the_page_holds(
    renderer: Renderer, jinja: Environment, block: str
) -> None:
    expected = render_block(jinja, "list.html", block, CONTEXT)
    assert renderer.block("list.html", block, CONTEXT) == expected
    assert expected in renderer.page("list.html", CONTEXT)


def test_a_scoped_block_alone_reads_its_loop_variable_from_the_context(
    renderer: Renderer, jinja: Environment
) -> None:
    context = {**CONTEXT, "item": "<tea>"}
    expected = render_block(jinja, "list.html", "row", context)
    assert renderer.block("list.html", "row", context) == expected == "&lt;tea&gt;"


def test_every_block_renders_in_one_piece(renderer: Renderer) -> None:
    template = renderer.environment.get_template("list.html")
    context = template.new_context(dict(CONTEXT))
    pieces = list(template.blocks["board"](context))
    assert len(pieces) == 1
    assert pieces[0].startswith("<ul><li>milk</li>")


def test_a_fragment_carries_the_title_the_page_would_have(renderer: Renderer) -> None:
    layout = renderer.environment.get_template("layout.html")  # defines no document_title
    assert "document_title" not in layout.blocks
    assert renderer.fragment("list.html", "results", CONTEXT) == "3 <b>a &lt; b</b>"


def test_with_tiered_layout_a_fragment_starts_with_its_pages_title(tmp_path: Path) -> None:
    """tiered's layout names the title block; a fragment of a page two templates below it gets
    the page's title (its own block, the site's name from the middle template, "Error: " from
    its form) in a head of its own, which htmx makes the document's title."""
    (tmp_path / "base.html").write_text(
        '{% extends "tiered/layout.html" %}{% block site_name %}Shop{% endblock %}'
    )
    (tmp_path / "items.html").write_text(
        '{% extends "base.html" %}{% block title %}Items for {{ who }}{% endblock %}'
        '{% block main %}<h1>Items</h1>{% block board %}<p id="b">{{ who }}</p>{% endblock %}'
        "{% endblock %}"
    )
    renderer = Renderer([tmp_path], StaticAssets([], "/static"), debug=False)

    class Form:
        has_errors = True

    assert renderer.fragment("items.html", "board", {"who": "<Ada>"}) == (
        "<head><title>Items for &lt;Ada&gt; \N{EN DASH} Shop</title></head>"
        '<p id="b">&lt;Ada&gt;</p>'
    )
    with_errors = renderer.fragment("items.html", "board", {"who": "Ada", "form": Form()})
    assert with_errors.startswith("<head><title>Error: Items for Ada \N{EN DASH} Shop</title>")


def test_tiereds_globals_get_the_render_context_itself_in_a_loop_with_its_own_variables(
    folder: Path, renderer: Renderer
) -> None:
    """Jinja hands a ``pass_context`` global a copy of the context per call once a loop or block
    has set variables; tiered's own globals read only the request, so they get the context as it
    is, while any other global still sees the loop's variables."""
    seen: list[Context] = []

    @_request_only
    def ours(context: Context) -> str:
        seen.append(context)
        return ""

    @pass_context
    def theirs(context: Context) -> str:
        return str(context["doubled"])

    renderer.environment.globals.update(ours=ours, theirs=theirs)
    (folder / "loop.html").write_text(
        "{% for i in items %}{% set doubled = i * 2 %}{{ ours() }}{{ theirs() }},{% endfor %}",
        encoding="utf-8",
    )

    assert renderer.page("loop.html", {"items": [1, 2, 3]}) == "2,4,6,"
    assert len(seen) == 3
    assert all(context is seen[0] for context in seen)
    assert "doubled" not in seen[0]
